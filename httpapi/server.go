// Package httpapi serves Tollgate's JSON API under /v1: accounts, keys,
// grants, balances, holds, usage and the journal, with RFC 9457 problems,
// Idempotency-Key replay and the OpenAPI 3.1 document at /openapi.json.
package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/cameo"
	"tollgate/gateway"
	"tollgate/jobs"
	"tollgate/ledger"
	"tollgate/payment"
	"tollgate/pricing"
)

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
	// Readiness reports whether this instance should take traffic, for
	// /readyz. Without it, /readyz asks the ledger (Ledger.Health).
	Readiness func(ctx context.Context) Readiness
	// AllowPrivateWebhooks lets webhook endpoints be loopback, private or
	// link-local addresses (TOLLGATE_WEBHOOKS_ALLOW_PRIVATE); refused
	// otherwise, here for addresses and at delivery for names.
	AllowPrivateWebhooks bool

	// Videos runs video jobs; without it /v1/videos answers unavailable.
	Videos *gateway.Service
	// Cameos keeps cameos; without it /v1/cameos answers unavailable.
	Cameos *cameo.Service
	// MaxUpload caps a multipart body of /v1/videos and an image fetched
	// for one, in bytes (default DefaultMaxUpload).
	MaxUpload int64
	// Fetch reads a URL a request names (a reference image) within limit
	// bytes, refusing private addresses; default jobs.Fetch.
	Fetch func(ctx context.Context, url string, limit int64) ([]byte, error)
	// Metrics serves GET /metrics (Prometheus's text format) to admin
	// keys; without it the path answers not_found.
	Metrics http.Handler
}

// Server is the HTTP API. Create it with New; it is safe for concurrent use.
type Server struct {
	Config
	l   *ledger.Ledger
	log *slog.Logger
	mux *http.ServeMux
	// characters serves /v1/videos/characters/{character_id}, which
	// ServeMux would find in conflict with /v1/videos/{video_id}/content
	// (both match /v1/videos/characters/content): a path under
	// charactersPath goes there instead.
	characters *http.ServeMux

	keys   sync.Map // key hash -> cachedKey
	plans  planCache
	limits limiter
	routes []string
	public []string
	ops    []*op
	// openapi is the document at /openapi.json, made from ops.
	openapi []byte
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
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.Fetch == nil {
		c.Fetch = func(ctx context.Context, url string, limit int64) ([]byte, error) {
			return jobs.Fetch(ctx, jobs.NewClient(c.AllowPrivateWebhooks), url, limit)
		}
	}
	s := &Server{Config: c, l: c.Ledger, log: slog.New(requestIDs{c.Log.Handler()}), mux: http.NewServeMux(), characters: http.NewServeMux()}
	s.register()
	return s
}

// Routes lists "METHOD /path" for every authenticated API route.
func (s *Server) Routes() []string { return s.routes }

// PublicRoutes lists the routes that need no key.
func (s *Server) PublicRoutes() []string { return s.public }

func (s *Server) register() {
	const (
		accounts, grants, balances, holds, journal = "accounts", "grants", "balances", "holds", "journal"
		prices, plans, purchases, webhooks, audit  = "prices", "plans", "purchases", "webhooks", "audit"
	)
	serve(s, op{pattern: "GET /healthz", id: "getHealth", tag: "meta", summary: "Health", answer: "The server is up."},
		func(r *http.Request, in *struct{}) (healthView, error) { return healthView{"ok"}, nil })
	serve(s, op{pattern: "GET /readyz", id: "getReadiness", tag: "meta", summary: "Readiness",
		description: "For load balancers and orchestrators: 200 when this instance should take traffic, 503 (with the reasons) " +
			"while it starts, drains on SIGTERM, or cannot reach a database it can run on. /healthz is the liveness probe.",
		answer: "Ready.", also: map[int]string{http.StatusServiceUnavailable: "Not ready: reasons says why."}}, s.readyz)
	plain(s, op{pattern: "GET /openapi.json", id: "getOpenAPI", tag: "meta", summary: "This document",
		description: "The OpenAPI 3.1 description of the API, made from the handlers themselves. No key needed.",
		raw: &rawOp{responses: map[string]any{"200": map[string]any{"description": "The document.",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}}}},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			s.write(w, r, s.openapi)
		})

	plain(s, op{pattern: "GET /metrics", id: "getMetrics", tag: "meta", summary: "Metrics",
		description: "Prometheus's text format: video jobs by provider, model and outcome, attempt latencies, provider errors by kind, " +
			"circuit breakers, reconciliations, credits held and captured, provider cost, the ledger's batches and commit times, and " +
			"Go's and the process's own. An admin key is required (Prometheus: authorization: {credentials: <key>}).",
		raw: &rawOp{responses: map[string]any{
			"200": map[string]any{"description": "The metrics.", "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}},
			"401": problemResponse(http.StatusUnauthorized, []tollgate.Code{tollgate.CodeUnauthorized}),
			"403": problemResponse(http.StatusForbidden, []tollgate.Code{tollgate.CodeForbidden}),
			"404": problemResponse(http.StatusNotFound, []tollgate.Code{tollgate.CodeNotFound}),
		}}}, s.metrics)

	handle(s, op{pattern: "POST /v1/accounts", id: "createAccount", tag: accounts, who: adminOnly, status: http.StatusCreated,
		summary: "Create an account", description: "Admin key only.", answer: "Created.",
		errors: []tollgate.Code{tollgate.CodeConflict}}, s.createAccount)
	handle(s, op{pattern: "GET /v1/accounts", id: "listAccounts", tag: accounts, who: adminOnly,
		summary: "List accounts", description: "Admin key only. Ordered by id.", answer: "A page of accounts."}, s.listAccounts)
	handle(s, op{pattern: "GET /v1/accounts/{id}", id: "getAccount", tag: accounts,
		summary: "Get an account", description: "Admin key, or the account's own key.", answer: "The account."}, s.getAccount)
	handle(s, op{pattern: "POST /v1/accounts/{id}", id: "updateAccount", tag: accounts, who: adminOnly,
		summary: "Change an account", description: "Admin. Changes only the fields given.", answer: "The account."}, s.updateAccount)
	handle(s, op{pattern: "POST /v1/accounts/{id}/keys", id: "createAccountKey", tag: accounts, who: adminOnly, status: http.StatusCreated,
		summary: "Create an account key", description: "Admin key only. The secret is in this answer only, never stored; keep it.",
		answer: "Created."}, s.createKey)
	handle(s, op{pattern: "GET /v1/accounts/{id}/keys", id: "listAccountKeys", tag: accounts, who: adminOnly,
		summary: "List an account's keys", description: "Admin key only. Every key of the account, revoked ones too, by id, without secrets.",
		answer: "The keys."}, s.listKeys)
	handle(s, op{pattern: "POST /v1/accounts/{id}/keys/{key_id}/revoke", id: "revokeAccountKey", tag: accounts, who: adminOnly,
		summary: "Revoke an account key", description: "Admin key only. From the answer on, this instance refuses the key; every other instance " +
			"refuses it within 10 seconds (the time an instance trusts a key it has checked). Revoking a revoked key changes nothing.",
		answer: "Revoked."}, s.revokeKey)
	handle(s, op{pattern: "POST /v1/accounts/{id}/grants", id: "createGrant", tag: grants, who: adminOnly, status: http.StatusCreated,
		summary: "Grant credits", description: "Admin key only.", answer: "Granted.",
		errors: []tollgate.Code{tollgate.CodeConflict}}, s.createGrant)
	handle(s, op{pattern: "GET /v1/accounts/{id}/grants", id: "listAccountGrants", tag: grants,
		summary: "List an account's grants", description: "By id, a page at a time, with expiry applied as of now: " +
			"a grant past its expiry shows nothing remaining even before the sweeper moves it.", answer: "A page of grants."}, s.listGrants)
	handle(s, op{pattern: "GET /v1/accounts/{id}/balance", id: "getAccountBalance", tag: balances,
		summary: "Get an account's balance", description: "Admin key, or the account's own key. Expiries and hold timeouts are applied as of now.",
		answer: "The balance."}, s.getAccountBalance)
	handle(s, op{pattern: "GET /v1/balance", id: "getBalance", tag: balances, who: accountOnly,
		summary: "Get the caller's balance", description: "Account key only; with an admin key use /v1/accounts/{id}/balance.",
		answer: "The balance."}, s.getBalance)
	handle(s, op{pattern: "GET /v1/accounts/{id}/entries", id: "listEntries", tag: journal,
		summary: "List journal entries", description: "Admin key, or the account's own key. Oldest first. " +
			"Filters combine: an entry is listed when it passes every one given.", answer: "A page of entries."}, s.listEntries)
	handle(s, op{pattern: "GET /v1/accounts/{id}/holds", id: "listAccountHolds", tag: holds,
		summary: "List an account's holds and usages", description: "By id (oldest first), a page at a time. " +
			"A pending hold past its expiry is listed as expired, as every read sees it.", answer: "A page of holds."}, s.listHolds)
	handle(s, op{pattern: "GET /v1/accounts/{id}/orders", id: "listAccountOrders", tag: purchases,
		summary: "List an account's orders", description: "By id, a page at a time.", answer: "A page of orders, by id."}, s.listAccountOrders)

	spend := []tollgate.Code{tollgate.CodeInsufficientCredits, tollgate.CodeAccountSuspended, tollgate.CodeNotFound,
		tollgate.CodeQuoteExpired, tollgate.CodeQuoteUsed, tollgate.CodeTooManyPendingHolds}
	handle(s, op{pattern: "POST /v1/holds", id: "createHold", tag: holds, status: http.StatusCreated,
		summary: "Reserve credits", description: "Draws on the account's grants in burn-down order: today's allowance first, " +
			"then the soonest-expiring. 402 when the account cannot pay.", answer: "Held.", errors: spend}, s.createHold)
	handle(s, op{pattern: "GET /v1/holds/{id}", id: "getHold", tag: holds,
		summary: "Get a hold", description: "A pending hold past its expiry reads as expired.", answer: "The hold."}, s.getHold)
	handle(s, op{pattern: "POST /v1/holds/{id}/capture", id: "captureHold", tag: holds,
		summary: "Capture a hold", description: "Charges all of a pending hold or part of it; the rest goes back to the grants it came from. Never more than held.",
		answer: "Captured.", errors: []tollgate.Code{tollgate.CodeHoldNotPending, tollgate.CodeCaptureExceedsHold}}, s.captureHold)
	handle(s, op{pattern: "POST /v1/holds/{id}/release", id: "releaseHold", tag: holds,
		summary: "Release a hold", description: "Returns a pending hold's credits to the grants they came from " +
			"(to breakage for a grant that expired meanwhile).", answer: "Released.",
		errors: []tollgate.Code{tollgate.CodeHoldNotPending}}, s.releaseHold)
	handle(s, op{pattern: "POST /v1/usage", id: "createUsage", tag: holds, status: http.StatusCreated,
		summary: "Record usage", description: "Reserves and captures in one step, for products metered after the fact such as an LLM assistant. " +
			"402 when the account cannot pay.", answer: "Charged; the record is a hold in status captured.", errors: spend}, s.createUsage)

	handle(s, op{pattern: "POST /v1/quotes", id: "createQuote", tag: prices, status: http.StatusCreated,
		summary: "Price a job", description: "Prices a request and locks the price for 15 minutes: a hold or usage with this quote_id " +
			"reserves at most its credits. Lists the breakdown by rule, unit prices, the money equivalent at the cheapest pack, and how " +
			"the account would pay now. Unknown models, durations or sizes are 422 naming the allowed values. A video quote lists every " +
			"provider that can make it now (route), the router's choice and why; for auto, the model quoted is the router's choice. " +
			"A model no live provider makes is 400 model_unavailable with the alternatives. With cameos (or @handles in prompt), each of " +
			"another account adds its fee as a line of its own; one the account may not use is 403 cameo_not_permitted.", answer: "The quote.",
		errors: []tollgate.Code{tollgate.CodeNotFound, tollgate.CodeModelUnavailable, tollgate.CodeCameoNotPermitted}}, s.createQuote)
	handle(s, op{pattern: "GET /v1/quotes/{id}", id: "getQuote", tag: prices,
		summary: "Get a quote", description: "The quote as it was given.", answer: "The quote."}, s.getQuote)
	serve(s, op{pattern: "GET /v1/prices", id: "getPrices", tag: prices, summary: "The public price table",
		description: "Every price rule in force, with its money equivalent per pack, every scheduled change, the models and " +
			"their durations and sizes, and the packs. No key needed.", answer: "The price table."}, s.getPrices)
	handle(s, op{pattern: "POST /v1/prices/rules", id: "createPriceRule", tag: prices, who: adminOnly, status: http.StatusCreated,
		summary: "Add a price rule version", description: "Admin. Quotes use it from effective_at; until then GET /v1/prices lists it " +
			"under scheduled. Quotes already given keep their price.", answer: "The rule version.",
		errors: []tollgate.Code{tollgate.CodeConflict, tollgate.CodeNoticeRequired}}, s.createPriceRule)

	serve(s, op{pattern: "GET /v1/plans", id: "listPlans", tag: plans, summary: "Plans and their versions",
		description: "Every plan with the version in force and the versions scheduled, so a cut is visible before it applies. No key needed.",
		answer:      "The plans."}, s.listPlans)
	handle(s, op{pattern: "POST /v1/plans/{plan}/versions", id: "createPlanVersion", tag: plans, who: adminOnly, status: http.StatusCreated,
		summary: "Add a plan version", description: "Adds a version (or creates the plan). Accounts on the plan move to it at effective_at, " +
			"without a restart; until then their balance lists it under upcoming_changes and their API answers carry a Tollgate-Notice header. " +
			"A cut (a lower allowance) needs effective_at at least the notice period ahead, or force.", answer: "The new version.",
		errors: []tollgate.Code{tollgate.CodeNoticeRequired}}, s.createPlanVersion)
	s.registerSubscriptions()

	serve(s, op{pattern: "GET /v1/packs", id: "listPacks", tag: purchases, summary: "Credit packs for sale",
		description: "No key needed.", answer: "The packs."}, s.getPacks)
	handle(s, op{pattern: "POST /v1/packs", id: "putPack", tag: purchases, who: adminOnly, status: http.StatusCreated,
		summary: "Create or change a pack", description: "Admin. Orders already made keep their terms.", answer: "The pack."}, s.createPack)
	handle(s, op{pattern: "POST /v1/checkout", id: "createCheckout", tag: purchases, status: http.StatusCreated,
		summary: "Buy a pack", description: "Makes an order and starts its payment; the credits are granted once the provider confirms payment, " +
			"valid valid_for_days from then. On a server with no payment provider outside demo mode, buying is not available: a 403 forbidden.",
		answer: "The order and where to pay.", errors: []tollgate.Code{tollgate.CodeAccountSuspended, tollgate.CodeNotFound}}, s.createCheckout)
	handle(s, op{pattern: "GET /v1/orders", id: "listOrders", tag: purchases,
		summary: "List orders", description: "With an admin key, every account's orders, or one's (account_id); with an account key, its own. " +
			"By id, a page at a time.", answer: "A page of orders, by id.", errors: []tollgate.Code{tollgate.CodeNotFound}}, s.listOrders)
	handle(s, op{pattern: "GET /v1/orders/{id}", id: "getOrder", tag: purchases, summary: "Get an order", answer: "The order."}, s.getOrder)
	handle(s, op{pattern: "POST /v1/orders/{id}/refund", id: "refundOrder", tag: purchases, who: adminOnly,
		summary: "Refund an order's payment", description: "Admin. Refunds all that is left of the payment, or amount of it, through the " +
			"provider that took it (Stripe: with an idempotency key derived from the Idempotency-Key, so a retry refunds once). The credits " +
			"the refund covers are taken back as for any refund: what is unspent at once, what running jobs hold as they finish.",
		answer: "Refunded, or asked of the provider.", errors: []tollgate.Code{tollgate.CodeConflict}}, s.refundOrder)
	handle(s, op{pattern: "GET /v1/payment_events", id: "listPaymentEvents", tag: purchases, who: adminOnly,
		summary: "List payment events", description: "Admin key. Every event a payment provider sent (once its signature verified) of a type " +
			"Tollgate acts on, with what was done. matched=false lists those that concerned no order Tollgate has (a charge it did not sell, " +
			"an unknown order id) or that are not applied yet (the provider retries them): refund or look into them at the provider.",
		answer: "A page of payment events, in the order received."}, s.listPaymentEvents)
	s.checkoutPages()

	handle(s, op{pattern: "POST /v1/webhook_endpoints", id: "createWebhookEndpoint", tag: webhooks, status: http.StatusCreated, errors: []tollgate.Code{tollgate.CodeConflict},
		summary: "Register a webhook endpoint", description: "Admin key: any endpoint; an account key: its own account's. Events are kept in an outbox in the database with the change they report, " +
			"delivered signed per the Standard Webhooks specification, and retried with backoff (5 s up to a day, 12 retries) until the " +
			"endpoint answers 2xx.", answer: "The endpoint, with its secret."}, s.createEndpoint)
	handle(s, op{pattern: "GET /v1/webhook_endpoints", id: "listWebhookEndpoints", tag: webhooks,
		summary: "List webhook endpoints", description: "Admin key: any endpoint; an account key: its own account's. Secrets are not shown.", answer: "The endpoints."}, s.listEndpoints)
	handle(s, op{pattern: "POST /v1/webhook_endpoints/{id}", id: "updateWebhookEndpoint", tag: webhooks,
		summary: "Change or disable a webhook endpoint", description: "Admin key: any endpoint; an account key: its own account's. Changes the event types it takes, or disables it " +
			"(sent nothing, queues nothing) or enables it again.", answer: "The endpoint, without its secret."}, s.updateEndpoint)
	handle(s, op{pattern: "DELETE /v1/webhook_endpoints/{id}", id: "deleteWebhookEndpoint", tag: webhooks,
		summary: "Delete a webhook endpoint", description: "Admin key: any endpoint; an account key: its own account's. Deletes the endpoint and every delivery still owed to it.",
		answer: "Deleted."}, s.deleteEndpoint)
	handle(s, op{pattern: "POST /v1/webhook_endpoints/{id}/rotate_secret", id: "rotateWebhookEndpointSecret", tag: webhooks,
		summary: "Rotate a webhook endpoint's secret", description: "Admin key: any endpoint; an account key: its own account's. A new secret, shown in this answer only; the old one keeps " +
			"signing beside it for overlap_seconds (default a day), so the receiver can switch without missing an event.",
		answer: "The endpoint with its new secret."}, s.rotateEndpointSecret)
	handle(s, op{pattern: "POST /v1/webhook_endpoints/{id}/resend", id: "resendWebhookEvents", tag: webhooks,
		summary: "Send events again", description: "Admin key: any endpoint; an account key: its own account's. Queues again one event (event_id), or every event of the endpoint's types " +
			"made since a time (since), each as a new delivery with its retries.", answer: "How many deliveries were queued."}, s.resendEndpoint)

	handle(s, op{pattern: "GET /v1/audit", id: "listAudit", tag: audit, who: adminOnly,
		summary: "Read the audit log", description: "Admin key. Every admin and owner action that took effect, append-only: accounts " +
			"created and changed (plans, time zones, suspensions), keys made and revoked, grants, plan versions (with forced cuts marked), " +
			"packs, price rules (with force), webhook endpoint changes, refunds asked for and refunds applied. Each entry is written in " +
			"the transaction of the action it records. Oldest first, a page at a time.",
		answer: "A page of the audit log, oldest first: as JSON, or as CSV with format=csv."}, s.listAudit)

	s.registerVideos()
	s.registerCameos()
	s.registerPublished()
	s.registerEarnings()
	s.registerPayouts()

	s.mux.HandleFunc("/", s.noRoute)
	doc, err := marshal(s.document())
	if err != nil {
		panic("httpapi: the OpenAPI document does not marshal: " + err.Error())
	}
	s.openapi = doc
}

// OpenAPI returns the document a server serves at /openapi.json, indented.
func OpenAPI() []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, New(Config{}).openapi, "", "  "); err != nil {
		panic("httpapi: the OpenAPI document is not JSON: " + err.Error())
	}
	return b.Bytes()
}

// Readiness is what /readyz reports: ready, or the reasons it is not, and
// the last scheduled verify.
type Readiness struct {
	Ready   bool
	Reasons []string
	Verify  *VerifyResult
	Signals *Signals
}

// ReplicaSignal is how far the replica is behind the database.
type ReplicaSignal struct {
	InSync     bool   `json:"in_sync" doc:"The replica has every transaction the database has."`
	LocalTXID  uint64 `json:"local_txid"`
	RemoteTXID uint64 `json:"remote_txid"`
	Error      string `json:"error,omitempty" doc:"Why the replica's position could not be read."`
}

// Signals are what an operator watches besides readiness.
type Signals struct {
	DiskFreeBytes int64          `json:"disk_free_bytes" doc:"Free space on the data directory's disk, for the SQLite store."`
	DiskFreeRatio float64        `json:"disk_free_ratio" doc:"That space as a share of the disk, 0 to 1."`
	LastBackupAt  *time.Time     `json:"last_backup_at" doc:"When tollgate backup last wrote a backup of this data directory; null if never."`
	Warnings      []string       `json:"warnings" doc:"What needs an operator soon: a disk nearly full, no recent backup."`
	DatabaseBytes int64          `json:"database_bytes" doc:"The SQLite database's size, its WAL included."`
	Replica       *ReplicaSignal `json:"replica" doc:"The replica's position against the database's, with TOLLGATE_REPLICA_URL; null without."`
	CheckedAt     time.Time      `json:"checked_at"`
}

// VerifyResult is the outcome of a verify run.
type VerifyResult struct {
	At         time.Time `json:"at"`
	Seconds    float64   `json:"seconds" doc:"How long it took."`
	Accounts   int       `json:"accounts"`
	Grants     int       `json:"grants"`
	Holds      int       `json:"holds"`
	Violations []string  `json:"violations" doc:"What it found wrong; empty when the books balance."`
	Error      string    `json:"error,omitempty" doc:"Why it could not run, when it could not."`
}

type readyView struct {
	Status     string        `json:"status" enum:"ready,not_ready" doc:"ready: send traffic here; not_ready: do not, for the reasons listed."`
	Reasons    []string      `json:"reasons"`
	LastVerify *VerifyResult `json:"last_verify" doc:"The last scheduled verify of the books; null before the first."`
	Signals    *Signals      `json:"signals" doc:"Disk, database size and backups, for the SQLite store; null on PostgreSQL, whose server watches its own."`
}

func (readyView) doc() string {
	return "Whether this instance should take traffic: its committer runs, the database answers, this binary knows the schema, and it is not draining."
}

func (v readyView) writeAnswer(w http.ResponseWriter, status int) error {
	if v.Status != "ready" {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	return writeJSON(w, status, v)
}

func (s *Server) readyz(r *http.Request, in *struct{}) (readyView, error) {
	var rd Readiness
	if s.Readiness != nil {
		rd = s.Readiness(r.Context())
	} else if err := s.l.Health(r.Context(), 2*time.Second); err != nil {
		rd.Reasons = []string{err.Error()}
	} else {
		rd.Ready = true
	}
	v := readyView{Status: "ready", Reasons: rd.Reasons, LastVerify: rd.Verify, Signals: rd.Signals}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	if !rd.Ready {
		v.Status = "not_ready"
	}
	return v, nil
}

type healthView struct {
	Status string `json:"status" const:"ok"`
}

// ServeHTTP serves the API. Every answer carries a Request-Id, which the
// audit log records with what the request did.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := tollgate.NewID("req")
	w.Header().Set("Request-Id", id)
	w.Header().Set("X-Request-Id", id) // the name the OpenAI SDKs read
	// The mux serves it, not the handler it finds: it sets the request's
	// path values.
	s.muxOf(r).ServeHTTP(w, r.WithContext(ledger.WithActor(r.Context(), ledger.Actor{Kind: ledger.ActorSystem, RequestID: id})))
}

// charactersPath starts the paths of one character.
const charactersPath = "/v1/videos/characters/"

// muxFor returns the mux a pattern is served by.
func (s *Server) muxFor(pattern string) *http.ServeMux {
	_, path, _ := strings.Cut(pattern, " ")
	if strings.HasPrefix(path, charactersPath) {
		return s.characters
	}
	return s.mux
}

// muxOf returns the mux that serves r.
func (s *Server) muxOf(r *http.Request) *http.ServeMux {
	if strings.HasPrefix(r.URL.Path, charactersPath) {
		if _, pattern := s.characters.Handler(r); pattern != "" {
			return s.characters
		}
	}
	return s.mux
}

// handler returns the handler of r and its pattern.
func (s *Server) handler(r *http.Request) (http.Handler, string) { return s.muxOf(r).Handler(r) }

// noRoute answers what no route matched: 405 with Allow when the path
// exists for other methods, else 404. Matched requests never come here.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.handler(probe); pattern != "" && pattern != "/" {
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
	key    tollgate.APIKey
	body   []byte
	idem   string // Idempotency-Key, if any
	status int    // of the answer when it succeeds
	header http.Header
	// canonical is the body as the Idempotency-Key's hash sees it: the
	// body, or what the surface makes of it (a form's fields, not its
	// random boundary).
	canonical []byte
}

// setHeader sets a header of the answer, when it succeeds.
func (c *call) setHeader(k, v string) {
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Set(k, v)
}

// readIdempotencyKey reads the Idempotency-Key header of an operation that
// takes one.
func (c *call) readIdempotencyKey(r *http.Request) error {
	c.idem = r.Header.Get("Idempotency-Key")
	if len(c.idem) > 255 || strings.ContainsFunc(c.idem, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return &tollgate.Error{Code: tollgate.CodeInvalidField, Field: "Idempotency-Key",
			Message: "Idempotency-Key must be at most 255 printable ASCII characters"}
	}
	return nil
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

func (s *Server) wrap(o *op, h handler) http.Handler {
	who, sf := o.who, o.surfaceOf()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, plan, err := s.authenticate(r)
		if err != nil {
			s.fail(sf, w, r, err)
			return
		}
		var vs []tollgate.PlanVersion // an account key's plan's: for its notice and its limits
		if plan != "" {
			vs = s.planVersions(r.Context())
		}
		s.notice(w, r, vs, plan)
		switch {
		case who == adminOnly && !key.Admin():
			s.fail(sf, w, r, tollgate.Errorf(tollgate.CodeForbidden, "this needs an admin key; account keys act only on their own account"))
			return
		case who == accountOnly && key.Admin():
			s.fail(sf, w, r, tollgate.Errorf(tollgate.CodeForbidden, "use an account key here, or /v1/accounts/{id}/... with an admin key"))
			return
		case reads(r) && !key.Can(tollgate.ScopeRead):
			s.fail(sf, w, r, tollgate.Errorf(tollgate.CodeForbidden, "this key has no read scope; it may only write"))
			return
		case !reads(r) && !key.Can(tollgate.ScopeWrite):
			s.fail(sf, w, r, tollgate.Errorf(tollgate.CodeForbidden, "this key is read-only: it may send GET requests only"))
			return
		}
		if !key.Admin() {
			lim := s.keyLimits(vs, key, plan)
			remaining, reset, err := s.limits.acquire(key.ID, lim, time.Now())
			rateHeaders(w.Header(), lim, remaining, reset)
			if err != nil {
				s.fail(sf, w, r, err)
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
			if c.body, err = sf.read(s, w, r); err != nil {
				s.fail(sf, w, r, err)
				return
			}
			c.canonical = c.body
			if sf.canonical != nil {
				c.canonical = sf.canonical(r, c.body)
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
			s.fail(sf, w, r, err)
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
			s.log.WarnContext(r.Context(), "could not record a key's use", "key", key.ID, "err", err)
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
// without an Idempotency-Key. view renders the result as the answer.
func (c *call) idempotency(r *http.Request, view func(any) any) *ledger.Idempotency {
	if c.idem == "" {
		return nil
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(c.canonical)
	return &ledger.Idempotency{
		Scope: c.scope(), Key: c.idem, Hash: h.Sum(nil),
		Render: func(res any) (int, []byte) {
			b, _ := marshal(view(res))
			return c.status, b
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
	s.log.DebugContext(r.Context(), "response not sent: the client has gone away", "method", r.Method, "path", r.URL.Path, "err", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // a big answer's buffer is not kept
			buf.Reset()
			jsonBuffers.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, err := w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return err
}

// jsonBuffers are the buffers answers are encoded into: an answer is
// written from its buffer, which is then used again.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// contentTypeJSON is the Content-Type of a JSON answer, shared: set as a
// header's value, it is never changed.
var contentTypeJSON = []string{"application/json"}

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

// metrics serves Prometheus's metrics to an admin key.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "metrics are not served by this instance"))
		return
	}
	key, _, err := s.authenticate(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if !key.Admin() {
		s.problem(w, r, tollgate.Errorf(tollgate.CodeForbidden, "metrics need an admin key"))
		return
	}
	s.Metrics.ServeHTTP(w, r)
}

// requestIDs adds the id of the request a record is logged in (its
// X-Request-Id) as request_id, so a failure in the logs can be found from
// the answer a client got.
type requestIDs struct{ slog.Handler }

func (h requestIDs) Handle(ctx context.Context, r slog.Record) error {
	if id := ledger.ActorOf(ctx).RequestID; id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDs) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDs{h.Handler.WithAttrs(as)}
}
func (h requestIDs) WithGroup(name string) slog.Handler { return requestIDs{h.Handler.WithGroup(name)} }
