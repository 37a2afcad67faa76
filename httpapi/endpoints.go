package httpapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"tollgate"
	"tollgate/jobs"
	"tollgate/store"
)

type endpointView struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"` // only when created
	CreatedAt time.Time `json:"created_at"`
}

func viewEndpoint(e tollgate.Endpoint, withSecret bool) endpointView {
	types := e.Types
	if types == nil {
		types = []string{}
	}
	v := endpointView{e.ID, "webhook_endpoint", e.URL, types, "", e.CreatedAt}
	if withSecret {
		v.Secret = e.Secret
	}
	return v
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
	for _, t := range req.Events {
		if !slices.Contains(tollgate.EventTypes, t) {
			return tollgate.FieldError("events", "unknown event type %q; known: %v", t, tollgate.EventTypes)
		}
	}
	e := tollgate.Endpoint{ID: tollgate.NewID("we"), URL: req.URL, Secret: jobs.NewSecret(), Types: req.Events, CreatedAt: s.l.Clock().Now()}
	view := func(v any) any { return viewEndpoint(v.(tollgate.Endpoint), true) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusCreated, view), func(tx store.Tx) (any, error) {
		return e, tx.EndpointInsert(r.Context(), e)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(res))
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, c *call) error {
	var es []tollgate.Endpoint
	err := s.l.Store().Read(r.Context(), func(tx store.Tx) error {
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
