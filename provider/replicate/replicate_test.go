package replicate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/providertest"
	"tollgate/provider/replicate"
	"tollgate/provider/replicate/replicatetest"
	"tollgate/router"
)

func wait(t *testing.T, c *replicate.Client, id string) router.Status {
	t.Helper()
	st, _ := providertest.Wait(t, c.Status, id)
	return st
}

// hooks records the webhooks Replicate sends, as the adapter verifies them.
type hooks struct {
	*httptest.Server
	mu       sync.Mutex
	ids      []string
	refused  int
	refs     []string
	verifier **replicate.Client
}

func newHooks(t *testing.T, c **replicate.Client) *hooks {
	h := &hooks{verifier: c}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ok, err := (*h.verifier).Notification(router.Callback{Header: r.Header, Body: body, Now: time.Now()})
		h.mu.Lock()
		defer h.mu.Unlock()
		h.refs = append(h.refs, r.URL.Query().Get("ref"))
		if err != nil {
			h.refused++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if ok {
			h.ids = append(h.ids, id)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// TestClient runs the adapter against the fake: a prediction at an
// official model polled to its end, fetched without the token, its
// completed webhook verified with the secret read once from Replicate's
// API, cancel, and every failure classified.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := replicatetest.New(100*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	var c *replicate.Client
	h := newHooks(t, &c)
	c = replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: replicatetest.Key, CallbackURL: h.URL + "/v1/webhooks/providers/replicate", Timeout: 2 * time.Second})
	ctx := context.Background()
	j := router.Job{VideoID: "video_1", Kind: tollgate.VideoCreate, Model: "google/veo-3-fast", Prompt: "a fox in snow", Seconds: 8, Size: "720x1280", SubmittedAt: time.Now()}
	id, err := c.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, c, id); st.State != router.Completed {
		t.Fatalf("status %+v", st)
	}
	var b bytes.Buffer
	if err := c.Fetch(ctx, id, &b); err != nil || b.Len() < 1000 {
		t.Fatalf("fetch: %d bytes, %v", b.Len(), err)
	}
	if f.KeyLeaks() != 0 {
		t.Errorf("the token went to the output's host %d times", f.KeyLeaks())
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && f.Hooks() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	h.mu.Lock()
	if len(h.ids) == 0 || h.ids[0] != id || h.refs[0] != replicate.Ref(j) || h.refused != 0 {
		t.Errorf("webhooks: ids %v refs %v refused %d; want %s with ref %s", h.ids, h.refs, h.refused, id, replicate.Ref(j))
	}
	h.mu.Unlock()
	if n := f.SecretReads(); n != 1 {
		t.Errorf("the webhook secret was read %d times, want once", n)
	}

	// Cancel.
	cid, err := c.Submit(ctx, router.Job{Model: "google/veo-3", Prompt: "to cancel", Seconds: 4, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, cid); err != nil || !f.Canceled(cid) {
		t.Errorf("cancel: %v, canceled %v", err, f.Canceled(cid))
	}
	if st := wait(t, c, cid); st.State != router.Failed || st.Err.Kind != router.Terminal {
		t.Errorf("a canceled prediction: %+v", st)
	}

	job := func(prompt string) router.Job {
		return router.Job{Model: "google/veo-3", Prompt: prompt, Seconds: 8, Size: "1280x720", SubmittedAt: time.Now()}
	}
	if _, err := replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: "r8_wrong"}).Submit(ctx, job("a fox")); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a wrong token: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "google/veo-3", Prompt: "a fox", Seconds: 5, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a duration the model refuses: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "nobody/nothing", Prompt: "a fox", Seconds: 8, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown model: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "veo-3", Prompt: "a fox", Seconds: 8, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a model that is not owner/name: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, job("FORBIDDEN fox")); providertest.ErrOf(err).Kind != router.Refused {
		t.Errorf("a prompt refused at submit: %v, want refused", err)
	}
	for prompt, want := range map[string]router.Kind{"REFUSE fox": router.Refused, "BROKEN fox": router.Terminal, "ABORT fox": router.Terminal} {
		rid, err := c.Submit(ctx, job(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if st := wait(t, c, rid); st.State != router.Failed || st.Err == nil || st.Err.Kind != want {
			t.Errorf("%s: %+v, want failed and %s", prompt, st, want)
		}
	}
	if _, err := c.Status(ctx, "nonexistent0000000000000000"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown prediction: %v, want terminal", err)
	}
}

// TestReconcile: with webhooks, the attempt's reference in the echoed
// webhook URL finds a lost submit's prediction across pages; a listing
// past the submit without it proves it was not made, once it had time to
// be listed. Without webhooks, prompt and model are matched.
func TestReconcile(t *testing.T) {
	t.Parallel()
	f := replicatetest.New(time.Hour, providertest.Chaos{})
	defer f.Close()
	ctx := context.Background()
	exact := replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: replicatetest.Key, CallbackURL: "https://tollgate.example/v1/webhooks/providers/replicate"})
	j := router.Job{VideoID: "video_lost", Model: "google/veo-3", Prompt: "a lost fox", Seconds: 8, Size: "1280x720", SubmittedAt: time.Now()}
	id, err := exact.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // newer predictions, the same prompt among them: the lost one is on page two
		if _, err := exact.Submit(ctx, router.Job{VideoID: "video_" + strconv.Itoa(i), Model: "google/veo-3", Prompt: "a lost fox", Seconds: 8, Size: "1280x720", SubmittedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if got, found, err := exact.Reconcile(ctx, j); err != nil || !found || got != id {
		t.Errorf("exact reconcile: %s %v %v, want %s", got, found, err, id)
	}
	never := j
	never.VideoID = "video_never"
	never.SubmittedAt = time.Now().Add(-3 * time.Minute) // past the submit's timeout and the listing's delay
	if _, found, err := exact.Reconcile(ctx, never); found || err != nil {
		t.Errorf("a submit never made, three minutes ago: found %v, %v; want not found, for sure", found, err)
	}
	never.SubmittedAt = time.Now()
	if _, found, err := exact.Reconcile(ctx, never); found || providertest.ErrOf(err).Kind != router.Unknown {
		t.Errorf("a submit a moment ago, not listed: found %v, %v; want unknown", found, err)
	}

	heur := replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: replicatetest.Key})
	h := router.Job{Model: "google/veo-3-fast", Prompt: "one of a kind", Seconds: 4, Size: "1280x720", SubmittedAt: time.Now()}
	hid, err := heur.Submit(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if got, found, err := heur.Reconcile(ctx, h); err != nil || !found || got != hid {
		t.Errorf("heuristic reconcile: %s %v %v, want %s", got, found, err, hid)
	}
	h.Prompt = "never sent"
	if _, found, err := heur.Reconcile(ctx, h); found || providertest.ErrOf(err).Kind != router.Unknown {
		t.Errorf("heuristic, no match: found %v, %v; want unknown", found, err)
	}
	if _, found, err := heur.Reconcile(ctx, router.Job{Model: "google/veo-3", Prompt: "a lost fox", Seconds: 8, Size: "1280x720", SubmittedAt: j.SubmittedAt}); found || providertest.ErrOf(err).Code != "ambiguous" {
		t.Errorf("heuristic, many matches: found %v, %v; want ambiguous", found, err)
	}
}

// TestNotification: a webhook verifies with the configured secret only;
// forged, stale or unsigned ones are refused; one about a running
// prediction asks nothing.
func TestNotification(t *testing.T) {
	t.Parallel()
	c := replicate.New(replicate.Options{APIKey: "k", WebhookSecret: replicatetest.Secret})
	body := []byte(`{"id":"abc123","status":"succeeded","output":"https://x/y.mp4"}`)
	var got []string
	rec := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id, ok, err := c.Notification(router.Callback{Header: r.Header, Body: b, Now: time.Now()})
		got = append(got, strings.Join([]string{id, strconv.FormatBool(ok), errString(err)}, "|"))
	}))
	defer rec.Close()
	providertest.SendSigned(rec.URL, replicatetest.Secret, "msg_1", body)
	providertest.SendSigned(rec.URL, "whsec_"+"b3RoZXItc2VjcmV0LW9mLWxlbmd0aA==", "msg_2", body)
	providertest.SendSigned(rec.URL, replicatetest.Secret, "msg_3", []byte(`{"id":"abc123","status":"processing"}`))
	if len(got) != 3 || got[0] != "abc123|true|" || !strings.Contains(got[1], "does not verify") || got[2] != "|false|" {
		t.Errorf("notifications: %q", got)
	}
	h := http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}, "Webhook-Signature": {"v1,x"}}
	if _, _, err := c.Notification(router.Callback{Header: h, Body: body, Now: time.Now()}); !errors.Is(err, router.ErrBadNotification) {
		t.Errorf("stale: %v", err)
	}
	if _, _, err := c.Notification(router.Callback{Header: http.Header{}, Body: body, Now: time.Now()}); !errors.Is(err, router.ErrBadNotification) {
		t.Errorf("unsigned: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestLostAndFailed: under chaos, a submit whose answer is lost is
// Unknown and one refused before anything was made is retryable.
func TestLostAndFailed(t *testing.T) {
	t.Parallel()
	f := replicatetest.New(time.Hour, providertest.Chaos{Rate: 1, Seed: 9, Hang: 500 * time.Millisecond})
	defer f.Close()
	c := replicate.New(replicate.Options{BaseURL: f.BaseURL(), APIKey: replicatetest.Key, Timeout: 300 * time.Millisecond})
	providertest.CheckSubmitOutcomes(t, 40, func(i int) error {
		_, err := c.Submit(context.Background(), router.Job{Model: "google/veo-3", Prompt: "a fox " + strconv.Itoa(i), Seconds: 8, Size: "1280x720"})
		return err
	}, f.Failures)
}

func FuzzParsePrediction(f *testing.F) {
	f.Add([]byte(`{"id":"gm3qorzdhgbfurvjtvhg6dckhu","status":"succeeded","output":"https://r/x.mp4","webhook":"https://t/h?ref=v.1"}`))
	f.Add([]byte(`{"id":"x","status":"failed","error":"(E005)","output":["https://a"]}`))
	f.Add([]byte(`{"results":[{"id":"x","status":"starting"}],"next":"https://api.replicate.com/v1/predictions?cursor=a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := replicate.ParsePrediction(b)
		if err == nil && p.ID == "" {
			t.Fatal("a prediction without an id parsed")
		}
		_ = p.Video()
		_, _ = replicate.ParseList(b)
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(422, []byte(`{"title":"Input validation failed","detail":"input.duration must be one of [8]","status":422}`))
	f.Add(429, []byte(`{"detail":"Request was throttled."}`))
	f.Add(502, []byte(``))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 400 || status > 599 {
			return
		}
		e := replicate.ParseError(status, nil, b)
		if e == nil || e.Message == "" {
			t.Fatal("an error without a message")
		}
		if status >= 500 && e.Kind != router.Retryable {
			t.Fatalf("%d classified %s", status, e.Kind)
		}
	})
}

// TestReconcileFollowsOnlyItsHost: a listing whose next page is on a host
// the client does not call proves nothing: Unknown, never "not made".
func TestReconcileFollowsOnlyItsHost(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"results":[],"next":"https://elsewhere.example/v1/predictions?cursor=abc"}`))
	}))
	defer srv.Close()
	c := replicate.New(replicate.Options{BaseURL: srv.URL + "/v1", APIKey: "k", CallbackURL: "https://t.example/v1/webhooks/providers/replicate"})
	_, found, err := c.Reconcile(context.Background(), router.Job{VideoID: "video_x", Model: "google/veo-3", Prompt: "y", Seconds: 8, Size: "1280x720",
		SubmittedAt: time.Now().Add(-3 * time.Minute)})
	if found || providertest.ErrOf(err).Kind != router.Unknown {
		t.Errorf("found %v, %v; want unknown", found, err)
	}
}
