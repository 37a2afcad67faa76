package router_test

import (
	"context"
	"io"
	"testing"
	"time"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/pricing"
	"tollgate/router"
)

type stub struct{ name string }

func (s stub) Name() string                                          { return s.name }
func (s stub) Submit(context.Context, router.Job) (string, error)    { return "", nil }
func (s stub) Status(context.Context, string) (router.Status, error) { return router.Status{}, nil }
func (s stub) Fetch(context.Context, string, io.Writer) error        { return nil }
func (s stub) Cancel(context.Context, string) error                  { return nil }

func offer(provider string, amount int64, expected int, durations ...int) pricing.Offer {
	return pricing.Offer{Provider: provider, Model: "sora-2", UpstreamModel: provider + "-s2", Durations: durations,
		Sizes: []string{"1280x720"}, Cost: []pricing.Cost{{Amount: amount, Currency: "usd", PerSeconds: 1}}, CostAsOf: "2026-12-01",
		Source: "test", ExpectedSeconds: expected, Features: []string{pricing.FeatureRemix}}
}

func newRouter(t *testing.T, clock tollgate.Clock, offers ...pricing.Offer) *router.Router {
	t.Helper()
	c := pricing.Default()
	c.OfferList = offers
	q := &pricing.Quotes{Catalog: c, Clock: clock}
	ps := map[string]router.Provider{}
	for _, o := range offers {
		ps[o.Provider] = stub{o.Provider}
	}
	return &router.Router{Catalog: func() *pricing.Catalog { return c }, Providers: ps, Clock: clock, BreakerFailures: 3, BreakerOpen: time.Minute,
		Price: func(ctx context.Context, r pricing.Request) (tollgate.Credits, error) {
			p, _, err := q.Price(ctx, r)
			return p.Credits, err
		}}
}

func names(cs []router.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Offer.Provider)
	}
	return out
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	r := newRouter(t, clock, offer("dear", 30, 10, 4, 8), offer("cheap", 10, 60, 4, 8, 12), offer("long", 5, 20, 10))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		q    router.Request
		want string
	}{
		{"cheapest job first; a longer clip (10 s for 4) is a candidate", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"}, "cheap,long,dear"},
		{"fastest", router.Request{Model: "sora-2", Policy: router.Fastest, Seconds: 4, Size: "1280x720"}, "dear,long,cheap"},
		{"auto:fastest", router.Request{Model: "auto:fastest", Seconds: 4, Size: "1280x720"}, "dear,long,cheap"},
		{"only those that make 12 s", router.Request{Model: "sora-2", Seconds: 12, Size: "1280x720"}, "cheap"},
		{"a size none makes", router.Request{Model: "sora-2", Seconds: 4, Size: "720x1280"}, ""},
		{"providers", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", Providers: []string{"dear"}}, "dear"},
		{"exclude", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", ExcludeProviders: []string{"long"}}, "cheap,dear"},
		{"only", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", Only: "cheap"}, "cheap"},
		{"a feature none has", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", Features: []string{pricing.FeatureExtend}}, ""},
		{"max credits below the price", router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", MaxCredits: 1}, ""},
		{"an alias; for 8 s long's 10 s clip is cheapest", router.Request{Model: "sora-2-2025-12-08", Seconds: 8, Size: "1280x720"}, "long,cheap,dear"},
	} {
		cs, err := r.Candidates(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := join(names(cs)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	cs, _ := r.Candidates(ctx, router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"})
	if cs[0].Seconds != 4 || cs[0].Cost.Amount != 40 || cs[1].Seconds != 10 || cs[1].Cost.Amount != 50 {
		t.Errorf("cheap asks 4 s for 40 cents, long 10 s for 50: got %+v, %+v", cs[0], cs[1])
	}
	if _, err := r.Candidates(ctx, router.Request{Model: "sora-9", Seconds: 4, Size: "1280x720"}); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
		t.Errorf("an unknown model: %v", err)
	}

	// The breaker: three failures in a row leave a provider out for a
	// minute; AnyHealth still lists it; a success closes it.
	for range 3 {
		r.Failed("long")
	}
	cs, _ = r.Candidates(ctx, router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"})
	if got := join(names(cs)); got != "cheap,dear" {
		t.Errorf("with long's breaker open: %q", got)
	}
	if cs, _ := r.Candidates(ctx, router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720", AnyHealth: true}); len(cs) != 3 {
		t.Errorf("AnyHealth: %d candidates, want 3", len(cs))
	}
	clock.Advance(time.Minute)
	if cs, _ := r.Candidates(ctx, router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"}); len(cs) != 3 {
		t.Errorf("after the open period: %d candidates, want 3 (half open)", len(cs))
	}
	r.Succeeded("long")
	r.Failed("long") // one failure after a success: the count started again
	if cs, _ := r.Candidates(ctx, router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"}); len(cs) != 3 {
		t.Errorf("a failure after a success left %d candidates, want 3", len(cs))
	}

	// Speed: observed times move the estimate.
	for range 20 {
		r.Observed("cheap", "cheap-s2", time.Second)
	}
	cs, _ = r.Candidates(ctx, router.Request{Model: "sora-2", Policy: router.Fastest, Seconds: 4, Size: "1280x720"})
	if cs[0].Offer.Provider != "cheap" {
		t.Errorf("after cheap proved fast: %v", names(cs))
	}
}

// TestDemo: with no provider, the local renderer stands in for every
// model; a retired offer is no candidate.
func TestDemo(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	r := newRouter(t, clock)
	r.Local = stub{"local"}
	cs, err := r.Candidates(context.Background(), router.Request{Model: "veo-3", Seconds: 8, Size: "1920x1080"})
	if err != nil || len(cs) != 1 || !cs[0].Demo || cs[0].Offer.Provider != "local" {
		t.Fatalf("demo: %+v %v", cs, err)
	}
	retired := offer("old", 1, 1, 4)
	at := clock.Now()
	retired.RetiresAt = &at
	r = newRouter(t, clock, retired)
	if cs, _ := r.Candidates(context.Background(), router.Request{Model: "sora-2", Seconds: 4, Size: "1280x720"}); len(cs) != 0 {
		t.Errorf("a retired offer: %v", names(cs))
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
