// Package httpapi serves Tollgate's JSON API under /v1: accounts, keys,
// grants, balances, holds, usage and the journal, with RFC 9457 problems,
// Idempotency-Key replay and the OpenAPI 3.1 document at /openapi.json.
package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/payment"
	"tollgate/pricing"
)

//go:embed openapi.json
var openapiDoc []byte

// Config is what a Server serves and how. cmd/tollgate builds every service
// and hands them over here; New builds none.
type Config struct {
	// Ledger keeps the books and the records; Quotes prices requests;
	// Payments sells packs. All three are required to serve requests.
	Ledger   *ledger.Ledger
	Quotes   *pricing.Quotes
	Payments *payment.Service
	Log      *slog.Logger // default slog.Default()

	// MaxBody caps request bodies, in bytes (default 64 KiB).
	MaxBody int64
	// BaseURL is where clients reach this server, for checkout links
	// (TOLLGATE_PUBLIC_URL). Without it, links use what a trusted proxy
	// forwards, else ListenURL, else the request's Host.
	BaseURL string
	// TrustedProxies are the networks of proxies whose X-Forwarded-Host
	// and X-Forwarded-Proto (and Host) are believed (TOLLGATE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// ListenURL is where the server listens, for links when neither of
	// the above applies.
	ListenURL string
	// KeyCacheTTL is how long a checked key is trusted without looking
	// again (default DefaultKeyCacheTTL).
	KeyCacheTTL time.Duration
	// AllowPrivateWebhooks lets webhook endpoints be loopback, private or
	// link-local addresses (TOLLGATE_WEBHOOKS_ALLOW_PRIVATE); refused
	// otherwise, here for addresses and at delivery for names.
	AllowPrivateWebhooks bool
}

// Server is the HTTP API. Create it with New; it is safe for concurrent use.
type Server struct {
	Config
	l   *ledger.Ledger
	log *slog.Logger
	mux *http.ServeMux

	keys   sync.Map // key hash -> cachedKey
	plans  planCache
	limits limiter
	routes []string
	public []string
}

type cachedKey struct {
	key  tollgate.APIKey
	plan string // an account key's account's plan, for Tollgate-Notice
	at   time.Time
}

// DefaultKeyCacheTTL is how long an instance trusts a key it has checked:
// the bound on how long a key revoked through another instance keeps
// working here. The instance that revokes a key refuses it at once.
const DefaultKeyCacheTTL = 10 * time.Second

// keyTouchEvery is how stale a key's last-used time may get.
const keyTouchEvery = time.Minute

// New returns a Server for c.
func New(c Config) *Server {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	s := &Server{Config: c, l: c.Ledger, log: c.Log, mux: http.NewServeMux()}
	s.register()
	return s
}

// Routes lists "METHOD /path" for every authenticated API route.
func (s *Server) Routes() []string { return s.routes }

// PublicRoutes lists the routes that need no key.
func (s *Server) PublicRoutes() []string { return s.public }

func (s *Server) register() {
	handle := func(pattern string, who access, h handler) {
		s.routes = append(s.routes, pattern)
		s.mux.Handle(pattern, s.wrap(who, h))
	}
	public := func(pattern string, h http.HandlerFunc) {
		s.public = append(s.public, pattern)
		s.mux.HandleFunc(pattern, h)
	}
	public("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s.write(w, r, []byte(`{"status":"ok"}`))
	})
	public("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s.write(w, r, openapiDoc)
	})
	handle("POST /v1/accounts", adminOnly, s.createAccount)
	handle("GET /v1/accounts", adminOnly, s.listAccounts)
	handle("GET /v1/accounts/{id}", anyKey, s.getAccount)
	handle("POST /v1/accounts/{id}", adminOnly, s.updateAccount)
	handle("POST /v1/accounts/{id}/keys", adminOnly, s.createKey)
	handle("GET /v1/accounts/{id}/keys", adminOnly, s.listKeys)
	handle("POST /v1/accounts/{id}/keys/{key_id}/revoke", adminOnly, s.revokeKey)
	handle("POST /v1/accounts/{id}/grants", adminOnly, s.createGrant)
	handle("GET /v1/accounts/{id}/balance", anyKey, s.getBalance)
	handle("GET /v1/balance", accountOnly, s.getBalance)
	handle("GET /v1/accounts/{id}/entries", anyKey, s.listEntries)
	handle("GET /v1/accounts/{id}/holds", anyKey, s.listHolds)
	handle("GET /v1/accounts/{id}/grants", anyKey, s.listGrants)
	handle("POST /v1/holds", anyKey, s.createHold)
	handle("GET /v1/holds/{id}", anyKey, s.getHold)
	handle("POST /v1/holds/{id}/capture", anyKey, s.captureHold)
	handle("POST /v1/holds/{id}/release", anyKey, s.releaseHold)
	handle("POST /v1/usage", anyKey, s.createUsage)
	handle("POST /v1/quotes", anyKey, s.createQuote)
	handle("POST /v1/plans/{plan}/versions", adminOnly, s.createPlanVersion)
	handle("POST /v1/packs", adminOnly, s.createPack)
	handle("POST /v1/prices/rules", adminOnly, s.createPriceRule)
	handle("POST /v1/webhook_endpoints", adminOnly, s.createEndpoint)
	handle("GET /v1/webhook_endpoints", adminOnly, s.listEndpoints)
	handle("POST /v1/webhook_endpoints/{id}", adminOnly, s.updateEndpoint)
	handle("DELETE /v1/webhook_endpoints/{id}", adminOnly, s.deleteEndpoint)
	handle("POST /v1/webhook_endpoints/{id}/rotate_secret", adminOnly, s.rotateEndpointSecret)
	handle("POST /v1/webhook_endpoints/{id}/resend", adminOnly, s.resendEndpoint)
	handle("POST /v1/checkout", anyKey, s.createCheckout)
	handle("GET /v1/orders/{id}", anyKey, s.getOrder)
	handle("GET /v1/orders", anyKey, s.listOrders)
	handle("POST /v1/orders/{id}/refund", adminOnly, s.refundOrder)
	handle("GET /v1/accounts/{id}/orders", anyKey, s.listOrders)
	handle("GET /v1/audit", adminOnly, s.listAudit)
	handle("GET /v1/payment_events", adminOnly, s.listPaymentEvents)
	public("GET /checkout/dev/{id}", s.devCheckout)
	public("POST /checkout/dev/{id}", s.devCheckout)
	public("GET /checkout/start", s.startCheckout)
	public("POST /checkout/start", s.startCheckout)
	public("GET /checkout/done/{id}", s.returnPage(false))
	public("GET /checkout/cancelled/{id}", s.returnPage(true))
	public("POST /v1/webhooks/stripe", s.stripeWebhook)
	public("GET /v1/plans", s.listPlans)
	handle("GET /v1/quotes/{id}", anyKey, s.getQuote)
	public("GET /v1/prices", s.getPrices)
	public("GET /v1/packs", s.getPacks)
	s.mux.HandleFunc("/", s.noRoute)
}

// ServeHTTP serves the API. Every answer carries a Request-Id, which the
// audit log records with what the request did.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := tollgate.NewID("req")
	w.Header().Set("Request-Id", id)
	s.mux.ServeHTTP(w, r.WithContext(ledger.WithActor(r.Context(), ledger.Actor{Kind: ledger.ActorSystem, RequestID: id})))
}

// noRoute answers what no route matched: 405 with Allow when the path
// exists for other methods, else 404. Matched requests never come here.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.problem(w, r, tollgate.Errorf(tollgate.CodeMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "no such endpoint: %s %s; see /openapi.json", r.Method, r.URL.Path))
}

type access int

const (
	anyKey access = iota
	adminOnly
	accountOnly
)

// call is one authenticated request.
type call struct {
	key  tollgate.APIKey
	body []byte
	idem string // Idempotency-Key, if any
}

// account returns the account the call acts on: the path's {id} for an
// admin key; for an account key, its own account (another id is not found).
func (c *call) account(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if c.key.Admin() {
		return id, nil
	}
	if id != "" && id != c.key.AccountID {
		return "", tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", id)
	}
	return c.key.AccountID, nil
}

// scope separates idempotency keys of different callers.
func (c *call) scope() string {
	if c.key.Admin() {
		return "admin:" + c.key.ID
	}
	return "account:" + c.key.AccountID
}

type handler func(w http.ResponseWriter, r *http.Request, c *call) error

func (s *Server) wrap(who access, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, plan, err := s.authenticate(r)
		if err != nil {
			s.problem(w, r, err)
			return
		}
		var vs []tollgate.PlanVersion // an account key's plan's: for its notice and its limits
		if plan != "" {
			vs = s.planVersions(r.Context())
		}
		s.notice(w, r, vs, plan)
		switch {
		case who == adminOnly && !key.Admin():
			s.problem(w, r, tollgate.Errorf(tollgate.CodeForbidden, "this needs an admin key; account keys act only on their own account"))
			return
		case who == accountOnly && key.Admin():
			s.problem(w, r, tollgate.Errorf(tollgate.CodeForbidden, "use an account key here, or /v1/accounts/{id}/... with an admin key"))
			return
		case reads(r) && !key.Can(tollgate.ScopeRead):
			s.problem(w, r, tollgate.Errorf(tollgate.CodeForbidden, "this key has no read scope; it may only write"))
			return
		case !reads(r) && !key.Can(tollgate.ScopeWrite):
			s.problem(w, r, tollgate.Errorf(tollgate.CodeForbidden, "this key is read-only: it may send GET requests only"))
			return
		}
		if !key.Admin() {
			if err := s.limits.acquire(key.ID, s.keyLimits(vs, key, plan), time.Now()); err != nil {
				s.problem(w, r, err)
				return
			}
			defer s.limits.release(key.ID)
		}
		kind := ledger.ActorAccount
		if key.Admin() {
			kind = ledger.ActorAdmin
		}
		r = r.WithContext(ledger.WithActor(r.Context(), ledger.Actor{KeyID: key.ID, Kind: kind, RequestID: ledger.ActorOf(r.Context()).RequestID}))
		c := &call{key: key}
		if r.Method == http.MethodPost {
			if c.body, err = s.readBody(w, r); err != nil {
				s.problem(w, r, err)
				return
			}
			c.idem = r.Header.Get("Idempotency-Key")
			if len(c.idem) > 255 || strings.ContainsFunc(c.idem, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				s.problem(w, r, tollgate.Errorf(tollgate.CodeInvalidField, "Idempotency-Key must be at most 255 printable ASCII characters"))
				return
			}
		}
		if err := h(w, r, c); err != nil {
			var rep *ledger.Replayed
			if errors.As(err, &rep) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(rep.Status)
				s.write(w, r, rep.Body)
				return
			}
			s.problem(w, r, err)
		}
	})
}

// reads reports whether r only reads: what a key with the read scope alone
// may send.
func reads(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

// authenticate returns the caller's key and, for an account key, its
// account's plan.
func (s *Server) authenticate(r *http.Request) (tollgate.APIKey, string, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" { // the scheme is case-insensitive (RFC 9110)
		return tollgate.APIKey{}, "", tollgate.Errorf(tollgate.CodeUnauthorized, "send your key as Authorization: Bearer <key>")
	}
	sum := sha256.Sum256([]byte(secret))
	ck := string(sum[:])
	ttl := s.KeyCacheTTL
	if ttl <= 0 {
		ttl = DefaultKeyCacheTTL
	}
	if v, ok := s.keys.Load(ck); ok {
		c := v.(cachedKey)
		if time.Since(c.at) < ttl {
			if c.key.ExpiresAt != nil && !s.l.Clock().Now().Before(*c.key.ExpiresAt) {
				return tollgate.APIKey{}, "", ledger.KeyExpired(c.key)
			}
			return c.key, c.plan, nil
		}
	}
	key, err := s.l.Authenticate(r.Context(), secret)
	if err != nil {
		s.keys.Delete(ck)
		return key, "", err
	}
	if key.Hash != nil && (key.LastUsedAt == nil || s.l.Clock().Now().Sub(*key.LastUsedAt) > keyTouchEvery) &&
		!strings.HasPrefix(key.ID, "key_env_") {
		if err := s.l.TouchKey(r.Context(), key.ID); err != nil {
			s.log.Warn("could not record a key's use", "key", key.ID, "err", err)
		}
	}
	plan := ""
	if !key.Admin() {
		a, err := s.l.Account(r.Context(), key.AccountID)
		if err != nil {
			return key, "", err
		}
		plan = a.Plan
	}
	s.keys.Store(ck, cachedKey{key: key, plan: plan, at: time.Now()})
	return key, plan, nil
}

// idempotency returns the ledger's replay identity for the call, or nil
// without an Idempotency-Key. status is the answer's status when fresh.
func (c *call) idempotency(r *http.Request, status int, view func(any) any) *ledger.Idempotency {
	if c.idem == "" {
		return nil
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(c.body)
	return &ledger.Idempotency{
		Scope: c.scope(), Key: c.idem, Hash: h.Sum(nil),
		Render: func(res any) (int, []byte) {
			b, _ := marshal(view(res))
			return status, b
		},
	}
}

// reply is writeJSON for a handler with no caller to return its error to:
// a value that does not marshal, before anything is written, is answered
// with a problem, as wrap answers the error of any other handler.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	s.write(w, r, b)
}

// write writes a response's body. Its status has been sent: an error here
// means the client has gone away, and the connection being the client's
// there is nothing to answer and nothing to undo. It is logged at debug
// level only.
func (s *Server) write(w http.ResponseWriter, r *http.Request, b []byte) {
	if _, err := w.Write(b); err != nil {
		s.unsent(r, err)
	}
}

// unsent logs a response that could not be written to the client.
func (s *Server) unsent(r *http.Request, err error) {
	s.log.Debug("response not sent: the client has gone away", "method", r.Method, "path", r.URL.Path, "err", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// page reads ?limit= (1..100, default 20) and ?cursor=.
func page(r *http.Request) (limit int, cursor string, err error) {
	limit = 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, "", tollgate.FieldError("limit", "must be a whole number from 1 to 100")
		}
		limit = n
	}
	return limit, r.URL.Query().Get("cursor"), nil
}

// marshal encodes v as JSON without escaping <, > and & (URLs stay
// readable) and without the encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
