package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/metrics"
	"tollgate/pricing"
	"tollgate/provider/fal"
	"tollgate/provider/fal/faltest"
	"tollgate/provider/luma"
	"tollgate/provider/luma/lumatest"
	"tollgate/provider/providertest"
	"tollgate/provider/replicate"
	"tollgate/provider/replicate/replicatetest"
	"tollgate/provider/runway"
	"tollgate/provider/runway/runwaytest"
	"tollgate/provider/veo"
	"tollgate/provider/veo/veotest"
	"tollgate/router"
	"tollgate/store"
)

// adapterCase is a real adapter against its fake, for the shipped
// catalog's model it runs.
type adapterCase struct {
	name    string
	model   string
	seconds int
	class   string // how a lost submit is settled: exact, heuristic or none
	start   func(chaos providertest.Chaos) (p router.Provider, creates func(prompt string) int, failures func() map[string]int, stop func())
}

var adapterCases = []adapterCase{
	{name: "runway", model: "runway-gen4.5", seconds: 5, class: "none",
		start: func(chaos providertest.Chaos) (router.Provider, func(string) int, func() map[string]int, func()) {
			f := runwaytest.New(30*time.Millisecond, chaos)
			c := runway.New(runway.Options{BaseURL: f.URL, APIKey: runwaytest.Key, Timeout: 150 * time.Millisecond})
			return c, f.Creates, f.Failures, f.Close
		}},
	{name: "luma", model: "luma-ray-2", seconds: 5, class: "exact",
		start: func(chaos providertest.Chaos) (router.Provider, func(string) int, func() map[string]int, func()) {
			f := lumatest.New(30*time.Millisecond, chaos)
			hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) // callbacks: the polls suffice here
			c := luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: lumatest.Key, CallbackURL: hook.URL, Timeout: 150 * time.Millisecond})
			return c, f.Creates, f.Failures, func() { f.Close(); hook.Close() }
		}},
	{name: "replicate", model: "veo-3-fast", seconds: 8, class: "exact",
		start: func(chaos providertest.Chaos) (router.Provider, func(string) int, func() map[string]int, func()) {
			f := replicatetest.New(30*time.Millisecond, chaos)
			hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			c := replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: replicatetest.Key, CallbackURL: hook.URL, Timeout: 150 * time.Millisecond})
			return c, f.Creates, f.Failures, func() { f.Close(); hook.Close() }
		}},
	{name: "fal", model: "kling-2.1-master", seconds: 5, class: "heuristic",
		start: func(chaos providertest.Chaos) (router.Provider, func(string) int, func() map[string]int, func()) {
			f := faltest.New(30*time.Millisecond, chaos)
			c := fal.New(fal.Options{QueueURL: f.URL, APIURL: f.URL, JWKSURL: f.JWKSURL(), APIKey: faltest.Key, Timeout: 150 * time.Millisecond})
			return c, f.Creates, f.Failures, f.Close
		}},
	{name: "veo", model: "veo-3-fast", seconds: 8, class: "none",
		start: func(chaos providertest.Chaos) (router.Provider, func(string) int, func() map[string]int, func()) {
			f := veotest.New(30*time.Millisecond, chaos)
			c := veo.New(veo.Options{BaseURL: f.BaseURL(), APIKey: veotest.Key, Timeout: 150 * time.Millisecond})
			return c, f.Creates, f.Failures, f.Close
		}},
}

// TestChaosProviders sends jobs through each real adapter to its fake
// failing 30% of the time (5xx, 429, hangs past the client's timeout,
// malformed answers, submits made but whose answer is lost), on both
// stores. Every job ends completed and charged what was held, or failed
// and released. A provider that cannot reconcile (class none) never gets
// a job twice: a lost submit fails the job, released, with the possible
// cost kept on its attempt for the operator. verify is clean (checked when
// each env ends).
func TestChaosProviders(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fakes render clips with it")
	}
	for _, ac := range adapterCases {
		t.Run(ac.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
				p, creates, failures, stop := ac.start(providertest.Chaos{Rate: 0.3, Hang: 400 * time.Millisecond, Seed: 11})
				defer stop()
				met := metrics.New()
				e := newEnv(t, open, envOptions{providers: map[string]router.Provider{ac.name: p}, catalog: pricing.Default(), retryBase: 10 * time.Millisecond, metrics: met})
				const jobs = 12
				var ids []string
				for i := range jobs {
					v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Model: ac.model, Prompt: fmt.Sprintf("%s chaos %d", ac.name, i),
						Seconds: ac.seconds, Size: "1280x720"})
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, v.ID)
				}
				var completed, unknown int
				var charged tollgate.Credits
				codes := map[string]int{}
				for i, id := range ids {
					v := e.waitFor(id, 90*time.Second)
					made := creates(fmt.Sprintf("%s chaos %d", ac.name, i))
					charged += v.Charged
					switch {
					case made > 1 && ac.class != "heuristic":
						t.Errorf("job %d: %s made it %d times", i, ac.name, made)
					case v.Status == tollgate.VideoCompleted:
						completed++
						if v.Charged != v.Held || v.Provider != ac.name {
							t.Errorf("job %d completed at %s: charged %s of %s", i, v.Provider, v.Charged, v.Held)
						}
					default:
						codes[v.ErrorCode]++
						if v.Charged != 0 {
							t.Errorf("job %d failed (%s) but charged %s", i, v.ErrorCode, v.Charged)
						}
						if v.ErrorCode == "provider_outcome_unknown" {
							unknown++
							if a := v.Attempts[len(v.Attempts)-1]; a.Outcome != "unknown" || a.Cost.Amount == 0 {
								t.Errorf("job %d: attempt %+v; want outcome unknown with the possible cost kept", i, a)
							}
						}
					}
				}
				if b := e.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100)-charged {
					t.Errorf("balance %+v, want nothing held and 100 less %s charged", b, charged)
				}
				if f := failures(); ac.class == "exact" && unknown > f[providertest.FailHang]+f[providertest.FailMalformed]+f[providertest.Fail500] {
					// A lost submit made its job, which the reference finds;
					// only a submit that may not have arrived (hung, cut
					// short, answered 500) stays unknown until the listing
					// can prove it absent, longer than this test waits.
					t.Errorf("%d jobs failed with an unknown outcome, more than the hung, malformed or 500 submits %v", unknown, f)
				}
				if ac.class == "none" && failures()[providertest.FailLost] > 0 && unknown == 0 {
					t.Errorf("submits were lost (%v) but no job says its outcome is unknown", failures())
				}
				t.Logf("%s (%s): %d jobs, %d completed, failed %v; failures injected %v", ac.name, ac.class, jobs, completed, codes, failures())
				// The metrics say what the jobs did. A job is counted just
				// after its completion is committed, which the test may see
				// first: scrape until the counts arrive, or a few seconds.
				wants := []string{
					fmt.Sprintf(`tollgate_video_jobs_total{model=%q,provider="",status="created"} %d`, ac.model, jobs),
					fmt.Sprintf(`tollgate_video_jobs_total{model=%q,provider=%q,status="completed"} %d`, ac.model, ac.name, completed),
				}
				var scraped string
				for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					rec := httptest.NewRecorder()
					met.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
					scraped = rec.Body.String()
					if strings.Contains(scraped, wants[0]) && strings.Contains(scraped, wants[1]) || time.Now().After(end) {
						break
					}
				}
				for _, want := range wants {
					if !strings.Contains(scraped, want) {
						t.Errorf("metrics lack %s", want)
					}
				}
				f := failures()
				if lost := f[providertest.FailLost]; lost > 0 {
					outcome := map[string]string{"none": "gave_up", "exact": "found", "heuristic": "found"}[ac.class]
					if !strings.Contains(scraped, fmt.Sprintf(`tollgate_reconciliations_total{outcome=%q,provider=%q}`, outcome, ac.name)) {
						t.Errorf("%d submits were lost at a %s provider, but no reconciliation %s is counted", lost, ac.class, outcome)
					}
				}
				if f[providertest.Fail500]+f[providertest.Fail503]+f[providertest.Fail429] > 0 && !strings.Contains(scraped, fmt.Sprintf(`tollgate_provider_errors_total{kind="retryable",provider=%q`, ac.name)) {
					t.Error("retryable failures were injected, but no provider error is counted")
				}
				if completed == 0 {
					t.Error("no job completed: the test proves nothing")
				}
			})
		})
	}
}

// TestImageOnlyOffer: Runway's gen4_turbo makes video from an image only,
// so a text-only request for it finds no candidate and holds nothing.
func TestImageOnlyOffer(t *testing.T) {
	t.Parallel()
	f := runwaytest.New(10*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	c := runway.New(runway.Options{BaseURL: f.URL, APIKey: runwaytest.Key})
	e := newEnv(t, openSQLite, envOptions{providers: map[string]router.Provider{"runway": c}, catalog: pricing.Default()})
	_, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Model: "runway-gen4-turbo", Prompt: "a fox", Seconds: 5, Size: "1280x720"})
	if tollgate.ErrorCode(err) != tollgate.CodeModelUnavailable {
		t.Fatalf("a text-only request for an image-only model: %v, want model_unavailable", err)
	}
	if b := e.balance(); b.Held != 0 || f.Tasks() != 0 {
		t.Errorf("held %s, %d tasks; want nothing", b.Held, f.Tasks())
	}
}

// TestChaosAllProviders runs every real adapter at once against its fake,
// each failing 30% of the time, with the shipped catalog: jobs for every
// model, so that the router chooses among several providers (veo-3 and
// veo-3-fast are offered by Replicate, fal and Veo) and falls back when
// one fails for good. Every job ends completed and charged the hold or
// failed and released; no exact or none provider made a job twice;
// duplicates at heuristic providers are counted and reported with their
// cost; verify is clean.
func TestChaosAllProviders(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fakes render clips with it")
	}
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		providers := map[string]router.Provider{}
		creates := map[string]func(string) int{}
		failures := map[string]func() map[string]int{}
		classes := map[string]string{}
		for i, ac := range adapterCases {
			p, cr, fl, stop := ac.start(providertest.Chaos{Rate: 0.3, Hang: 400 * time.Millisecond, Seed: uint64(20 + i)})
			defer stop()
			providers[ac.name], creates[ac.name], failures[ac.name], classes[ac.name] = p, cr, fl, ac.class
		}
		e := newEnv(t, open, envOptions{providers: providers, catalog: pricing.Default(), retryBase: 10 * time.Millisecond})
		models := []struct {
			model   string
			seconds int
			size    string
		}{{"runway-gen4.5", 5, "1280x720"}, {"luma-ray-2", 5, "720x1280"}, {"luma-ray-flash-2", 9, "1920x1080"}, {"veo-3", 8, "1280x720"},
			{"veo-3-fast", 4, "720x1280"}, {"kling-2.1-master", 10, "1280x720"}, {"pika-2.2", 5, "1080x1920"}, {"minimax-hailuo-02", 6, "1280x720"}}
		type job struct {
			id, prompt, model, size string
			seconds                 int
		}
		var jobs []job
		for round := range 3 {
			for _, m := range models {
				prompt := fmt.Sprintf("all %s %d", m.model, round)
				v, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Model: m.model, Prompt: prompt, Seconds: m.seconds, Size: m.size})
				if err != nil {
					t.Fatalf("%s: %v", m.model, err)
				}
				jobs = append(jobs, job{v.ID, prompt, m.model, m.size, m.seconds})
			}
		}
		var completed int
		var charged tollgate.Credits
		codes, by, dupes := map[string]int{}, map[string]int{}, map[string]int{}
		var dupeCost []tollgate.Money
		for _, j := range jobs {
			v := e.waitFor(j.id, 120*time.Second)
			charged += v.Charged
			for name, cr := range creates {
				switch n := cr(j.prompt); {
				case n > 1 && classes[name] == "heuristic":
					dupes[name] += n - 1
					for _, o := range pricing.Default().Offers(j.model, time.Now()) {
						if secs, ok := o.Duration(j.seconds); ok && o.Provider == name {
							c, _ := o.CostFor(secs, j.size)
							dupeCost = tollgate.AddMoney(dupeCost, tollgate.Money{Amount: c.Amount * int64(n-1), Currency: c.Currency})
						}
					}
				case n > 1:
					t.Errorf("%s: %s (%s) made it %d times", j.prompt, name, classes[name], n)
				}
			}
			if v.Status == tollgate.VideoCompleted {
				completed++
				by[v.Provider]++
				if v.Charged != v.Held {
					t.Errorf("%s completed at %s: charged %s of %s", j.prompt, v.Provider, v.Charged, v.Held)
				}
				continue
			}
			codes[v.ErrorCode]++
			if v.Charged != 0 {
				t.Errorf("%s failed (%s) but charged %s", j.prompt, v.ErrorCode, v.Charged)
			}
		}
		if b := e.balance(); b.Held != 0 || b.Available != tollgate.WholeCredits(100)-charged {
			t.Errorf("balance %+v, want nothing held and 100 less %s charged", b, charged)
		}
		inj := map[string]map[string]int{}
		for name, fl := range failures {
			inj[name] = fl()
		}
		t.Logf("%d jobs: %d completed %v, failed %v; duplicates at heuristic providers %v costing %v; failures injected %v", len(jobs), completed, by, codes, dupes, dupeCost, inj)
		if completed < len(jobs)/2 {
			t.Errorf("%d of %d jobs completed: the run proves little", completed, len(jobs))
		}
	})
}

// TestRouterAcrossAdapters: the router ranks the real adapters' offers of
// one model (veo-3-fast: Replicate, fal and Veo in the shipped catalog) by
// each policy and constraint, and an offer whose retirement passes is no
// longer a candidate.
func TestRouterAcrossAdapters(t *testing.T) {
	t.Parallel()
	providers := map[string]router.Provider{}
	for _, ac := range adapterCases {
		p, _, _, stop := ac.start(providertest.Chaos{})
		defer stop()
		providers[ac.name] = p
	}
	cat := pricing.Default()
	clock := &stepClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	retire := clock.now.Add(time.Hour)
	for i := range cat.OfferList {
		if o := &cat.OfferList[i]; o.Provider == "veo" && o.Model == "veo-3-fast" {
			o.RetiresAt = &retire
		}
	}
	r := &router.Router{Catalog: func() *pricing.Catalog { return cat }, Providers: providers, Clock: clock,
		Price: func(context.Context, pricing.Request) (tollgate.Credits, error) { return tollgate.WholeCredits(1), nil }}
	names := func(cs []router.Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Offer.Provider)
		}
		return out
	}
	ctx := context.Background()
	q := router.Request{Model: "veo-3-fast", Seconds: 8, Size: "1280x720"}
	cs, err := r.Candidates(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	// veo $0.15/s and fal $0.15/s tie; replicate is $0.40/s.
	if got := names(cs); len(got) != 3 || got[2] != "replicate" || cs[0].Cost.Amount != 120 {
		t.Errorf("cheapest: %v (first costs %v), want veo and fal at 120 cents, then replicate", got, cs[0].Cost)
	}
	q.Policy = router.Fastest // expected seconds: veo 60, fal 60, replicate 90
	if cs, _ := r.Candidates(ctx, q); names(cs)[2] != "replicate" {
		t.Errorf("fastest: %v, want replicate last", names(cs))
	}
	q.Policy = router.Balanced // cost times expected time: replicate's is the worst of both
	if cs, _ := r.Candidates(ctx, q); names(cs)[2] != "replicate" {
		t.Errorf("balanced: %v, want replicate last", names(cs))
	}
	q.Policy, q.Providers = "", []string{"replicate"}
	if cs, _ := r.Candidates(ctx, q); len(cs) != 1 || cs[0].Offer.Provider != "replicate" {
		t.Errorf("providers=[replicate]: %v", names(cs))
	}
	q.Providers, q.ExcludeProviders = nil, []string{"veo", "fal"}
	if cs, _ := r.Candidates(ctx, q); len(cs) != 1 || cs[0].Offer.Provider != "replicate" {
		t.Errorf("exclude veo, fal: %v", names(cs))
	}
	q.ExcludeProviders, q.MaxCredits = nil, tollgate.WholeCredits(1)/2
	if cs, _ := r.Candidates(ctx, q); len(cs) != 0 {
		t.Errorf("max_credits below the price: %v, want none", names(cs))
	}
	q.MaxCredits, q.Features = 0, []string{pricing.FeatureImage}
	if cs, _ := r.Candidates(ctx, q); len(cs) != 2 || slices.Contains(names(cs), "fal") {
		t.Errorf("with an image: %v, want veo and replicate (fal's offer takes none)", names(cs))
	}
	q.Features = nil
	clock.now = retire // Veo's offer retires during the run
	if cs, _ := r.Candidates(ctx, q); slices.Contains(names(cs), "veo") || len(cs) != 2 {
		t.Errorf("after veo's offer retired: %v", names(cs))
	}
	if cs, _ := r.Candidates(ctx, router.Request{Model: "runway-gen4-turbo", Seconds: 5, Size: "1280x720"}); len(cs) != 0 {
		t.Errorf("an image-only model without an image: %v", names(cs))
	}
	if cs, _ := r.Candidates(ctx, router.Request{Model: "auto", Seconds: 5, Size: "1280x720"}); len(cs) == 0 || cs[0].Cost.Amount > cs[len(cs)-1].Cost.Amount {
		t.Errorf("auto: %v, want the cheapest of every model first", names(cs))
	}
}

// stepClock is a clock a test moves.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }
