package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
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
				e := newEnv(t, open, envOptions{providers: map[string]router.Provider{ac.name: p}, catalog: pricing.Default(), retryBase: 10 * time.Millisecond})
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
				if f := failures(); ac.class == "exact" && unknown > f[providertest.FailHang]+f[providertest.FailMalformed] {
					// A lost submit made its job, which the reference finds;
					// only a submit that may not have arrived stays unknown.
					t.Errorf("%d jobs failed with an unknown outcome, more than the hung or malformed submits %v", unknown, f)
				}
				if ac.class == "none" && failures()[providertest.FailLost] > 0 && unknown == 0 {
					t.Errorf("submits were lost (%v) but no job says its outcome is unknown", failures())
				}
				t.Logf("%s (%s): %d jobs, %d completed, failed %v; failures injected %v", ac.name, ac.class, jobs, completed, codes, failures())
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
