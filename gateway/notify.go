package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"tollgate"
	"tollgate/router"
	"tollgate/store/record"
)

// notifyScan bounds the jobs a notification looks among: those due within
// two poll intervals (every running job that is not being worked on).
const notifyScan = 1000

// Notified is what a provider's notification did.
type Notified string

// What a notification can do.
const (
	NotifiedPolled  Notified = "polled"  // its job is polled now
	NotifiedIgnored Notified = "ignored" // an event about no job that waits (another event type, or a job already being looked at or done)
)

// Notify takes a notification (a webhook) from provider: verified, the
// job it is about is polled at once instead of at its next poll. Nothing
// in it is believed but the job's id: the poll says how the job stands.
// A notification that does not verify is invalid_signature; one from a
// provider that sends none is not_found.
func (s *Service) Notify(ctx context.Context, provider string, h http.Header, query url.Values, body []byte) (Notified, error) {
	n, ok := s.c.Router.Providers[provider].(router.Notifier)
	if !ok {
		return "", &tollgate.Error{Code: tollgate.CodeNotFound, Field: "provider",
			Message: fmt.Sprintf("no configured provider %q takes notifications", provider)}
	}
	now := s.c.Clock.Now()
	jobID, about, err := n.Notification(router.Callback{Header: h, Query: query, Body: body, Now: now})
	if errors.Is(err, router.ErrBadNotification) {
		return "", tollgate.Errorf(tollgate.CodeInvalidSignature, "%v", err)
	}
	if err != nil || !about {
		return NotifiedIgnored, err
	}
	var due []tollgate.Video
	err = s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		due, err = tx.VideosDue(ctx, now.Add(2*s.c.PollEvery), notifyScan)
		return err
	})
	if err != nil {
		return "", err
	}
	for _, v := range due {
		if v.Provider != provider || v.ProviderJob != jobID || v.Step != tollgate.StepPoll {
			continue
		}
		// Another step may have taken it meanwhile: its version then
		// refuses this write, and that step polls it anyway.
		if err := s.save(ctx, v, 0); err != nil && !errors.Is(err, tollgate.ErrConflict) {
			return "", err
		} else if err != nil {
			return NotifiedIgnored, nil
		}
		return NotifiedPolled, nil
	}
	return NotifiedIgnored, nil
}
