package luma_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/luma"
	"tollgate/provider/luma/lumatest"
	"tollgate/provider/providertest"
	"tollgate/router"
)

func wait(t *testing.T, c *luma.Client, id string) router.Status {
	t.Helper()
	st, progress := providertest.Wait(t, c.Status, id)
	for _, p := range progress {
		if p != -1 {
			t.Errorf("Luma reports no progress, got %d", p)
		}
	}
	return st
}

// receiver records the callbacks Luma posts, through the adapter's
// Notification.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	refs []string // the ref of each callback's URL
	ids  []string // the generation each verified one names
}

func newReceiver(t *testing.T, c **luma.Client) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ok, err := (*c).Notification(router.Callback{Header: r.Header, Body: body, Now: time.Now()})
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.refs = append(rc.refs, r.URL.Query().Get("ref"))
		if err != nil {
			t.Errorf("a callback from Luma refused: %v", err)
		}
		if ok {
			rc.ids = append(rc.ids, id)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// TestClient runs the adapter against the fake: a generation polled to
// its end, fetched without the key, callbacks posted to the configured
// URL with the attempt's reference, and every failure classified.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := lumatest.New(100*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	var c *luma.Client
	rc := newReceiver(t, &c)
	c = luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: lumatest.Key, CallbackURL: rc.URL + "/v1/webhooks/providers/luma", Timeout: 2 * time.Second})
	ctx := context.Background()
	j := router.Job{VideoID: "video_1", Kind: tollgate.VideoCreate, Model: "ray-2", Prompt: "a fox in snow", Seconds: 5, Size: "1280x720", SubmittedAt: time.Now()}
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
		t.Errorf("the API key went to the video's host %d times", f.KeyLeaks())
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		n := len(rc.ids)
		rc.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.mu.Lock()
	if len(rc.ids) < 2 || rc.ids[0] != id || len(rc.refs) < 3 || rc.refs[0] != luma.Ref(j) {
		t.Errorf("callbacks: refs %v ids %v; want dreaming then the end twice, each with ref %s, naming %s", rc.refs, rc.ids, luma.Ref(j), id)
	}
	rc.mu.Unlock()
	if err := c.Cancel(ctx, id); !errors.Is(err, router.ErrCannotCancel) {
		t.Errorf("cancel: %v, want ErrCannotCancel", err)
	}

	job := func(prompt string) router.Job {
		return router.Job{Model: "ray-2", Prompt: prompt, Seconds: 5, Size: "1280x720", SubmittedAt: time.Now()}
	}
	if _, err := luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: "wrong"}).Submit(ctx, job("a fox")); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "ray-2", Prompt: "a fox", Seconds: 6, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a duration Luma does not make: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, job("FORBIDDEN fox")); providertest.ErrOf(err).Kind != router.Refused {
		t.Errorf("a prompt refused at submit: %v, want refused", err)
	}
	if _, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoRemix, Prompt: "x", SourceJob: id}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a remix: %v, want terminal", err)
	}
	for prompt, want := range map[string]router.Kind{"REFUSE fox": router.Refused, "BROKEN fox": router.Terminal} {
		rid, err := c.Submit(ctx, job(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if st := wait(t, c, rid); st.State != router.Failed || st.Err == nil || st.Err.Kind != want {
			t.Errorf("%s: %+v, want failed and %s", prompt, st, want)
		}
	}
	if _, err := c.Status(ctx, "00000000-none"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown generation: %v, want terminal", err)
	}
}

// TestReconcile: with callbacks, the attempt's reference finds a lost
// submit's generation for sure, and a full listing without it proves it
// was not made (once it had time to be listed). Without callbacks, a
// match on prompt, model and time finds it, and no match is Unknown.
func TestReconcile(t *testing.T) {
	t.Parallel()
	f := lumatest.New(time.Hour, providertest.Chaos{})
	defer f.Close()
	ctx := context.Background()
	exact := luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: lumatest.Key, CallbackURL: "http://127.0.0.1:1/v1/webhooks/providers/luma"})
	at := time.Now()
	j := router.Job{VideoID: "video_lost", Model: "ray-2", Prompt: "a lost fox", Seconds: 9, Size: "720x1280", SubmittedAt: at}
	id, err := exact.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	// Others' generations, the same prompt among them, come after it.
	for range 120 {
		if _, err := exact.Submit(ctx, router.Job{VideoID: "video_other", Model: "ray-2", Prompt: "a lost fox", Seconds: 9, Size: "720x1280", SubmittedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if got, found, err := exact.Reconcile(ctx, j); err != nil || !found || got != id {
		t.Errorf("exact reconcile: %s %v %v, want %s", got, found, err, id)
	}
	never := j
	never.SubmittedAt = at.Add(-3 * time.Minute) // past the submit's timeout and the listing's delay
	if _, found, err := exact.Reconcile(ctx, never); found || err != nil {
		t.Errorf("a submit never made, three minutes ago: found %v, %v; want not found, for sure", found, err)
	}
	never.SubmittedAt = time.Now()
	if _, found, err := exact.Reconcile(ctx, never); found || providertest.ErrOf(err).Kind != router.Unknown {
		t.Errorf("a submit a moment ago, not listed: found %v, %v; want unknown (it may not be listed yet)", found, err)
	}

	heur := luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: lumatest.Key})
	if heur.Exact() || !exact.Exact() {
		t.Error("Exact: only with a callback URL")
	}
	h := router.Job{VideoID: "video_h", Model: "ray-flash-2", Prompt: "one of a kind", Seconds: 5, Size: "1280x720", SubmittedAt: time.Now()}
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
	amb := router.Job{Model: "ray-2", Prompt: "a lost fox", Seconds: 9, Size: "720x1280", SubmittedAt: at}
	if _, found, err := heur.Reconcile(ctx, amb); found || providertest.ErrOf(err).Code != "ambiguous" {
		t.Errorf("heuristic, many matches: found %v, %v; want ambiguous", found, err)
	}
}

// TestNotification: Luma's callbacks are unsigned, so only the id is
// taken from one (the generation is polled); a body that is not a
// generation is refused; dreaming asks nothing.
func TestNotification(t *testing.T) {
	t.Parallel()
	c := luma.New(luma.Options{APIKey: "k"})
	if id, ok, err := c.Notification(router.Callback{Body: []byte(`{"id":"g-1","state":"completed","assets":{"video":"https://x/y.mp4"}}`), Now: time.Now()}); err != nil || !ok || id != "g-1" {
		t.Errorf("completed: %s %v %v", id, ok, err)
	}
	if _, ok, err := c.Notification(router.Callback{Body: []byte(`{"id":"g-1","state":"dreaming"}`), Now: time.Now()}); err != nil || ok {
		t.Errorf("dreaming: %v %v, want nothing to do", ok, err)
	}
	for _, b := range []string{`{}`, `not json`, `{"id":"../x","state":"completed"}`, `{"id":"g","state":"done"}`} {
		if _, _, err := c.Notification(router.Callback{Body: []byte(b), Now: time.Now()}); !errors.Is(err, router.ErrBadNotification) {
			t.Errorf("%s: %v, want ErrBadNotification", b, err)
		}
	}
}

// TestLostAndFailed: under chaos, a submit whose answer is lost is
// Unknown and one refused before anything was made is retryable.
func TestLostAndFailed(t *testing.T) {
	t.Parallel()
	f := lumatest.New(time.Hour, providertest.Chaos{Rate: 1, Seed: 5, Hang: 500 * time.Millisecond})
	defer f.Close()
	c := luma.New(luma.Options{BaseURL: f.BaseURL(), APIKey: lumatest.Key, Timeout: 300 * time.Millisecond})
	providertest.CheckSubmitOutcomes(t, 40, func(i int) error {
		_, err := c.Submit(context.Background(), router.Job{Model: "ray-2", Prompt: "a fox " + strings.Repeat("x", i), Seconds: 5, Size: "1280x720"})
		return err
	}, f.Failures)
}

func FuzzParseGeneration(f *testing.F) {
	f.Add([]byte(`{"id":"123e4567-e89b","state":"completed","assets":{"video":"https://a/b.mp4"},"request":{"callback_url":"https://t/x?ref=v.1"}}`))
	f.Add([]byte(`{"id":"x","state":"failed","failure_reason":"Job failed","created_at":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := luma.ParseGeneration(b)
		if err == nil && g.ID == "" {
			t.Fatal("a generation without an id parsed")
		}
		_, _ = luma.ParseList(b)
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"detail":"Prompt is required"}`))
	f.Add(422, []byte(`{"detail":[{"loc":["body","model"],"msg":"field required","type":"value_error"}]}`))
	f.Add(500, []byte(`oops`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 400 || status > 599 {
			return
		}
		e := luma.ParseError(status, nil, b)
		if e == nil || e.Message == "" {
			t.Fatal("an error without a message")
		}
		if status >= 500 && e.Kind != router.Retryable {
			t.Fatalf("%d classified %s", status, e.Kind)
		}
	})
}

// TestReconcileNeedsEchoes: a listing that cannot prove an absence says
// Unknown, never "not made": a generation of the period without its
// callback_url (the reference could be missing from it), or a page
// without has_more.
func TestReconcileNeedsEchoes(t *testing.T) {
	t.Parallel()
	for name, page := range map[string]string{
		"no callback": `{"generations":[{"id":"g1","state":"completed","created_at":"%s","request":{"prompt":"x","model":"ray-2"}}],"has_more":false}`,
		"no has_more": `{"generations":[]}`,
	} {
		at := time.Now().Add(-3 * time.Minute)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.ReplaceAll(page, "%s", at.UTC().Format(time.RFC3339))))
		}))
		c := luma.New(luma.Options{BaseURL: srv.URL, APIKey: "k", CallbackURL: "https://t.example/v1/webhooks/providers/luma"})
		_, found, err := c.Reconcile(context.Background(), router.Job{VideoID: "video_x", Model: "ray-2", Prompt: "y", Seconds: 5, Size: "1280x720", SubmittedAt: at})
		if found || providertest.ErrOf(err).Kind != router.Unknown {
			t.Errorf("%s: found %v, %v; want unknown", name, found, err)
		}
		srv.Close()
	}
}
