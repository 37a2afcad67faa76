package fal_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/fal"
	"tollgate/provider/fal/faltest"
	"tollgate/provider/providertest"
	"tollgate/router"
)

const kling = "fal-ai/kling-video/v2.1/master/text-to-video"

func client(f *faltest.Fake, callback string) *fal.Client {
	return fal.New(fal.Options{QueueURL: f.URL, APIURL: f.URL, JWKSURL: f.JWKSURL(), APIKey: faltest.Key, CallbackURL: callback, Timeout: 2 * time.Second})
}

func wait(t *testing.T, c *fal.Client, id string) router.Status {
	t.Helper()
	st, _ := providertest.Wait(t, c.Status, id)
	return st
}

// TestClient runs the adapter against the fake for each model family:
// a request queued with x-fal-no-retry, polled, its result fetched
// without the key; fal's disguised failure (COMPLETED, then a 422 result)
// is a refusal; a completed request with an error fails; cancel.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := faltest.New(80*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	c := client(f, "")
	ctx := context.Background()
	for _, j := range []router.Job{
		{Kind: tollgate.VideoCreate, Model: kling, Prompt: "a fox in snow", Seconds: 5, Size: "1280x720"},
		{Model: "fal-ai/minimax/hailuo-02/standard/text-to-video", Prompt: "a fox in snow", Seconds: 6, Size: "1280x720"},
		{Model: "fal-ai/pika/v2.2/text-to-video", Prompt: "a fox in snow", Seconds: 10, Size: "1080x1920"},
		{Model: "fal-ai/veo3", Prompt: "a fox in snow", Seconds: 8, Size: "1920x1080"},
	} {
		id, err := c.Submit(ctx, j)
		if err != nil {
			t.Fatalf("%s: %v", j.Model, err)
		}
		if st := wait(t, c, id); st.State != router.Completed {
			t.Fatalf("%s: %+v", j.Model, st)
		}
		var b bytes.Buffer
		if err := c.Fetch(ctx, id, &b); err != nil || b.Len() < 1000 {
			t.Fatalf("%s: fetch %d bytes, %v", j.Model, b.Len(), err)
		}
	}
	if f.KeyLeaks() != 0 {
		t.Errorf("the key went to the file host %d times", f.KeyLeaks())
	}

	job := func(prompt string) router.Job {
		return router.Job{Model: kling, Prompt: prompt, Seconds: 5, Size: "1280x720", SubmittedAt: time.Now()}
	}
	cid, err := c.Submit(ctx, router.Job{Model: kling, Prompt: "to cancel", Seconds: 10, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, cid); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if st := wait(t, c, cid); st.State != router.Failed || st.Err.Kind != router.Terminal {
		t.Errorf("a cancelled request: %+v", st)
	}
	if err := c.Cancel(ctx, cid); !errors.Is(err, router.ErrCannotCancel) {
		t.Errorf("cancel of a completed request: %v, want ErrCannotCancel", err)
	}
	if _, err := fal.New(fal.Options{QueueURL: f.URL, APIKey: "wrong"}).Submit(ctx, job("a fox")); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: kling, Prompt: "a fox", Seconds: 6, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a duration Kling refuses: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "fal-ai/../x", Prompt: "a fox", Seconds: 5, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a model with a dot-dot segment: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, job("FORBIDDEN fox")); providertest.ErrOf(err).Kind != router.Refused {
		t.Errorf("a prompt refused at submit: %v, want refused", err)
	}
	for prompt, want := range map[string]router.Kind{"REFUSE fox": router.Refused, "RUNNERDIED fox": router.Terminal} {
		rid, err := c.Submit(ctx, job(prompt))
		if err != nil {
			t.Fatal(err)
		}
		if st := wait(t, c, rid); st.State != router.Failed || st.Err == nil || st.Err.Kind != want {
			t.Errorf("%s: %+v, want failed and %s", prompt, st, want)
		}
	}
	for _, bad := range []string{"nothing", "fal-ai/kling-video/../../x", "a/b/c d"} {
		if _, err := c.Status(ctx, bad); providertest.ErrOf(err).Kind != router.Terminal {
			t.Errorf("status of %q: %v, want terminal", bad, err)
		}
	}
}

// TestReconcile: fal takes no reference, so a lost submit is found by its
// prompt and duration in the endpoint's requests listing (across pages);
// no match, or several, is Unknown, never "not made".
func TestReconcile(t *testing.T) {
	t.Parallel()
	f := faltest.New(time.Hour, providertest.Chaos{})
	defer f.Close()
	c := client(f, "")
	ctx := context.Background()
	j := router.Job{Model: kling, Prompt: "a lost fox", Seconds: 10, Size: "1280x720", SubmittedAt: time.Now()}
	id, err := c.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 130 {
		if _, err := c.Submit(ctx, router.Job{Model: kling, Prompt: "another fox " + strconv.Itoa(i), Seconds: 10, Size: "1280x720"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, found, err := c.Reconcile(ctx, j); err != nil || !found || got != id {
		t.Errorf("reconcile: %s %v %v, want %s", got, found, err, id)
	}
	never := j
	never.Prompt = "never sent"
	if _, found, err := c.Reconcile(ctx, never); found || providertest.ErrOf(err).Kind != router.Unknown {
		t.Errorf("no match: found %v, %v; want unknown (a listing proves no absence)", found, err)
	}
	if _, err := c.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Reconcile(ctx, j); found || providertest.ErrOf(err).Code != "ambiguous" {
		t.Errorf("two matches: found %v, %v; want ambiguous", found, err)
	}
}

// TestWebhooks: fal's webhooks, signed with ED25519 by the key of the
// JWKS, verify and name the request (its app from the callback URL);
// forged, stale, re-signed with another key, or unsigned ones are refused.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	f := faltest.New(20*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	var mu sync.Mutex
	var got []string
	var c *fal.Client
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ok, err := c.Notification(router.Callback{Header: r.Header, Query: r.URL.Query(), Body: body, Now: time.Now()})
		mu.Lock()
		defer mu.Unlock()
		if err != nil || !ok {
			t.Errorf("a webhook from fal: %s %v %v", id, ok, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, id)
	}))
	defer rec.Close()
	c = client(f, rec.URL+"/v1/webhooks/providers/fal")
	id, err := c.Submit(context.Background(), router.Job{VideoID: "video_1", Model: kling, Prompt: "a fox", Seconds: 5, Size: "1280x720", SubmittedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && f.Hooks() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != id {
		t.Errorf("webhooks named %v, want %s", got, id)
	}
	mu.Unlock()

	body := []byte(`{"request_id":"req-1","status":"OK","payload":{}}`)
	query := url.Values{"app": {"fal-ai/kling-video"}}
	now := time.Now()
	if id, ok, err := c.Notification(router.Callback{Header: f.Sign("req-1", body, now), Query: query, Body: body, Now: now}); err != nil || !ok || id != "fal-ai/kling-video/req-1" {
		t.Errorf("a signed webhook: %s %v %v", id, ok, err)
	}
	other := faltest.New(time.Hour, providertest.Chaos{})
	defer other.Close()
	for name, cb := range map[string]router.Callback{
		"another key":         {Header: other.Sign("req-1", body, now), Query: query, Body: body, Now: now},
		"a changed body":      {Header: f.Sign("req-1", body, now), Query: query, Body: []byte(`{"request_id":"req-2","status":"OK"}`), Now: now},
		"stale":               {Header: f.Sign("req-1", body, now.Add(-time.Hour)), Query: query, Body: body, Now: now},
		"unsigned":            {Header: http.Header{}, Query: query, Body: body, Now: now},
		"another request's":   {Header: f.Sign("req-2", body, now), Query: query, Body: body, Now: now},
		"a signature cut off": {Header: http.Header{"X-Fal-Webhook-Request-Id": {"req-1"}, "X-Fal-Webhook-User-Id": {"u"}, "X-Fal-Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "X-Fal-Webhook-Signature": {"abcd"}}, Query: query, Body: body, Now: now},
	} {
		if _, _, err := c.Notification(cb); !errors.Is(err, router.ErrBadNotification) {
			t.Errorf("%s: %v, want ErrBadNotification", name, err)
		}
	}
	if _, ok, err := c.Notification(router.Callback{Header: f.Sign("req-1", body, now), Body: body, Now: now}); ok || err != nil {
		t.Errorf("signed but sent without Tollgate's app: %v %v, want ignored", ok, err)
	}
}

// TestLostAndFailed: under chaos, a submit whose answer is lost is
// Unknown and one refused before anything was made is retryable.
func TestLostAndFailed(t *testing.T) {
	t.Parallel()
	f := faltest.New(time.Hour, providertest.Chaos{Rate: 1, Seed: 2, Hang: 500 * time.Millisecond})
	defer f.Close()
	c := fal.New(fal.Options{QueueURL: f.URL, APIURL: f.URL, APIKey: faltest.Key, Timeout: 300 * time.Millisecond})
	providertest.CheckSubmitOutcomes(t, 40, func(i int) error {
		_, err := c.Submit(context.Background(), router.Job{Model: kling, Prompt: "a fox " + strconv.Itoa(i), Seconds: 5, Size: "1280x720"})
		return err
	}, f.Failures)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"status":"COMPLETED","error":"Runner disconnected","error_type":"runner_disconnected"}`))
	f.Add([]byte(`{"video":{"url":"https://v3.fal.media/files/x.mp4"}}`))
	f.Add([]byte(`{"items":[{"request_id":"r","json_input":{"prompt":"p","duration":"5"}}],"has_more":true,"next_cursor":"MQ=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := fal.ParseStatus(b); err == nil && s.Status == "" {
			t.Fatal("a status without a status parsed")
		}
		if r, err := fal.ParseResult(b); err == nil && (r.Video == nil || r.Video.URL == "") {
			t.Fatal("a result without a video parsed")
		}
		_, _ = fal.ParseList(b)
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(422, []byte(`{"detail":[{"loc":["body","prompt"],"msg":"flagged","type":"content_policy_violation"}]}`))
	f.Add(504, []byte(`{"detail":"Request timed out","error_type":"request_timeout"}`))
	f.Add(429, []byte(`{"detail":"slow down"}`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 400 || status > 599 {
			return
		}
		e := fal.ParseError(status, http.Header{}, b)
		if e == nil || e.Message == "" {
			t.Fatal("an error without a message")
		}
		if status >= 500 && e.Kind != router.Retryable {
			t.Fatalf("%d classified %s", status, e.Kind)
		}
	})
}
