// Package jobs holds Tollgate's background services. Webhooks delivers the
// outbox's events to the registered endpoints, signed per the Standard
// Webhooks specification, retrying with backoff; several instances may run
// it against one database, each delivery being claimed by one of them.
package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"tollgate/startstop"
	"tollgate/store/record"

	"tollgate"
)

// Records reads and writes the records deliveries are kept in:
// *ledger.Ledger.
type Records interface {
	// ReadRecords runs fn in a read-only transaction.
	ReadRecords(ctx context.Context, fn func(tx record.Tx) error) error
	// WriteRecords runs fn in a write transaction, committed if fn
	// returns nil.
	WriteRecords(ctx context.Context, fn func(tx record.Tx) error) error
}

// Backoff is the wait before each retry; after the last, a delivery fails.
var Backoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour, 24 * time.Hour}

// claimLease is how long a claimed delivery waits before another instance
// may take it over (if the claimer died mid-send).
const claimLease = 2 * time.Minute

// Webhooks delivers events. Endpoints are served concurrently and apart: a
// slow or dead one holds up only its own deliveries. Start and Stop are safe
// to call twice.
type Webhooks struct {
	// Records holds the events, endpoints and deliveries: the ledger.
	Records Records
	Clock   tollgate.Clock
	Client  *http.Client // default: NewClient(AllowPrivate)
	// AllowPrivate lets endpoints reach loopback, private and link-local
	// addresses; off, they are refused when the connection is made.
	AllowPrivate bool
	// Concurrency is how many endpoints are sent to at once (default 32).
	Concurrency int
	Log         *slog.Logger
	Interval    time.Duration // default 1 s

	clientOnce sync.Once
	client     *http.Client
	semOnce    sync.Once
	sem        chan struct{}   // endpoints being sent to, up to Concurrency
	busy       map[string]bool // endpoints with a send under way; guarded by mu
	sending    sync.WaitGroup  // sends started by the background loop

	mu   sync.Mutex
	loop startstop.Loop
}

// Start delivers in the background, at once and then every Interval, until
// Stop or until ctx ends. It always returns nil.
func (w *Webhooks) Start(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Second
	}
	w.loop.Start(ctx, func(ctx context.Context) {
		defer w.sending.Wait()
		startstop.Every(ctx, interval, true, func(ctx context.Context) {
			// Rounds overlap: a slow endpoint holds up only itself.
			w.sending.Add(1)
			go func() {
				defer w.sending.Done()
				if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
					w.log().Warn("webhook deliveries: will retry", "err", err)
				}
			}()
		})
	})
	return nil
}

// Stop stops delivering and waits for sends in progress.
func (w *Webhooks) Stop() { w.loop.Stop() }

func (w *Webhooks) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

// RunOnce sends every delivery due now and returns how many succeeded,
// once every endpoint is done. Each endpoint's deliveries go in order, one
// at a time; endpoints go at once, up to Concurrency. Each delivery is
// claimed just before it is sent, so the lease that keeps other instances
// off it runs from then.
//
// An endpoint still sending from an earlier round (in the background, rounds
// overlap) is left out: a slow endpoint never holds up the others.
func (w *Webhooks) RunOnce(ctx context.Context) (int, error) {
	now := w.Clock.Now()
	var due []tollgate.Delivery
	err := w.Records.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		due, err = tx.DeliveriesDue(ctx, now, 500)
		return err
	})
	if err != nil {
		return 0, err
	}
	var order []string
	byEndpoint := map[string][]tollgate.Delivery{}
	w.mu.Lock()
	if w.busy == nil {
		w.busy = map[string]bool{}
	}
	for _, d := range due {
		if w.busy[d.EndpointID] {
			continue
		}
		if _, ok := byEndpoint[d.EndpointID]; !ok {
			order = append(order, d.EndpointID)
		}
		byEndpoint[d.EndpointID] = append(byEndpoint[d.EndpointID], d)
	}
	for _, id := range order {
		w.busy[id] = true
	}
	w.mu.Unlock()
	w.semOnce.Do(func() {
		n := w.Concurrency
		if n <= 0 {
			n = 32
		}
		w.sem = make(chan struct{}, n)
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	var errs []error
	for _, id := range order {
		wg.Go(func() {
			w.sem <- struct{}{}
			defer func() { <-w.sem }()
			k, err := w.endpoint(ctx, byEndpoint[id])
			w.mu.Lock()
			delete(w.busy, id)
			w.mu.Unlock()
			mu.Lock()
			sent += k
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// endpoint sends one endpoint's due deliveries in order; each that fails
// waits for its own next attempt.
func (w *Webhooks) endpoint(ctx context.Context, ds []tollgate.Delivery) (int, error) {
	sent := 0
	for _, d := range ds {
		var mine bool
		err := w.Records.WriteRecords(ctx, func(tx record.Tx) error {
			var err error
			mine, err = tx.DeliveryClaim(ctx, d, w.Clock.Now().Add(claimLease))
			return err
		})
		if err != nil {
			return sent, err
		}
		if !mine {
			continue
		}
		sendErr := w.send(ctx, d)
		next := time.Time{}
		if sendErr != nil && d.Attempts < len(Backoff) {
			next = w.Clock.Now().Add(Backoff[d.Attempts])
		}
		msg := ""
		if sendErr != nil {
			msg = sendErr.Error()
			w.log().Info("webhook not delivered", "event", d.Event.ID, "type", d.Event.Type, "url", d.URL, "attempt", d.Attempts+1, "err", sendErr, "retry_at", next)
		} else {
			sent++
		}
		err = w.Records.WriteRecords(ctx, func(tx record.Tx) error {
			return tx.DeliveryDone(ctx, d, sendErr == nil, next, msg)
		})
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func (w *Webhooks) send(ctx context.Context, d tollgate.Delivery) error {
	ts := w.Clock.Now().Unix()
	sig, err := Sign(d.Secret, d.Event.ID, ts, d.Event.Payload)
	if err != nil {
		return err
	}
	if d.OldSecret != "" {
		// While a rotation overlaps, both secrets sign: the specification
		// lets a header carry several signatures, space-separated.
		old, err := Sign(d.OldSecret, d.Event.ID, ts, d.Event.Payload)
		if err != nil {
			return err
		}
		sig += " " + old
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Event.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tollgate-Webhooks/1")
	req.Header.Set("webhook-id", d.Event.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	client := w.Client
	if client == nil {
		w.clientOnce.Do(func() { w.client = NewClient(w.AllowPrivate) })
		client = w.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// The answer's body is not read, only drained (up to 64 KiB) so that the
	// connection can be reused: an error draining or closing it changes
	// nothing of the delivery, which the status decides.
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return nil
}

// NewSecret returns a signing secret in the Standard Webhooks form.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// Sign returns the webhook-signature header for a message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not whsec_<base64>: %w", err)
	}
	m := hmac.New(sha256.New, key)
	_, _ = fmt.Fprintf(m, "%s.%d.", id, timestamp) // a hash's Write never returns an error
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
