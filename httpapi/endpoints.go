package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"tollgate"
	"tollgate/jobs"
	"tollgate/store/record"
)

type endpointView struct {
	ID       string   `json:"id"`
	Object   string   `json:"object"`
	URL      string   `json:"url"`
	Events   []string `json:"events"`
	Disabled bool     `json:"disabled"`
	Secret   string   `json:"secret,omitempty"` // only when created or rotated
	// OldSecretUntil is when the secret a rotation replaced stops signing.
	OldSecretUntil *time.Time `json:"old_secret_until"`
	CreatedAt      time.Time  `json:"created_at"`
}

func viewEndpoint(e tollgate.Endpoint, withSecret bool) endpointView {
	types := e.Types
	if types == nil {
		types = []string{}
	}
	v := endpointView{e.ID, "webhook_endpoint", e.URL, types, e.Disabled, "", e.OldSecretUntil, e.CreatedAt}
	if withSecret {
		v.Secret = e.Secret
	}
	return v
}

// endpointReader reads webhook endpoints.
type endpointReader interface {
	EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error)
}

// endpointOf reads the endpoint of the path in tx.
func endpointOf(r *http.Request, tx endpointReader) (tollgate.Endpoint, error) {
	id := r.PathValue("id")
	e, err := tx.EndpointByID(r.Context(), id)
	if errors.Is(err, tollgate.ErrNotFound) {
		return e, tollgate.Errorf(tollgate.CodeNotFound, "webhook endpoint %q not found", id)
	}
	return e, err
}

func checkEventTypes(types []string) error {
	for _, t := range types {
		if !slices.Contains(tollgate.EventTypes, t) {
			return tollgate.FieldError("events", "unknown event type %q; known: %v", t, tollgate.EventTypes)
		}
	}
	return nil
}

// updateEndpoint changes which events an endpoint takes, or disables it
// (it is sent nothing, and queues nothing, until enabled again).
func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Events   *[]string `json:"events"`
		Disabled *bool     `json:"disabled"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	if req.Events != nil {
		if err := checkEventTypes(*req.Events); err != nil {
			return err
		}
	}
	view := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), false) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusOK, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, tx)
		if err != nil {
			return nil, err
		}
		if req.Events != nil {
			e.Types = *req.Events
		}
		if req.Disabled != nil {
			e.Disabled = *req.Disabled
		}
		if err := tx.EndpointUpdate(r.Context(), e); err != nil {
			return nil, err
		}
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.update", "", e.ID, map[string]any{"events": e.Types, "disabled": e.Disabled})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(res))
}

type deletedView struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// deleteEndpoint deletes an endpoint and what is still owed to it.
func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	view := func(v any) any { return deletedView{v.(string), "webhook_endpoint", true} }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusOK, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, tx)
		if err != nil {
			return nil, err
		}
		if err := tx.EndpointDelete(r.Context(), e.ID); err != nil {
			return nil, err
		}
		return e.ID, s.l.Audit(r.Context(), tx, "webhook_endpoint.delete", "", e.ID, map[string]any{"url": e.URL})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(res))
}

// MaxSecretOverlap is how long at most an old secret may keep signing.
const MaxSecretOverlap = 7 * 24 * time.Hour

// rotateEndpointSecret gives an endpoint a new secret, shown once; the old
// one keeps signing beside it for the overlap asked (default a day).
func (s *Server) rotateEndpointSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		OverlapSeconds *int64 `json:"overlap_seconds"`
	}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	overlap := 24 * time.Hour
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > int64(MaxSecretOverlap/time.Second) {
			return tollgate.FieldError("overlap_seconds", "must be from 0 to %d", int64(MaxSecretOverlap/time.Second))
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	now := s.l.Clock().Now()
	// The answer remembered for a repeated Idempotency-Key leaves the new
	// secret out, as a key's.
	remembered := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), false) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusOK, remembered), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, tx)
		if err != nil {
			return nil, err
		}
		e.OldSecret, e.OldSecretUntil = "", nil
		if overlap > 0 {
			until := now.Add(overlap)
			e.OldSecret, e.OldSecretUntil = e.Secret, &until
		}
		e.Secret = jobs.NewSecret()
		if err := tx.EndpointUpdate(r.Context(), e); err != nil {
			return nil, err
		}
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.rotate_secret", "", e.ID, map[string]any{"old_secret_until": e.OldSecretUntil})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewEndpoint(res.(tollgate.Endpoint), true))
}

type resendView struct {
	Object     string `json:"object"`
	EndpointID string `json:"endpoint_id"`
	Queued     int64  `json:"queued"`
}

// resendEndpoint queues again one event, or every event since a time, for
// an endpoint: each is delivered anew, with its retries.
func (s *Server) resendEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		EventID string `json:"event_id"`
		Since   string `json:"since"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	if (req.EventID == "") == (req.Since == "") {
		return tollgate.FieldError("event_id", "give event_id (one event) or since (every event from then), not both")
	}
	since, err := parseTime("since", req.Since)
	if err != nil {
		return err
	}
	if since == nil {
		since = &time.Time{}
	}
	now := s.l.Clock().Now()
	view := func(v any) any { return v }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusOK, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, tx)
		if err != nil {
			return nil, err
		}
		n, err := tx.DeliveriesResend(r.Context(), e.ID, req.EventID, *since, now)
		if err != nil {
			return nil, err
		}
		if n == 0 && req.EventID != "" {
			return nil, tollgate.Errorf(tollgate.CodeNotFound, "event %q not found for this endpoint", req.EventID)
		}
		return resendView{"resend", e.ID, n}, s.l.Audit(r.Context(), tx, "webhook_endpoint.resend", "", e.ID,
			map[string]any{"event_id": req.EventID, "since": since, "queued": n})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// createEndpoint registers a URL for outbound events. The signing secret is
// shown once.
func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.URL) > 2000 {
		return tollgate.FieldError("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return tollgate.FieldError("url", "must not carry a user name or password; the payload is signed instead")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !s.AllowPrivateWebhooks && jobs.PrivateAddress(ip) {
		return tollgate.FieldError("url", "%v", jobs.ErrPrivateAddress)
	}
	if err := checkEventTypes(req.Events); err != nil {
		return err
	}
	e := tollgate.Endpoint{ID: tollgate.NewID("we"), URL: req.URL, Secret: jobs.NewSecret(), Types: req.Events, CreatedAt: s.l.Clock().Now()}
	view := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), true) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusCreated, view), func(tx record.Tx) (any, error) {
		if err := tx.EndpointInsert(r.Context(), e); err != nil {
			return nil, err
		}
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.create", "", e.ID, map[string]any{"url": e.URL, "events": e.Types})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(res))
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, c *call) error {
	var es []tollgate.Endpoint
	err := s.l.ReadRecords(r.Context(), func(tx record.Tx) error {
		var err error
		es, err = tx.EndpointList(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	out := listView[endpointView]{Object: "list", Data: []endpointView{}}
	for _, e := range es {
		out.Data = append(out.Data, viewEndpoint(e, false))
	}
	return writeJSON(w, http.StatusOK, out)
}
