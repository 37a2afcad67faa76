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
	Object   string   `json:"object" const:"webhook_endpoint"`
	URL      string   `json:"url"`
	Events   []string `json:"events"`
	Disabled bool     `json:"disabled" doc:"A disabled endpoint is sent nothing and queues nothing until enabled again; resend what it missed with /resend."`
	Secret   string   `json:"secret,omitempty" doc:"Shown when the endpoint is created and when its secret is rotated, in that answer only (not in the answer replayed for a repeated Idempotency-Key): verify deliveries with it per the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature)."` // only when created or rotated
	// OldSecretUntil is when the secret a rotation replaced stops signing.
	OldSecretUntil *time.Time `json:"old_secret_until" doc:"After a rotation, until when the previous secret also signs (webhook-signature then carries two signatures, space-separated); null otherwise."`
	CreatedAt      time.Time  `json:"created_at"`
	AccountID      string     `json:"account_id" doc:"The account whose events it gets, for an endpoint an account key registered; empty for the operator's, which gets every account's."`
}

func (endpointView) schemaName() string { return "WebhookEndpoint" }

func viewEndpoint(e tollgate.Endpoint, withSecret bool) endpointView {
	types := e.Types
	if types == nil {
		types = []string{}
	}
	v := endpointView{e.ID, "webhook_endpoint", e.URL, types, e.Disabled, "", e.OldSecretUntil, e.CreatedAt, e.AccountID}
	if withSecret {
		v.Secret = e.Secret
	}
	return v
}

// endpointReader reads webhook endpoints.
type endpointReader interface {
	EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error)
}

// endpointOf reads the endpoint of the path in tx; for an account key,
// another account's endpoint, or the operator's, is not found.
func endpointOf(r *http.Request, c *call, tx endpointReader) (tollgate.Endpoint, error) {
	id := r.PathValue("id")
	e, err := tx.EndpointByID(r.Context(), id)
	if err == nil && !c.key.Admin() && e.AccountID != c.key.AccountID {
		err = tollgate.ErrNotFound
	}
	if errors.Is(err, tollgate.ErrNotFound) {
		return e, tollgate.Errorf(tollgate.CodeNotFound, "webhook endpoint %q not found", id)
	}
	return e, err
}

// MaxAccountEndpoints is how many webhook endpoints one account may have.
const MaxAccountEndpoints = 10

// eventType is an event type, as requests name them.
type eventType string

// eventNames returns types as strings; nil stays nil (every type).
func eventNames(types []eventType) []string {
	if types == nil {
		return nil
	}
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}

// checkEventTypes refuses an unknown type, and for an account key's
// endpoint a type about no one account.
func checkEventTypes(c *call, types []string) error {
	known := tollgate.EventTypes
	if !c.key.Admin() {
		known = tollgate.AccountEventTypes
	}
	for _, t := range types {
		if !slices.Contains(known, t) {
			return tollgate.FieldError("events", "unknown event type %q; known: %v", t, known)
		}
	}
	return nil
}

// updateEndpoint changes which events an endpoint takes, or disables it
// (it is sent nothing, and queues nothing, until enabled again).
type updateEndpointRequest struct {
	Events   *[]eventType `json:"events" doc:"Empty: every event type."`
	Disabled *bool        `json:"disabled"`
}

// endpointPath is the {id} of /v1/webhook_endpoints/{id}/...
type endpointPath struct {
	ID string `path:"id" doc:"Webhook endpoint id (we_...)."`
}

func (s *Server) updateEndpoint(r *http.Request, c *call, in *struct {
	endpointPath
	Body updateEndpointRequest
}) (endpointView, error) {
	req := in.Body
	if req.Events != nil {
		if err := checkEventTypes(c, eventNames(*req.Events)); err != nil {
			return endpointView{}, err
		}
	}
	view := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), false) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, c, tx)
		if err != nil {
			return nil, err
		}
		if req.Events != nil {
			e.Types = eventNames(*req.Events)
		}
		if req.Disabled != nil {
			e.Disabled = *req.Disabled
		}
		if err := tx.EndpointUpdate(r.Context(), e); err != nil {
			return nil, err
		}
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.update", e.AccountID, e.ID, map[string]any{"events": e.Types, "disabled": e.Disabled})
	})
	if err != nil {
		return endpointView{}, err
	}
	return view(res).(endpointView), nil
}

type deletedView struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// deleteEndpoint deletes an endpoint and what is still owed to it.
func (s *Server) deleteEndpoint(r *http.Request, c *call, in *struct{ endpointPath }) (deletedView, error) {
	view := func(v any) any { return deletedView{v.(string), "webhook_endpoint", true} }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, c, tx)
		if err != nil {
			return nil, err
		}
		if err := tx.EndpointDelete(r.Context(), e.ID); err != nil {
			return nil, err
		}
		return e.ID, s.l.Audit(r.Context(), tx, "webhook_endpoint.delete", e.AccountID, e.ID, map[string]any{"url": e.URL})
	})
	if err != nil {
		return deletedView{}, err
	}
	return view(res).(deletedView), nil
}

// MaxSecretOverlap is how long at most an old secret may keep signing.
const MaxSecretOverlap = 7 * 24 * time.Hour

// rotateEndpointSecret gives an endpoint a new secret, shown once; the old
// one keeps signing beside it for the overlap asked (default a day).
type rotateSecretRequest struct {
	OverlapSeconds *int64 `json:"overlap_seconds" doc:"How long the old secret keeps signing beside the new one." minimum:"0" maximum:"604800" default:"86400"`
}

func (rotateSecretRequest) doc() string {
	return "The body may be empty."
}

func (s *Server) rotateEndpointSecret(r *http.Request, c *call, in *struct {
	endpointPath
	Body rotateSecretRequest `body:"optional"`
}) (endpointView, error) {
	req := in.Body
	overlap := 24 * time.Hour
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > int64(MaxSecretOverlap/time.Second) {
			return endpointView{}, tollgate.FieldError("overlap_seconds", "must be from 0 to %d", int64(MaxSecretOverlap/time.Second))
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	now := s.l.Clock().Now()
	// The answer remembered for a repeated Idempotency-Key leaves the new
	// secret out, as a key's.
	remembered := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), false) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, remembered), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, c, tx)
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
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.rotate_secret", e.AccountID, e.ID, map[string]any{"old_secret_until": e.OldSecretUntil})
	})
	if err != nil {
		return endpointView{}, err
	}
	return viewEndpoint(res.(tollgate.Endpoint), true), nil
}

type resendView struct {
	Object     string `json:"object" const:"resend"`
	EndpointID string `json:"endpoint_id"`
	Queued     int64  `json:"queued" doc:"Deliveries queued again, each with its retries."`
}

// resendEndpoint queues again one event, or every event since a time, for
// an endpoint: each is delivered anew, with its retries.
type resendRequest struct {
	EventID string `json:"event_id" doc:"One event to send again."`
	Since   string `json:"since" format:"date-time"`
}

func (resendRequest) doc() string {
	return "Give event_id, or since: every event of the endpoint's types made from then on is sent again."
}

func (s *Server) resendEndpoint(r *http.Request, c *call, in *struct {
	endpointPath
	Body resendRequest
}) (resendView, error) {
	req := in.Body
	if (req.EventID == "") == (req.Since == "") {
		return resendView{}, tollgate.FieldError("event_id", "give event_id (one event) or since (every event from then), not both")
	}
	since, err := parseTime("since", req.Since)
	if err != nil {
		return resendView{}, err
	}
	if since == nil {
		since = &time.Time{}
	}
	now := s.l.Clock().Now()
	view := func(v any) any { return v }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, view), func(tx record.Tx) (any, error) {
		e, err := endpointOf(r, c, tx)
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
		return resendView{"resend", e.ID, n}, s.l.Audit(r.Context(), tx, "webhook_endpoint.resend", e.AccountID, e.ID,
			map[string]any{"event_id": req.EventID, "since": since, "queued": n})
	})
	if err != nil {
		return resendView{}, err
	}
	return res.(resendView), nil
}

// createEndpoint registers a URL for outbound events. The signing secret is
// shown once.
type createEndpointRequest struct {
	URL    string      `json:"url" doc:"Absolute http or https URL, without a user name or password. It may not be, or resolve to, a loopback, private or link-local address (checked here for addresses, and for names when each delivery connects, so DNS changes cannot pass) unless the server runs with TOLLGATE_WEBHOOKS_ALLOW_PRIVATE=1. Redirects are not followed: a 3xx answer is a failed delivery. Deliveries time out after 10 s; each endpoint is sent to on its own, so a slow one delays only itself." required:"true"`
	Events []eventType `json:"events" doc:"Absent or empty: every event type."`
}

func (s *Server) createEndpoint(r *http.Request, c *call, in *struct{ Body createEndpointRequest }) (endpointView, error) {
	req := in.Body
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.URL) > 2000 {
		return endpointView{}, tollgate.FieldError("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return endpointView{}, tollgate.FieldError("url", "must not carry a user name or password; the payload is signed instead")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !s.AllowPrivateWebhooks && jobs.PrivateAddress(ip) {
		return endpointView{}, tollgate.FieldError("url", "%v", jobs.ErrPrivateAddress)
	}
	if err := checkEventTypes(c, eventNames(req.Events)); err != nil {
		return endpointView{}, err
	}
	e := tollgate.Endpoint{ID: tollgate.NewID("we"), URL: req.URL, Secret: jobs.NewSecret(), Types: eventNames(req.Events), CreatedAt: s.l.Clock().Now(),
		AccountID: c.key.AccountID}
	if !c.key.Admin() && len(e.Types) == 0 {
		e.Types = tollgate.AccountEventTypes // "every type" an account's endpoint may take
	}
	view := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), true) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, view), func(tx record.Tx) (any, error) {
		if e.AccountID != "" {
			es, err := tx.EndpointList(r.Context())
			if err != nil {
				return nil, err
			}
			if n := len(ofAccount(es, e.AccountID)); n >= MaxAccountEndpoints {
				return nil, tollgate.Errorf(tollgate.CodeConflict, "the account has %d webhook endpoints, the most it may have; delete one first", n)
			}
		}
		if err := tx.EndpointInsert(r.Context(), e); err != nil {
			return nil, err
		}
		return e, s.l.Audit(r.Context(), tx, "webhook_endpoint.create", e.AccountID, e.ID, map[string]any{"url": e.URL, "events": e.Types})
	})
	if err != nil {
		return endpointView{}, err
	}
	return view(res).(endpointView), nil
}

func (s *Server) listEndpoints(r *http.Request, c *call, in *struct{}) (listView[endpointView], error) {
	out := listView[endpointView]{Object: "list", Data: []endpointView{}}
	var es []tollgate.Endpoint
	err := s.l.ReadRecords(r.Context(), func(tx record.Tx) error {
		var err error
		es, err = tx.EndpointList(r.Context())
		return err
	})
	if err != nil {
		return out, err
	}
	if !c.key.Admin() {
		es = ofAccount(es, c.key.AccountID)
	}
	for _, e := range es {
		out.Data = append(out.Data, viewEndpoint(e, false))
	}
	return out, nil
}

// ofAccount keeps the endpoints of account.
func ofAccount(es []tollgate.Endpoint, account string) []tollgate.Endpoint {
	var out []tollgate.Endpoint
	for _, e := range es {
		if e.AccountID == account {
			out = append(out, e)
		}
	}
	return out
}
