package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"tollgate"
	"tollgate/cameo"
	"tollgate/gateway"
	"tollgate/httpapi"
	"tollgate/jobs"
	"tollgate/ledger"
	"tollgate/metrics"
	"tollgate/payment"
	"tollgate/pricing"
	"tollgate/provider/fal"
	"tollgate/provider/local"
	"tollgate/provider/luma"
	"tollgate/provider/openai"
	"tollgate/provider/replicate"
	"tollgate/provider/runway"
	"tollgate/provider/veo"
	"tollgate/router"
	"tollgate/startstop"
	"tollgate/store/dial"
	"tollgate/store/record"
	"tollgate/store/sqlite"
)

func serveCmd() *cobra.Command {
	c := newConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API (SQLite under ./data by default; nothing to set up)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return serve(ctx, c, log, cmd.OutOrStdout(), nil)
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&c.Addr, "addr", c.Addr, "address to listen on (TOLLGATE_ADDR)")
	cmd.Flags().StringVar(&c.Catalog, "catalog", c.Catalog, "price catalog file: products, models, price rules, default packs (TOLLGATE_CATALOG; default: the embedded one)")
	cmd.Flags().IntVar(&c.NoticeDays, "notice-days", c.NoticeDays, "days of notice a plan cut or a price increase needs (TOLLGATE_NOTICE_DAYS)")
	cmd.Flags().BoolVar(&c.Demo, "demo", c.Demo, "demo mode: the development checkout grants credits without payment; on by itself when listening on loopback without Stripe (TOLLGATE_DEMO=1)")
	cmd.Flags().IntVar(&c.MaxConns, "max-conns", c.MaxConns, "open connections at most; idle ones are closed first to make room (TOLLGATE_MAX_CONNS; default 4096, or half the open-files limit if lower)")
	cmd.Flags().StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated addresses or networks (CIDR) of the proxies in front of this server, whose X-Forwarded-Host and X-Forwarded-Proto are believed for links (TOLLGATE_TRUSTED_PROXIES)")
	cmd.Flags().BoolVar(&c.AllowPrivateWebhooks, "webhooks-allow-private", c.AllowPrivateWebhooks, "let webhook endpoints reach loopback, private and link-local addresses, for tests and private deployments (TOLLGATE_WEBHOOKS_ALLOW_PRIVATE=1)")
	cmd.Flags().StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL clients reach this server at, for checkout links (TOLLGATE_PUBLIC_URL; default: each request's host)")
	cmd.Flags().DurationVar(&c.VerifyEvery, "verify-every", c.VerifyEvery, "run verify in the background this often, its result in /readyz; 0 turns it off (TOLLGATE_VERIFY_EVERY)")
	cmd.Flags().StringVar(&c.ReplicaURL, "replica-url", c.ReplicaURL, "stream the SQLite database to file:///dir or s3://bucket/path as it is written (TOLLGATE_REPLICA_URL)")
	cmd.Flags().Int64Var(&c.SQLiteMaxMB, "sqlite-max-mb", c.SQLiteMaxMB, "cap the SQLite database at this many MB: past it writes answer 503 and reads go on (TOLLGATE_SQLITE_MAX_MB; 0: no cap)")
	cmd.Flags().DurationVar(&c.Drain, "drain", c.Drain, "on SIGTERM, answer /readyz with 503 for this long before refusing requests, for load balancers to notice (TOLLGATE_DRAIN)")
	cmd.Flags().StringVar(&c.AdminKey, "admin-key", c.AdminKey, "the admin keys, at least 32 characters each: new,old while rotating (TOLLGATE_ADMIN_KEY; when unset, one is generated, stored hashed and printed once)")
	return cmd
}

// MinAdminKey is the shortest admin key serve accepts.
const MinAdminKey = 32

// adminKeys splits TOLLGATE_ADMIN_KEY ("new,old" while rotating) and
// checks each key's length.
func adminKeys(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var keys []string
	for i, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if len(k) < MinAdminKey {
			return nil, fmt.Errorf("TOLLGATE_ADMIN_KEY: key %d of %d has %d characters; admin keys need at least %d (make one with: openssl rand -hex 24)",
				i+1, len(strings.Split(v, ",")), len(k), MinAdminKey)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// database is what an instance keeps of its store: the ledger alone
// reads and writes it.
type database interface {
	Kind() string
	Close() error
}

// instance is a running Tollgate: store, ledger, sweeper and HTTP server.
type instance struct {
	store database
	// newLedger makes another ledger on the instance's database (bench's
	// naive baseline).
	newLedger func(ledger.Options) *ledger.Ledger
	ledger    *ledger.Ledger
	sweeper   *ledger.Sweeper
	hooks     *jobs.Webhooks
	videos    *gateway.Service
	// stopCatalog stops watching the catalog file.
	stopCatalog func()
	http        *http.Server
	ln          net.Listener
	URL         string
	payments    string // the payment provider's name
	// reconcile stops the reconciliation of pending orders, if running.
	reconcile   func()
	health      *health
	replica     *replica // nil without TOLLGATE_REPLICA_URL
	stopVerify  func()   // stops the scheduled verify
	stopSignals func()   // stops measuring the data directory
}

// health is what /readyz reports for an instance.
type health struct {
	ledger *ledger.Ledger
	// draining is set once the instance is told to stop.
	draining atomic.Bool
	// verify is the last scheduled verify's result.
	verify atomic.Pointer[httpapi.VerifyResult]
	// signals are the data directory's last measures (SQLite only).
	signals atomic.Pointer[httpapi.Signals]
}

func (h *health) readiness(ctx context.Context) httpapi.Readiness {
	r := httpapi.Readiness{Verify: h.verify.Load(), Signals: h.signals.Load()}
	if h.draining.Load() {
		r.Reasons = append(r.Reasons, "draining: this instance is shutting down")
	}
	if err := h.ledger.Health(ctx, 2*time.Second); err != nil {
		r.Reasons = append(r.Reasons, err.Error())
	}
	r.Ready = len(r.Reasons) == 0
	return r
}

// verifyEvery runs verify every interval, keeping the last result for
// /readyz and logging what it finds.
func (inst *instance) verifyEvery(ctx context.Context, interval time.Duration, log *slog.Logger) {
	var loop startstop.Loop
	var reported []string // the violations last sent as an event
	loop.Start(ctx, func(ctx context.Context) {
		startstop.Every(ctx, interval, false, func(ctx context.Context) {
			t := time.Now()
			rep, err := inst.ledger.Verify(ctx)
			if ctx.Err() != nil {
				return
			}
			res := &httpapi.VerifyResult{At: t.UTC(), Seconds: time.Since(t).Seconds(), Accounts: rep.Accounts, Grants: rep.Grants,
				Holds: rep.Holds, Violations: []string{}}
			res.Violations = append(res.Violations, rep.Violations...)
			switch {
			case err != nil:
				res.Error = err.Error()
				log.Warn("scheduled verify could not run; trying again at the next interval", "err", err)
			case len(res.Violations) > 0:
				log.Error("scheduled verify found violations: the books do not balance; run tollgate verify and look into each",
					"violations", len(res.Violations), "first", res.Violations[0])
				if !slices.Equal(res.Violations, reported) {
					if err := inst.reportViolations(ctx, res); err != nil {
						log.Error("could not send the ledger.verify_failed event", "err", err)
					} else {
						reported = res.Violations
					}
				}
			default:
				log.Info("scheduled verify: the books balance", "accounts", rep.Accounts, "holds", rep.Holds, "seconds", res.Seconds)
				reported = nil
			}
			inst.health.verify.Store(res)
		})
	})
	inst.stopVerify = loop.Stop
}

// start opens everything and starts listening. adminShown is the generated
// admin key on a new database, "" otherwise.
func start(ctx context.Context, c *config, log *slog.Logger) (inst *instance, adminShown string, err error) {
	// Check the configuration before opening anything.
	catalog, err := pricing.Load(c.Catalog)
	if err != nil {
		return nil, "", fmt.Errorf("%w (check TOLLGATE_CATALOG)", err)
	}
	if err := c.check(); err != nil {
		return nil, "", err
	}

	var undo []func() error // what to close, in reverse, if starting fails
	fail := func(err error) (*instance, string, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
		return nil, "", err
	}
	noErr := func(f func()) func() error { return func() error { f(); return nil } }
	s, err := dial.Open(ctx, c.databaseURL())
	if err != nil {
		return nil, "", dbError(err)
	}
	var replica *replica
	log.Info("database ready", "store", s.Kind(), "url", dial.Redact(c.databaseURL()))
	undo = append(undo, s.Close)
	notice := time.Duration(c.NoticeDays) * 24 * time.Hour
	met := metrics.New()
	opt := ledger.Options{Logger: log, PlanNotice: notice, AdminKeys: c.admins, Committers: c.Committers, AccountReads: c.AccountReads,
		OnBatch: met.Batch}
	if db, ok := s.(*sqlite.DB); ok {
		// One process owns a SQLite file, so its committer may keep
		// accounts' state in memory between batches.
		if err := db.LockExclusive(); err != nil {
			return fail(err)
		}
		if c.ReplicaURL != "" {
			rep, err := startReplica(ctx, db.Path(), c.ReplicaURL, log)
			if err != nil {
				return fail(err)
			}
			replica = rep
			undo = append(undo, func() error { return rep.close(context.Background()) })
			log.Info("replicating the database", "to", c.ReplicaURL)
		}
		if c.SQLiteMaxMB > 0 {
			if err := db.LimitSize(ctx, c.SQLiteMaxMB*1_000_000); err != nil {
				return fail(fmt.Errorf("%w (raise TOLLGATE_SQLITE_MAX_MB)", err))
			}
		}
		opt.CacheState = true
	}
	l := ledger.New(s, opt)
	if adminShown, err = l.Bootstrap(ctx, ""); err != nil {
		return fail(err)
	}
	if err := l.Start(context.WithoutCancel(ctx)); err != nil { // stopped by close, after the HTTP server
		return fail(err)
	}
	undo = append(undo, noErr(l.Stop))
	met.Register(ledgerCounters(l)...)
	sw := ledger.NewSweeper(l, 5*time.Second)
	if err := sw.Start(context.WithoutCancel(ctx)); err != nil {
		return fail(err)
	}
	undo = append(undo, noErr(sw.Stop))
	proxies := c.proxies
	quotes := &pricing.Quotes{Catalog: catalog, Records: l, Clock: l.Clock(), Notice: notice}
	payments := &payment.Service{Ledger: l, Clock: l.Clock(), Defaults: catalog.DefaultPacks()}
	switch {
	case c.Stripe.SecretKey != "":
		st := payment.NewStripe(c.Stripe.SecretKey, c.Stripe.WebhookSecret, c.Stripe.APIURL, c.PublicURL)
		st.Tax = payment.TaxPolicy{Automatic: c.Stripe.Tax, Inclusive: c.Stripe.TaxInclusive, Invoices: c.Stripe.Invoices}
		st.Grace = c.Stripe.Grace
		payments.Provider = st
	case c.Demo || loopback(c.Addr):
		// Demo mode: the development checkout, which moves no money. On
		// by itself only where nobody else can reach the server.
		payments.Provider = payment.Dev{}
	}
	// Without either, nothing is sold: nobody mints credits.
	if err := payments.Seed(ctx); err != nil {
		return fail(fmt.Errorf("seed packs: %w", err))
	}
	videos, err := startVideos(ctx, c, l, quotes, catalog, met, log)
	if err != nil {
		return fail(err)
	}
	met.Register(circuits(videos.Router())...)
	if st, ok := payments.Provider.(*payment.Stripe); ok {
		// Earnings are paid out with Stripe Connect; otherwise the
		// operator pays them by hand.
		videos.Cameos().SetPayouts(cameo.PayoutConfig{Transfers: st, Onboard: st})
	}
	undo = append(undo, noErr(videos.Stop))
	cctx, stopCatalog := context.WithCancel(context.WithoutCancel(ctx))
	go watchCatalog(cctx, c, quotes, log)
	undo = append(undo, noErr(stopCatalog))
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w (set TOLLGATE_ADDR or --addr to another address)", c.Addr, err))
	}
	undo = append(undo, ln.Close)
	files := raiseFileLimit()
	maxConns := c.MaxConns
	if maxConns <= 0 {
		maxConns = 4096
		if files > 0 && files/2 < uint64(maxConns) {
			maxConns = int(files / 2) // leave room for the database and the files
		}
	}
	limit := newConnLimit(maxConns, log)
	listenURL := "http://" + ln.Addr().String()
	hl := &health{ledger: l}
	met.Register(hl.gauges()...)
	cfg := httpapi.Config{Ledger: l, Quotes: quotes, Payments: payments, Log: log, BaseURL: c.PublicURL,
		TrustedProxies: proxies, AllowPrivateWebhooks: c.AllowPrivateWebhooks, Readiness: hl.readiness, Videos: videos, Metrics: met.Handler()}
	if videos != nil {
		cfg.Cameos = videos.Cameos()
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
		cfg.ListenURL = listenURL
	} else if c.PublicURL == "" && len(proxies) == 0 {
		log.Warn("links (checkout, offers) use each request's Host header: set TOLLGATE_PUBLIC_URL to where clients reach this server, or TOLLGATE_TRUSTED_PROXIES to the proxies in front of it")
	}
	api := httpapi.New(cfg)
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ConnState:         limit.track,
	}
	log.Info("connections", "max", maxConns, "open_files_limit", files, "idle_timeout", srv.IdleTimeout)
	hooks := &jobs.Webhooks{Records: l, Clock: l.Clock(), Log: log, AllowPrivate: c.AllowPrivateWebhooks}
	if err := hooks.Start(context.WithoutCancel(ctx)); err != nil {
		return fail(fmt.Errorf("start webhook deliveries: %w", err))
	}
	provider := "none"
	if payments.Provider != nil {
		provider = payments.Provider.Name()
	}
	inst = &instance{store: s, newLedger: func(o ledger.Options) *ledger.Ledger { return ledger.New(s, o) }, ledger: l, sweeper: sw, hooks: hooks, videos: videos, stopCatalog: stopCatalog, http: srv, ln: ln, URL: listenURL, payments: provider,
		reconcile: reconcileEvery(context.WithoutCancel(ctx), payments, ReconcileEvery, log), health: hl, stopVerify: func() {}, stopSignals: func() {}, replica: replica}
	if c.VerifyEvery > 0 {
		inst.verifyEvery(context.WithoutCancel(ctx), c.VerifyEvery, log)
	}
	if db, ok := s.(*sqlite.DB); ok {
		inst.watchSignals(context.WithoutCancel(ctx), filepath.Dir(db.Path()), db.Path(), time.Minute, log)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return inst, adminShown, nil
}

// close shuts down in order: stop taking requests and wait for those in
// flight (each waits for its commit), then the sweeper, the ledger's queue
// and the database. An acknowledged write is always committed.
func (inst *instance) close(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := inst.http.Shutdown(ctx)
	inst.stopVerify()
	inst.stopSignals()
	inst.reconcile()
	inst.stopCatalog()
	inst.videos.Stop()
	inst.hooks.Stop()
	inst.sweeper.Stop()
	inst.ledger.Stop()
	// The last writes go to the replica before the database closes.
	rerr := inst.replica.close(ctx)
	return errors.Join(err, rerr, inst.store.Close())
}

func serve(ctx context.Context, c *config, log *slog.Logger, out interface{ Write([]byte) (int, error) }, ready chan<- *instance) error {
	inst, shown, err := start(ctx, c, log)
	if err != nil {
		return err
	}
	banner := &printer{w: out}
	banner.printf("Tollgate is listening on %s (store: %s)\n", inst.URL, inst.store.Kind())
	switch inst.payments {
	case "stripe":
		banner.printf("Payments: Stripe Checkout; webhooks at %s/v1/webhooks/stripe\n", inst.URL)
	case "dev":
		banner.printf("DEMO MODE: the development checkout grants credits without payment. Never expose this server; set TOLLGATE_STRIPE_SECRET_KEY and TOLLGATE_STRIPE_WEBHOOK_SECRET to sell for real\n")
		log.Warn("demo mode: the development checkout grants credits without payment")
	default:
		banner.printf("Payments: none; credits are not sold here (set TOLLGATE_STRIPE_SECRET_KEY and TOLLGATE_STRIPE_WEBHOOK_SECRET, or TOLLGATE_DEMO=1 for a demo)\n")
	}
	rt := inst.videos.Router()
	switch {
	case rt.Demo():
		banner.printf("Video: DEMO MODE, the local renderer stands in for every model (no provider is configured); each video says so (tollgate.demo)\n")
		log.Warn("video demo mode: no provider is configured; the local renderer makes every video")
	default:
		banner.printf("Video providers: %s\n", strings.Join(slices.Sorted(maps.Keys(rt.Providers)), ", "))
	}
	if !inst.videos.Media().Available() {
		banner.printf("ffmpeg and ffprobe are not installed: videos are not checked, and the local renderer serves one embedded clip (install ffmpeg)\n")
		log.Warn("ffmpeg is not installed: video output is not checked and the local renderer serves an embedded clip")
	}
	switch {
	case shown != "":
		banner.printf("Admin key (shown once, stored hashed): %s\n", shown)
		banner.printf("Try: curl -H 'Authorization: Bearer %s' %s/v1/accounts\n", shown, inst.URL)
	case c.AdminKey != "":
		banner.printf("Admin key: only those in TOLLGATE_ADMIN_KEY (stored admin keys are disabled)\n")
	default:
		banner.printf("Admin key: printed on first start; set TOLLGATE_ADMIN_KEY to add one you choose\n")
	}
	if err := banner.done(nil); err != nil {
		// The server is up and goes on serving: the banner is for the
		// operator, who must hear of a generated admin key shown nowhere.
		msg := "could not print the startup banner"
		if shown != "" {
			msg += "; the admin key generated for this new database was not shown: set TOLLGATE_ADMIN_KEY to one you choose"
		}
		log.Error(msg, "err", err)
	}
	if ready != nil {
		ready <- inst
	}
	<-ctx.Done()
	inst.health.draining.Store(true)
	if c.Drain > 0 {
		log.Info("draining: /readyz answers 503 while requests are still served", "for", c.Drain)
		time.Sleep(c.Drain)
	}
	log.Info("shutting down: finishing requests in flight")
	if err := inst.close(log); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseProxies reads TOLLGATE_TRUSTED_PROXIES: addresses or CIDR networks,
// comma-separated.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("TOLLGATE_TRUSTED_PROXIES: %q is neither an address nor a network such as 10.0.0.0/8", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ReconcileEvery is how often serve asks Stripe about pending orders whose
// webhook has not come.
const ReconcileEvery = 5 * time.Minute

// reconcileEvery runs svc.Reconcile every interval until the returned
// function is called (which waits for a run in progress).
func reconcileEvery(ctx context.Context, svc *payment.Service, interval time.Duration, log *slog.Logger) func() {
	_, stripe := svc.Provider.(*payment.Stripe)
	_, demo := svc.Provider.(payment.Dev)
	if !stripe && !demo { // demo subscriptions renew in the sweep
		return func() {}
	}
	var loop startstop.Loop
	loop.Start(ctx, func(ctx context.Context) {
		startstop.Every(ctx, interval, false, func(ctx context.Context) {
			looked, completed, err := svc.Reconcile(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("reconciling pending orders with Stripe failed; trying again later", "looked", looked, "completed", completed, "err", err)
			case completed > 0:
				log.Info("reconciled pending orders with Stripe: payments whose webhook had not come were credited", "looked", looked, "completed", completed)
			}
			looked, changed, err := svc.SweepSubscriptions(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("looking again at subscriptions past their period or grace failed; trying again later", "looked", looked, "err", err)
			case changed > 0:
				log.Info("subscriptions past their period or grace period: accounts moved to their plan", "looked", looked, "changed", changed)
			}
		})
	})
	return loop.Stop
}

// reportViolations sends a ledger.verify_failed event to the webhook
// endpoints that take it: the first violations (at most 20) and how many.
func (inst *instance) reportViolations(ctx context.Context, res *httpapi.VerifyResult) error {
	first := res.Violations[:min(20, len(res.Violations))]
	e, err := tollgate.NewEvent(tollgate.EventVerifyFailed, "", res.At, map[string]any{
		"violations": len(res.Violations), "first": first, "verified_at": res.At,
		"accounts": res.Accounts, "grants": res.Grants, "holds": res.Holds,
	})
	if err != nil {
		return err
	}
	return inst.ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.EventEnqueue(ctx, e) })
}

// startVideos starts the video gateway: the catalog's providers that are
// configured, the local renderer (standing in for every model when none
// is), and the job runner.
func startVideos(ctx context.Context, c *config, l *ledger.Ledger, quotes *pricing.Quotes, catalog *pricing.Catalog, met *metrics.Metrics, log *slog.Logger) (*gateway.Service, error) {
	renderer := local.New(c.LocalRenderTime, l.Clock())
	providers, err := upstreams(c)
	if err != nil {
		return nil, err
	}
	rt := &router.Router{
		Catalog:   quotes.File,
		Providers: providers,
		Local:     renderer,
		Clock:     l.Clock(),
		Price: func(ctx context.Context, r pricing.Request) (tollgate.Credits, error) {
			p, _, err := quotes.Price(ctx, r)
			return p.Credits, err
		},
	}
	cameos := cameo.New(cameo.Config{Ledger: l, Clock: l.Clock(), TakeBPS: c.RoyaltyTakeBPS, Notice: c.CameoFeeNotice})
	videos := gateway.New(gateway.Config{Ledger: l, Quotes: quotes, Router: rt, Cameos: cameos, LikenessToOpenAI: c.LikenessToOpenAI, Dir: filepath.Join(c.DataDir, "videos"),
		Media: gateway.FindMedia(local.Thumbnail, local.Spritesheet), Clock: l.Clock(), Log: log,
		Retention: c.VideoRetention, PollEvery: c.VideoPollEvery, RetryRefused: c.VideoRetryRefused, Lease: c.VideoLease,
		SoleRunner: !dial.IsPostgres(c.databaseURL()), Metrics: met})
	if !c.noVideoRunner {
		if err := videos.Start(context.WithoutCancel(ctx)); err != nil {
			return nil, fmt.Errorf("start the video runner: %w", err)
		}
	}
	warnOffers(rt, catalog, l.Clock().Now(), log)
	return videos, nil
}

// upstreams returns the providers configured: openai
// (TOLLGATE_OPENAI_API_KEY, TOLLGATE_OPENAI_BASE_URL), the OpenAI-compatible
// upstreams named in TOLLGATE_OPENAI_UPSTREAMS, and each provider whose key
// is set (TOLLGATE_RUNWAY_API_KEY, TOLLGATE_LUMA_API_KEY,
// TOLLGATE_REPLICATE_API_TOKEN, TOLLGATE_GEMINI_API_KEY, TOLLGATE_FAL_KEY).
func upstreams(c *config) (map[string]router.Provider, error) {
	out := map[string]router.Provider{}
	if c.OpenAIKey != "" {
		out["openai"] = openai.New(openai.Options{Name: "openai", BaseURL: c.OpenAIBaseURL, APIKey: c.OpenAIKey, WebhookSecret: c.OpenAIWebhookSecret})
	}
	for part := range strings.SplitSeq(c.OpenAIUpstreams, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, base, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || name == "local" || strings.ContainsAny(name, " /") || !strings.HasPrefix(base, "http") {
			return nil, fmt.Errorf("TOLLGATE_OPENAI_UPSTREAMS: %q is not name=https://host/v1 (a name other than local, without spaces or slashes)", part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("TOLLGATE_OPENAI_UPSTREAMS: %s is named twice", name)
		}
		env := "TOLLGATE_OPENAI_UPSTREAM_KEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		key := os.Getenv(env)
		if key == "" {
			return nil, fmt.Errorf("TOLLGATE_OPENAI_UPSTREAMS names %s: set its key in %s", name, env)
		}
		secret := os.Getenv("TOLLGATE_OPENAI_UPSTREAM_WEBHOOK_SECRET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
		out[name] = openai.New(openai.Options{Name: name, BaseURL: base, APIKey: key, WebhookSecret: secret})
	}
	adapters := map[string]router.Provider{}
	if c.RunwayKey != "" {
		adapters["runway"] = runway.New(runway.Options{BaseURL: c.RunwayBaseURL, APIKey: c.RunwayKey})
	}
	callback := func(name string) string { // where a provider calls back, when this server can be reached
		if c.PublicURL == "" {
			return ""
		}
		return strings.TrimRight(c.PublicURL, "/") + "/v1/webhooks/providers/" + name
	}
	if c.LumaKey != "" {
		adapters["luma"] = luma.New(luma.Options{BaseURL: c.LumaBaseURL, APIKey: c.LumaKey, CallbackURL: callback("luma")})
	}
	if c.ReplicateToken != "" {
		adapters["replicate"] = replicate.New(replicate.Options{BaseURL: c.ReplicateBaseURL, APIKey: c.ReplicateToken,
			CallbackURL: callback("replicate"), WebhookSecret: c.ReplicateWebhookSecret})
	}
	if c.FalKey != "" {
		adapters["fal"] = fal.New(fal.Options{QueueURL: c.FalQueueURL, APIURL: c.FalAPIURL, JWKSURL: c.FalJWKSURL, APIKey: c.FalKey, CallbackURL: callback("fal")})
	}
	if c.GeminiKey != "" {
		adapters["veo"] = veo.New(veo.Options{BaseURL: c.GeminiBaseURL, APIKey: c.GeminiKey})
	}
	for name, p := range adapters {
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("TOLLGATE_OPENAI_UPSTREAMS names %s, the name of an adapter: rename that upstream", name)
		}
		out[name] = p
	}
	return out, nil
}

// warnOffers logs each configured provider the catalog offers nothing
// live from: it would never be chosen.
func warnOffers(rt *router.Router, catalog *pricing.Catalog, now time.Time, log *slog.Logger) {
	for name := range rt.Providers {
		live, retired := 0, 0
		for _, o := range catalog.OfferList {
			if o.Provider != name {
				continue
			}
			if o.Retired(now) {
				retired++
			} else {
				live++
			}
		}
		if live == 0 {
			log.Warn("a video provider is configured but the catalog offers no live model through it: add its offers to the catalog file (TOLLGATE_CATALOG)",
				"provider", name, "retired_offers", retired)
		}
	}
}

// watchCatalog reloads the catalog file when it changes (looked at every
// c.CatalogReload, and on SIGHUP); a file that does not parse, or that
// raises a price without notice, is refused and the catalog in force stays.
func watchCatalog(ctx context.Context, c *config, quotes *pricing.Quotes, log *slog.Logger) {
	if c.Catalog == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var tick <-chan time.Time
	if c.CatalogReload > 0 {
		t := time.NewTicker(c.CatalogReload)
		defer t.Stop()
		tick = t.C
	}
	last := modTime(c.Catalog)
	for {
		select {
		case <-ctx.Done():
			signal.Stop(hup)
			return
		case <-hup:
		case <-tick:
			if m := modTime(c.Catalog); m.Equal(last) {
				continue
			}
		}
		last = modTime(c.Catalog)
		next, err := pricing.Load(c.Catalog)
		if err == nil {
			err = quotes.Reload(next)
		}
		if err != nil {
			log.Error("the catalog file was not reloaded; the catalog in force stays", "file", c.Catalog, "err", err)
			continue
		}
		log.Info("catalog reloaded", "file", c.Catalog, "models", len(next.Models), "offers", len(next.OfferList))
	}
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// ledgerCounters exposes the committer's counters, read at scrape time.
func ledgerCounters(l *ledger.Ledger) []prometheus.Collector {
	counter := func(name, help string, f func(ledger.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(l.Stats()) })
	}
	return []prometheus.Collector{
		counter("tollgate_ledger_batches_total", "Transactions the committer ran.", func(s ledger.Stats) float64 { return float64(s.Batches) }),
		counter("tollgate_ledger_operations_total", "Operations applied, retries included.", func(s ledger.Stats) float64 { return float64(s.Operations) }),
		counter("tollgate_ledger_retried_total", "Batches whose transaction failed and were applied again.", func(s ledger.Stats) float64 { return float64(s.Retried) }),
		counter("tollgate_ledger_commit_unknown_total", "Commits whose answer was lost, then looked up.", func(s ledger.Stats) float64 { return float64(s.Unknown) }),
		counter("tollgate_ledger_conflicts_total", "Operations taken out of a batch for a key taken meanwhile.", func(s ledger.Stats) float64 { return float64(s.Conflicts) }),
		counter("tollgate_ledger_busy_seconds_total", "Time spent in the committer's transactions.", func(s ledger.Stats) float64 { return s.Busy.Seconds() }),
	}
}

// circuits exposes each configured provider's circuit: 1 open (left out
// of routing for now), 0 closed.
func circuits(rt *router.Router) []prometheus.Collector {
	var out []prometheus.Collector
	for _, name := range slices.Sorted(maps.Keys(rt.Providers)) {
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tollgate_provider_circuit_open", Help: "1 while a provider's circuit breaker is open.",
			ConstLabels: prometheus.Labels{"provider": name}}, func() float64 {
			if rt.Healthy(name) {
				return 0
			}
			return 1
		}))
	}
	return out
}

// gauges exposes the operations signals /readyz shows, read at scrape
// time from the last measures: NaN where nothing was measured yet (the
// signals are SQLite's; PostgreSQL's server watches its own).
func (h *health) gauges() []prometheus.Collector {
	nan := math.NaN()
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	signal := func(f func(*httpapi.Signals) float64) func() float64 {
		return func() float64 {
			if s := h.signals.Load(); s != nil {
				return f(s)
			}
			return nan
		}
	}
	return []prometheus.Collector{
		gauge("tollgate_ready", "1 while this instance should take traffic (as /readyz).", func() float64 {
			if h.draining.Load() {
				return 0
			}
			return 1
		}),
		gauge("tollgate_disk_free_bytes", "Free space on the data directory's disk (SQLite).", signal(func(s *httpapi.Signals) float64 { return float64(s.DiskFreeBytes) })),
		gauge("tollgate_disk_free_ratio", "That space as a share of the disk.", signal(func(s *httpapi.Signals) float64 { return s.DiskFreeRatio })),
		gauge("tollgate_database_bytes", "The SQLite database's size, its WAL included.", signal(func(s *httpapi.Signals) float64 { return float64(s.DatabaseBytes) })),
		gauge("tollgate_last_backup_timestamp_seconds", "When tollgate backup last wrote a backup of the data directory (0: never).", signal(func(s *httpapi.Signals) float64 {
			if s.LastBackupAt == nil {
				return 0
			}
			return float64(s.LastBackupAt.Unix())
		})),
		gauge("tollgate_replica_in_sync", "1 while the replica has every transaction the database has (with TOLLGATE_REPLICA_URL).", signal(func(s *httpapi.Signals) float64 {
			switch {
			case s.Replica == nil:
				return nan
			case s.Replica.InSync:
				return 1
			}
			return 0
		})),
		gauge("tollgate_verify_violations", "Violations the last scheduled verify found (NaN before the first).", func() float64 {
			if v := h.verify.Load(); v != nil {
				return float64(len(v.Violations))
			}
			return nan
		}),
	}
}
