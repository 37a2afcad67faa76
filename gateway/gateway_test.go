package gateway_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/ledger"
	"tollgate/metrics"
	"tollgate/pricing"
	"tollgate/provider/local"
	"tollgate/provider/openai"
	"tollgate/provider/openai/openaitest"
	"tollgate/router"
	"tollgate/store"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/record"
	"tollgate/store/sqlite"
)

type storeCase struct {
	name string
	open func(testing.TB) store.Store
}

var storeCases = []storeCase{{"sqlite", openSQLite}, {"postgres", openPostgres}}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set; set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run against PostgreSQL")
	}
	db, cleanup, err := pgtest.OpenSchema(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return db
}

// env is a gateway on a fresh store with an account holding 100 credits.
type env struct {
	t   *testing.T
	s   store.Store
	l   *ledger.Ledger
	gw  *gateway.Service
	r   *router.Router
	ctx context.Context
	dir string
}

type envOptions struct {
	providers    map[string]router.Provider
	local        router.Provider
	catalog      *pricing.Catalog
	deadline     time.Duration
	retryBase    time.Duration
	lease        time.Duration
	retryRefused bool
	noMedia      bool          // as on a machine without ffmpeg
	pollEvery    time.Duration // default 20 ms
	metrics      *metrics.Metrics
}

func newEnv(t *testing.T, open func(testing.TB) store.Store, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	s := open(t)
	l := ledger.New(s, ledger.Options{})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if o.catalog == nil {
		o.catalog = pricing.Default()
	}
	q := &pricing.Quotes{Catalog: o.catalog, Records: l, Clock: tollgate.SystemClock{}}
	r := &router.Router{Catalog: func() *pricing.Catalog { return o.catalog }, Providers: o.providers, Local: o.local, Clock: tollgate.SystemClock{},
		BreakerOpen: 200 * time.Millisecond,
		Price: func(ctx context.Context, r pricing.Request) (tollgate.Credits, error) {
			p, _, err := q.Price(ctx, r)
			return p.Credits, err
		}}
	if r.Providers == nil {
		r.Providers = map[string]router.Provider{}
	}
	dir := filepath.Join(t.TempDir(), "videos")
	media := gateway.FindMedia(local.Thumbnail, local.Spritesheet)
	if o.noMedia {
		media = gateway.Media{FallbackThumbnail: local.Thumbnail, FallbackSpritesheet: local.Spritesheet}
	}
	if o.lease == 0 {
		o.lease = 30 * time.Second // a loaded machine renders slowly; a step that runs out of lease is done again
	}
	gw := gateway.New(gateway.Config{Ledger: l, Quotes: q, Router: r, Dir: dir, Clock: tollgate.SystemClock{},
		Media: media, PollEvery: cmp.Or(o.pollEvery, 20*time.Millisecond), Lease: o.lease, Deadline: o.deadline,
		RetryBase: o.retryBase, RetryRefused: o.retryRefused, Metrics: o.metrics})
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, l: l, gw: gw, r: r, ctx: ctx, dir: dir}
	t.Cleanup(func() {
		gw.Stop()
		l.Stop()
		rep, err := l.Verify(context.Background())
		if err != nil || len(rep.Violations) > 0 {
			t.Errorf("verify: %v %+v", err, rep)
		}
	})
	if err := s.Write(ctx, func(tx store.Tx) error { // a plan with no allowance: balances are the grant's
		return tx.PlanVersionInsert(ctx, tollgate.PlanVersion{Plan: "none", Version: 1, EffectiveAt: time.Unix(0, 0).UTC(),
			Allowances: map[tollgate.Product]tollgate.Credits{}, CreatedAt: time.Now().UTC()})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "acme", Name: "Acme", Plan: "none"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: "acme", Credits: tollgate.WholeCredits(100), Source: tollgate.SourcePromo}); err != nil {
		t.Fatal(err)
	}
	return e
}

// wait polls v until it is completed or failed.
func (e *env) wait(id string) tollgate.Video {
	e.t.Helper()
	return e.waitFor(id, 30*time.Second)
}

func (e *env) waitFor(id string, d time.Duration) tollgate.Video {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		v, err := e.gw.Get(e.ctx, id, "acme")
		if err != nil {
			e.t.Fatal(err)
		}
		if v.Status.Final() {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("video %s did not finish in %s", id, d)
	return tollgate.Video{}
}

func (e *env) balance() ledger.Balance {
	e.t.Helper()
	b, err := e.l.Balance(e.ctx, "acme")
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func forEachStore(t *testing.T, fn func(t *testing.T, open func(testing.TB) store.Store)) {
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, sc.open)
		})
	}
}

// TestLocalRenderEndToEnd: in demo mode the local renderer makes a real
// clip of what was asked; the job completes with the whole hold captured
// in the transaction that completes it, and its content, thumbnail and
// spritesheet are stored.
func TestLocalRenderEndToEnd(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, envOptions{local: local.New(50*time.Millisecond, tollgate.SystemClock{})})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a lighthouse at dusk, waves", Model: "sora-2", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != tollgate.VideoQueued || v.Held != tollgate.Credits(400_000) || !v.Demo {
			t.Fatalf("created %+v: want queued, 0.4 credits held, demo", v)
		}
		if b := e.balance(); b.Held != v.Held {
			t.Fatalf("held %s, want %s", b.Held, v.Held)
		}
		done := e.wait(v.ID)
		if done.Status != tollgate.VideoCompleted || done.Charged != v.Held || done.Progress != 100 {
			t.Fatalf("finished %+v: want completed, the hold charged", done)
		}
		if b := e.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100)-v.Held {
			t.Fatalf("balance %+v after completion", b)
		}
		if done.ExpiresAt == nil || done.CompletedAt == nil || done.Provider != "local" || len(done.Attempts) != 1 || done.Attempts[0].Outcome != "completed" {
			t.Fatalf("finished %+v: want expiry, completion, one completed local attempt", done)
		}
		if !e.gw.Media().Available() {
			t.Skip("ffmpeg is not installed: the content checks need it (.ci/run installs it)")
		}
		if done.DeliveredSize != "1280x720" || done.DeliveredSeconds < 3.9 || done.DeliveredSeconds > 4.1 {
			t.Errorf("delivered %v s at %s, want 4 s at 1280x720", done.DeliveredSeconds, done.DeliveredSize)
		}
		for variant, ct := range map[string]string{"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"} {
			path, got, err := e.gw.Content(e.ctx, v.ID, "acme", variant)
			if err != nil || got != ct {
				t.Fatalf("content %s: %s %s %v", variant, path, got, err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() < 100 {
				t.Errorf("content %s: %v %v", variant, fi, err)
			}
		}
		if _, _, err := e.gw.Content(e.ctx, v.ID, "other", "video"); tollgate.ErrorCode(err) != tollgate.CodeNotFound {
			t.Errorf("another account's content: got %v, want not found", err)
		}
	})
}

// fake is a scripted provider: each submit pops the next outcome.
type fake struct {
	name string
	mu   sync.Mutex
	// submits are the answers to successive submits: nil starts a job.
	submits []error
	// status is the state a started job reports.
	status  router.Status
	started []router.Job
	lost    map[string]bool // submits whose answer is lost but which started (by video id)
}

func (f *fake) Name() string { return f.name }
func (f *fake) Submit(_ context.Context, j router.Job) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if len(f.submits) > 0 {
		err, f.submits = f.submits[0], f.submits[1:]
	}
	var pe *router.Error
	if errors.As(err, &pe) && pe.Kind == router.Unknown && f.lost != nil {
		f.lost[j.VideoID] = true
		f.started = append(f.started, j)
		return "", err
	}
	if err != nil {
		return "", err
	}
	f.started = append(f.started, j)
	return f.name + "_" + j.VideoID, nil
}
func (f *fake) Status(context.Context, string) (router.Status, error) { return f.status, nil }
func (f *fake) Fetch(_ context.Context, _ string, w io.Writer) error {
	_, err := w.Write(local.Clip)
	return err
}
func (f *fake) Cancel(context.Context, string) error { return router.ErrCannotCancel }

// recon is a fake that can reconcile.
type recon struct{ *fake }

func (r recon) Reconcile(_ context.Context, j router.Job) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost[j.VideoID] {
		return r.name + "_" + j.VideoID, true, nil
	}
	return "", false, nil
}

// twoProviders is a catalog where sora-2 is offered by "cheap" then
// "dear", both at every size and duration sora-2 makes.
func twoProviders(t *testing.T) *pricing.Catalog {
	t.Helper()
	c := pricing.Default()
	var offers []pricing.Offer
	for i, name := range []string{"cheap", "dear"} {
		offers = append(offers, pricing.Offer{Provider: name, Model: "sora-2", UpstreamModel: "s2", Durations: []int{4, 8, 12},
			Sizes: []string{"720x1280", "1280x720"}, Cost: []pricing.Cost{{Amount: int64(10 + 10*i), Currency: "usd", PerSeconds: 1}},
			CostAsOf: "2026-12-01", Source: "test", ExpectedSeconds: 1})
	}
	c.OfferList = offers
	return c
}

// TestRouterFallbackAndRefusal: a terminal failure at the cheapest
// provider falls back to the next; retryable ones are retried; a
// content-policy refusal fails the job, releases it and tries no one
// else; every job ends charged or released.
func TestRouterFallbackAndRefusal(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		cheap := &fake{name: "cheap", status: done, submits: []error{
			&router.Error{Kind: router.Retryable, Code: "rate_limited", RetryAfter: 10 * time.Millisecond}, // job 1: retried...
			nil, // ...and started
			&router.Error{Kind: router.Terminal, Code: "unsupported", Message: "no"},                      // job 2: falls back to dear
			&router.Error{Kind: router.Refused, Code: "moderation_blocked", Message: "refused by policy"}, // job 3
		}}
		dear := &fake{name: "dear", status: done}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap, "dear": dear}, catalog: twoProviders(t)})
		run := func() tollgate.Video {
			v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
			if err != nil {
				t.Fatal(err)
			}
			return e.wait(v.ID)
		}
		first := run()
		if first.Status != tollgate.VideoCompleted || first.Provider != "cheap" || len(first.Attempts) != 2 || first.Charged != first.Held {
			t.Errorf("retried job: %+v; want completed at cheap after 2 attempts, charged in full", first)
		}
		second := run()
		if second.Status != tollgate.VideoCompleted || second.Provider != "dear" || second.Charged != second.Held {
			t.Errorf("fallback job: %+v; want completed at dear", second)
		}
		third := run()
		if third.Status != tollgate.VideoFailed || third.ErrorCode != string(tollgate.CodeModerationBlocked) || third.Charged != 0 || len(third.Attempts) != 1 {
			t.Errorf("refused job: %+v; want failed moderation_blocked, nothing charged, one attempt", third)
		}
		if len(dear.started) != 1 {
			t.Errorf("dear started %d jobs, want 1 (the fallback only)", len(dear.started))
		}
		if b := e.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100)-first.Charged-second.Charged {
			t.Errorf("balance %+v", b)
		}
	})
}

// TestUnknownSubmitOutcome: a submit whose answer is lost is never sent
// again. A provider that can reconcile finds the job and it completes,
// charged once; one that cannot fails the job and releases it.
func TestUnknownSubmitOutcome(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		lost := &router.Error{Kind: router.Unknown, Code: "timeout", Message: "the answer was lost"}
		found := &fake{name: "cheap", status: done, submits: []error{lost}, lost: map[string]bool{}}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": recon{found}}, catalog: twoProviders(t)})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(v.ID)
		if got.Status != tollgate.VideoCompleted || got.Charged != got.Held || len(found.started) != 1 || got.ProviderJob != "cheap_"+v.ID {
			t.Errorf("reconciled job: %+v, %d submits; want completed once at cheap", got, len(found.started))
		}

		blind := &fake{name: "cheap", status: done, submits: []error{lost}, lost: map[string]bool{}}
		dear := &fake{name: "dear", status: done}
		e2 := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": blind, "dear": dear}, catalog: twoProviders(t)})
		v2, err := e2.gw.Create(e2.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		got2 := e2.wait(v2.ID)
		if got2.Status != tollgate.VideoFailed || got2.Charged != 0 || len(dear.started) != 0 || got2.ErrorCode != "provider_outcome_unknown" {
			t.Errorf("unreconcilable job: %+v; want failed, released, never sent to dear", got2)
		}
		if a := got2.Attempts[len(got2.Attempts)-1]; a.Outcome != "unknown" || a.Cost.Amount == 0 {
			t.Errorf("attempt %+v: want outcome unknown with the possible cost kept", a)
		}
		if b := e2.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100) {
			t.Errorf("balance %+v, want all 100 back", b)
		}
	})
}

// upstreamCatalog offers sora-2 through the upstream "up" only.
func upstreamCatalog(t *testing.T) *pricing.Catalog {
	t.Helper()
	c := pricing.Default()
	c.OfferList = []pricing.Offer{{Provider: "up", Model: "sora-2", UpstreamModel: "sora-2", Durations: []int{4, 8, 12},
		Sizes: []string{"720x1280", "1280x720"}, Features: []string{pricing.FeatureRemix, pricing.FeatureEdit, pricing.FeatureExtend},
		Cost: []pricing.Cost{{Amount: 10, Currency: "usd", PerSeconds: 1}}, CostAsOf: "2026-12-01", Source: "test", ExpectedSeconds: 1}}
	return c
}

// TestChaosUpstream sends jobs to an OpenAI-compatible upstream that fails
// 30% of its requests: 5xx, 429, hangs past the client's timeout,
// malformed answers, and creates that succeed but whose answer is lost.
// Every job ends completed and charged what was held, or failed and
// released; no upstream video is made twice for a job; verify is clean
// (checked when the test ends).
func TestChaosUpstream(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		up := openaitest.New(30*time.Millisecond, openaitest.Chaos{Rate: 0.3, Hang: 400 * time.Millisecond, Seed: 7})
		defer up.Close()
		client := openai.New(openai.Options{Name: "up", BaseURL: up.URLv1(), APIKey: openaitest.Key, Timeout: 150 * time.Millisecond})
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"up": client}, catalog: upstreamCatalog(t), retryBase: 10 * time.Millisecond,
			lease: 30 * time.Second})
		const jobs = 16
		var ids []string
		for i := range jobs {
			v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: fmt.Sprintf("chaos job %d", i), Seconds: 4, Size: "1280x720"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, v.ID)
		}
		var completed, failed int
		var charged tollgate.Credits
		codes := map[string]int{}
		for i, id := range ids {
			v := e.waitFor(id, 90*time.Second)
			made := up.Creates(fmt.Sprintf("chaos job %d", i))
			switch {
			case made > 1:
				t.Errorf("job %d: the upstream made %d videos for it", i, made)
			case v.Status == tollgate.VideoCompleted:
				completed++
				if v.Charged != v.Held || made != 1 {
					t.Errorf("job %d completed: charged %s of %s, %d upstream videos; want the hold, one video", i, v.Charged, v.Held, made)
				}
			default:
				failed++
				if v.Charged != 0 {
					t.Errorf("job %d failed (%s) but charged %s", i, v.ErrorCode, v.Charged)
				}
			}
			charged += v.Charged
			if v.Status == tollgate.VideoFailed {
				codes[v.ErrorCode]++
			}
		}
		if b := e.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100)-charged {
			t.Errorf("balance %+v, want nothing held and 100 less %s charged", b, charged)
		}
		t.Logf("%d jobs: %d completed, %d failed and released %v; failures injected: %v", jobs, completed, failed, codes, up.Failures())
		if completed == 0 {
			t.Error("no job completed: the test proves nothing")
		}
	})
}

// TestRemixGoesToTheSourcesProvider: a remix is sent to the provider that
// made its source, whose ids mean something to it alone, even when another
// is cheaper; it carries the source's id there.
func TestRemixGoesToTheSourcesProvider(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		cheap, dear := &fake{name: "cheap", status: done}, &fake{name: "dear", status: done}
		c := twoProviders(t)
		for i := range c.OfferList {
			c.OfferList[i].Features = []string{pricing.FeatureRemix}
		}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap, "dear": dear}, catalog: c})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720",
			Constraints: tollgate.VideoConstraints{Providers: []string{"dear"}}})
		if err != nil {
			t.Fatal(err)
		}
		src := e.wait(v.ID)
		if src.Provider != "dear" {
			t.Fatalf("source made by %s", src.Provider)
		}
		r, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Kind: tollgate.VideoRemix, SourceID: v.ID, Prompt: "the fox at night"})
		if err != nil {
			t.Fatal(err)
		}
		remix := e.wait(r.ID)
		if remix.Provider != "dear" || len(dear.started) != 2 || dear.started[1].SourceJob != src.ProviderJob || len(cheap.started) != 0 {
			t.Errorf("remix made by %s; dear started %+v, cheap %d", remix.Provider, dear.started, len(cheap.started))
		}
	})
}

// TestRetryRefused: an operator who allows it has a refused video sent to
// the next candidate; it is charged once, by what was held.
func TestRetryRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		cheap := &fake{name: "cheap", status: done, submits: []error{&router.Error{Kind: router.Refused, Code: "moderation_blocked", Message: "no"}}}
		dear := &fake{name: "dear", status: done}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap, "dear": dear}, catalog: twoProviders(t), retryRefused: true})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(v.ID)
		if got.Status != tollgate.VideoCompleted || got.Provider != "dear" || got.Charged != got.Held || len(got.Attempts) != 2 || got.Attempts[0].Outcome != "refused" {
			t.Errorf("got %+v; want completed at dear after cheap refused it", got)
		}
	})
}

// TestExtensionFromLastFrame: the provider that made a video cannot extend
// it, so the extension is made as a clip of its own from the video's last
// frame, by a provider that takes an image, and joined to it.
func TestExtensionFromLastFrame(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		cheap, dear := &fake{name: "cheap", status: done}, &fake{name: "dear", status: done}
		c := twoProviders(t)
		for i := range c.OfferList {
			c.OfferList[i].Features = []string{pricing.FeatureImage} // neither extends
		}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap, "dear": dear}, catalog: c})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 4, Size: "1280x720",
			Constraints: tollgate.VideoConstraints{Providers: []string{"dear"}}})
		if err != nil {
			t.Fatal(err)
		}
		if src := e.wait(v.ID); src.Status != tollgate.VideoCompleted {
			t.Fatalf("source %+v", src)
		}
		x, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Kind: tollgate.VideoExtend, SourceID: v.ID, Prompt: "it runs on", Seconds: 4})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(x.ID)
		if got.Status != tollgate.VideoCompleted || !got.FromFrame || got.Provider != "cheap" || got.Seconds != 8 || got.DeliveredSeconds < 7.9 || got.Charged != got.Held {
			t.Fatalf("extension %+v: want 8 s made by cheap from the last frame, charged the hold", got)
		}
		if len(cheap.started) != 1 || cheap.started[0].Kind != tollgate.VideoCreate || !strings.HasSuffix(cheap.started[0].Input, "lastframe.png") {
			t.Errorf("cheap was asked %+v, want a clip from the frame", cheap.started)
		} else if b, err := os.ReadFile(cheap.started[0].Input); err != nil || http.DetectContentType(b) != "image/png" {
			t.Errorf("the frame sent: %v, %d bytes", err, len(b))
		}
	})
}

// TestWithoutFFmpeg: on a machine without ffmpeg the whole flow still
// runs: the local renderer serves its embedded clip, stored as sent with
// the embedded thumbnail and spritesheet, and charged as asked.
func TestWithoutFFmpeg(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		r := local.New(0, tollgate.SystemClock{})
		r.FFmpeg = ""
		e := newEnv(t, open, envOptions{local: r, noMedia: true})
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Model: "sora-2", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(v.ID)
		if got.Status != tollgate.VideoCompleted || got.Charged != got.Held {
			t.Fatalf("got %+v, want completed and charged", got)
		}
		for variant, want := range map[string][]byte{"video": local.Clip, "thumbnail": local.Thumbnail, "spritesheet": local.Spritesheet} {
			path, _, err := e.gw.Content(e.ctx, v.ID, "acme", variant)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: %d bytes, %v; want the embedded one", variant, len(b), err)
			}
		}
		// An uploaded video cannot be read: a clear 400.
		_, err = e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Kind: tollgate.VideoEdit, Prompt: "more snow", Input: local.Clip, InputExt: ".mp4"})
		if tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Errorf("an upload without ffmpeg: %v, want invalid_field", err)
		}
	})
}

// TestCreateWithQuote: a quote pays for the video it priced, filling in
// what the request leaves out; a quote for another length, resolution or
// model is refused, and nothing is held.
func TestCreateWithQuote(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, envOptions{local: local.New(time.Hour, tollgate.SystemClock{})})
		quote := func(model, res string, seconds int, credits tollgate.Credits) string {
			t.Helper()
			now := time.Now().UTC()
			details, _ := json.Marshal(map[string]any{"model": model, "resolution": res, "seconds": seconds})
			q := tollgate.Quote{ID: tollgate.NewID("quote"), AccountID: "acme", Product: tollgate.ProductVideo, Credits: credits, Details: details,
				CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
			if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.QuoteInsert(e.ctx, q) }); err != nil {
				t.Fatal(err)
			}
			return q.ID
		}
		for _, tc := range []struct {
			name string
			p    gateway.CreateParams
		}{
			{"another resolution", gateway.CreateParams{Model: "sora-2-pro", Seconds: 4, Size: "1792x1024"}},
			{"another model", gateway.CreateParams{Model: "sora-2-pro", Seconds: 4, Size: "1280x720"}},
			{"another length", gateway.CreateParams{Model: "sora-2", Seconds: 8, Size: "1280x720"}},
		} {
			tc.p.AccountID, tc.p.Prompt, tc.p.QuoteID = "acme", "a fox", quote("sora-2", "720p", 4, 400_000)
			if _, err := e.gw.Create(e.ctx, tc.p); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
				t.Errorf("%s: got %v, want invalid_field on tollgate.quote_id", tc.name, err)
			}
		}
		if b := e.balance(); b.Held != 0 {
			t.Fatalf("refused creates held %s", b.Held)
		}
		// The model and length come from the quote; the size asked is of its resolution.
		v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Size: "720x1280", QuoteID: quote("sora-2-pro", "720p", 8, 2_400_000)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Model != "sora-2-pro" || v.Seconds != 8 || v.Held != 2_400_000 || v.QuoteID == "" {
			t.Errorf("created %+v: want sora-2-pro for 8 s, held as quoted", v)
		}
	})
}
