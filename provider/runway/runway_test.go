package runway_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/providertest"
	"tollgate/provider/runway"
	"tollgate/provider/runway/runwaytest"
	"tollgate/router"
)

func client(f *runwaytest.Fake, key string) *runway.Client {
	return runway.New(runway.Options{BaseURL: f.URL, APIKey: key, Timeout: 2 * time.Second})
}

func wait(t *testing.T, c *runway.Client, id string) (router.Status, []int) {
	t.Helper()
	return providertest.Wait(t, c.Status, id)
}

func pngFile(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 16, 9))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "input.png")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClient runs the adapter against the fake: text and image tasks,
// progress that only rises, the output fetched without the API key,
// cancel, and every failure as the router needs it classified.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := runwaytest.New(200*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	c := client(f, runwaytest.Key)
	ctx := context.Background()

	id, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoCreate, Model: "gen4.5", Prompt: "a fox", Seconds: 5, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	st, progress := wait(t, c, id)
	if st.State != router.Completed {
		t.Fatalf("status %+v", st)
	}
	rose := false
	for i := 1; i < len(progress); i++ {
		if progress[i] < 0 || progress[i] > 99 {
			t.Errorf("running with progress %d", progress[i])
		}
		if progress[i] < progress[i-1] {
			t.Errorf("progress fell: %v", progress)
		}
		rose = rose || progress[i] > 0
	}
	if !rose {
		t.Errorf("Runway reports progress while running; got %v", progress)
	}
	var b bytes.Buffer
	if err := c.Fetch(ctx, id, &b); err != nil || b.Len() < 1000 {
		t.Fatalf("fetch: %d bytes, %v", b.Len(), err)
	}
	if f.KeyLeaks() != 0 {
		t.Errorf("the API key went to the output's host %d times", f.KeyLeaks())
	}

	// A reference image goes to image_to_video, inline.
	iid, err := c.Submit(ctx, router.Job{Model: "gen4_turbo", Prompt: "it moves", Seconds: 10, Size: "720x1280", Input: pngFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := wait(t, c, iid); st.State != router.Completed {
		t.Errorf("image task: %+v", st)
	}
	// gen4_turbo without an image is refused by Runway, for good.
	if _, err := c.Submit(ctx, router.Job{Model: "gen4_turbo", Prompt: "a fox", Seconds: 5, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("gen4_turbo from text: %v, want terminal", err)
	}

	// Cancel stops a running task; a task Runway no longer has is as good.
	cid, err := c.Submit(ctx, router.Job{Model: "gen4.5", Prompt: "to cancel", Seconds: 5, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, cid); err != nil || !f.Cancelled(cid) {
		t.Errorf("cancel: %v, cancelled %v", err, f.Cancelled(cid))
	}
	if st, err := c.Status(ctx, cid); err != nil || st.State != router.Failed || st.Err.Kind != router.Terminal {
		t.Errorf("a cancelled task: %+v %v, want failed", st, err)
	}
	if err := c.Cancel(ctx, "00000000-0000-4000-8000-000000000000"); err != nil {
		t.Errorf("cancel of an unknown task: %v", err)
	}

	// Failures.
	job := func(prompt string) router.Job {
		return router.Job{Model: "gen4.5", Prompt: prompt, Seconds: 5, Size: "1280x720"}
	}
	if _, err := client(f, "key_wrong").Submit(ctx, job("a fox")); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "gen4.5", Prompt: "a fox", Seconds: 5, Size: "1024x1792"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a ratio Runway does not make: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, job("FORBIDDEN fox")); providertest.ErrOf(err).Kind != router.Refused {
		t.Errorf("a prompt refused at submit: %v, want refused", err)
	}
	if _, err := c.Submit(ctx, job("NOCREDITS fox")); providertest.ErrOf(err).Kind != router.Terminal || providertest.ErrOf(err).Code != "provider_credits" {
		t.Errorf("Runway out of credits: %v, want terminal provider_credits", err)
	}
	if _, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoRemix, Prompt: "x", SourceJob: id}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a remix: %v, want terminal", err)
	}
	for prompt, want := range map[string]router.Kind{"REFUSE fox": router.Refused, "BADOUTPUT fox": router.Terminal} {
		rid, err := c.Submit(ctx, job(prompt))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := wait(t, c, rid)
		if st.State != router.Failed || st.Err == nil || st.Err.Kind != want {
			t.Errorf("%s: %+v, want failed and %s", prompt, st, want)
		}
	}
	if _, err := c.Status(ctx, "00000000-0000-4000-8000-000000000000"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown task: %v, want terminal", err)
	}
	if _, err := c.Status(ctx, "../../v1/x"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an id that is a path: %v, want terminal", err)
	}
}

// TestNoReconcile: Runway lists no tasks and takes no reference, so the
// adapter does not claim to reconcile; a submit whose answer is lost is
// Unknown, a failure before anything was made is retryable.
func TestNoReconcile(t *testing.T) {
	t.Parallel()
	var p router.Provider = runway.New(runway.Options{APIKey: "k"})
	if _, ok := p.(router.Reconciler); ok {
		t.Fatal("the Runway adapter must not be a Reconciler: Runway cannot find a task by reference")
	}
	f := runwaytest.New(time.Hour, providertest.Chaos{Rate: 1, Seed: 3, Hang: 500 * time.Millisecond})
	defer f.Close()
	c := runway.New(runway.Options{BaseURL: f.URL, APIKey: runwaytest.Key, Timeout: 300 * time.Millisecond})
	providertest.CheckSubmitOutcomes(t, 40, func(i int) error {
		_, err := c.Submit(context.Background(), router.Job{Model: "gen4.5", Prompt: "a fox " + string(rune('a'+i%26)), Seconds: 5, Size: "1280x720"})
		if e := providertest.ErrOf(err); e.RetryAfter > 0 && e.Kind != router.Retryable {
			t.Errorf("Retry-After on a %s failure", e.Kind)
		}
		return err
	}, f.Failures)
	fails := f.Failures()
	if f.Tasks() != fails[providertest.FailLost] {
		t.Errorf("%d tasks made, want one per lost submit (%d)", f.Tasks(), fails[providertest.FailLost])
	}
}

func FuzzParseTask(f *testing.F) {
	f.Add([]byte(`{"id":"3086d332-0000-4000-8000-000000000001","status":"RUNNING","progress":0.4,"createdAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"id":"x","status":"SUCCEEDED","output":["https://a/b.mp4"]}`))
	f.Add([]byte(`{"id":"x","status":"FAILED","failure":"no","failureCode":"SAFETY.INPUT.TEXT"}`))
	f.Add([]byte(`{"id":"x","status":"RUNNING","progress":1e308}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := runway.ParseTask(b)
		if err != nil {
			return
		}
		if tk.ID == "" {
			t.Fatal("a task without an id parsed")
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"error":"Validation of body failed","issues":[{"message":"bad ratio","path":["ratio"]}]}`))
	f.Add(429, []byte(`{"error":"slow down"}`))
	f.Add(500, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 400 || status > 599 {
			return
		}
		e := runway.ParseError(status, nil, b)
		if e == nil || e.Message == "" {
			t.Fatal("an error without a message")
		}
		if status >= 500 && e.Kind != router.Retryable {
			t.Fatalf("%d classified %s", status, e.Kind)
		}
	})
}
