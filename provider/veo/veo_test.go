package veo_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tollgate"
	"tollgate/provider/providertest"
	"tollgate/provider/veo"
	"tollgate/provider/veo/veotest"
	"tollgate/router"
)

func wait(t *testing.T, c *veo.Client, id string) router.Status {
	t.Helper()
	st, _ := providertest.Wait(t, c.Status, id)
	return st
}

// TestClient runs the adapter against the fake: an operation polled to
// done, its sample downloaded with the key from the API's host and
// without it from storage, a reference image sent inline, and every
// failure classified, the refusal Veo hides in a done operation included.
func TestClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it): the fake renders clips with it")
	}
	f := veotest.New(100*time.Millisecond, providertest.Chaos{})
	defer f.Close()
	c := veo.New(veo.Options{BaseURL: f.BaseURL(), APIKey: veotest.Key, Timeout: 2 * time.Second})
	ctx := context.Background()
	id, err := c.Submit(ctx, router.Job{Kind: tollgate.VideoCreate, Model: "veo-3.0-fast-generate-001", Prompt: "a fox in snow", Seconds: 8, Size: "1280x720"})
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
	if leaks, files := f.KeyLeaks(); leaks != 0 || files != 1 {
		t.Errorf("the key reached storage %d times and the API's download %d times; want 0 and 1", leaks, files)
	}

	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 16, 9))); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "input.png")
	if err := os.WriteFile(in, img.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	iid, err := c.Submit(ctx, router.Job{Model: "veo-3.0-generate-001", Prompt: "it moves", Seconds: 8, Size: "1080x1920", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, c, iid); st.State != router.Completed {
		t.Errorf("image to video: %+v", st)
	}
	if err := c.Cancel(ctx, id); !errors.Is(err, router.ErrCannotCancel) {
		t.Errorf("cancel: %v, want ErrCannotCancel", err)
	}

	job := func(prompt string) router.Job {
		return router.Job{Model: "veo-3.0-generate-001", Prompt: prompt, Seconds: 8, Size: "1280x720"}
	}
	if _, err := veo.New(veo.Options{BaseURL: f.BaseURL(), APIKey: "wrong"}).Submit(ctx, job("a fox")); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a wrong key: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "veo-3.0-generate-001", Prompt: "a fox", Seconds: 4, Size: "1920x1080"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("4 s at 1080p, which Veo refuses: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "veo-9", Prompt: "a fox", Seconds: 8, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown model: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, router.Job{Model: "../files/x", Prompt: "a fox", Seconds: 8, Size: "1280x720"}); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a model that is a path: %v, want terminal", err)
	}
	if _, err := c.Submit(ctx, job("FORBIDDEN fox")); providertest.ErrOf(err).Kind != router.Refused {
		t.Errorf("a prompt refused at submit: %v, want refused", err)
	}
	for prompt, want := range map[string]router.Kind{"REFUSE fox": router.Refused, "BROKEN fox": router.Terminal} {
		rid, err := c.Submit(ctx, job(prompt))
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, c, rid)
		if st.State != router.Failed || st.Err == nil || st.Err.Kind != want {
			t.Errorf("%s: %+v, want failed and %s", prompt, st, want)
		}
		if prompt == "REFUSE fox" && st.Err.Code != "rai_media_filtered" {
			t.Errorf("a done operation without samples: code %s, want rai_media_filtered", st.Err.Code)
		}
	}
	if _, err := c.Status(ctx, "models/veo-3.0-generate-001/operations/none"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("an unknown operation: %v, want terminal", err)
	}
	if _, err := c.Status(ctx, "files/abc"); providertest.ErrOf(err).Kind != router.Terminal {
		t.Errorf("a name that is not an operation: %v, want terminal", err)
	}
}

// TestNoReconcile: the Gemini API lists no operations and takes no
// reference, so the adapter does not claim to reconcile; a submit whose
// answer is lost is Unknown, one refused before anything was made is
// retryable.
func TestNoReconcile(t *testing.T) {
	t.Parallel()
	var p router.Provider = veo.New(veo.Options{APIKey: "k"})
	if _, ok := p.(router.Reconciler); ok {
		t.Fatal("the Veo adapter must not be a Reconciler: the Gemini API cannot find an operation by reference")
	}
	f := veotest.New(time.Hour, providertest.Chaos{Rate: 1, Seed: 4, Hang: 500 * time.Millisecond})
	defer f.Close()
	c := veo.New(veo.Options{BaseURL: f.BaseURL(), APIKey: veotest.Key, Timeout: 300 * time.Millisecond})
	providertest.CheckSubmitOutcomes(t, 40, func(i int) error {
		_, err := c.Submit(context.Background(), router.Job{Model: "veo-3.0-generate-001", Prompt: "a fox " + strconv.Itoa(i), Seconds: 8, Size: "1280x720"})
		return err
	}, f.Failures)
	if fails := f.Failures(); f.Operations() != fails[providertest.FailLost] {
		t.Errorf("%d operations, want one per lost submit %v", f.Operations(), fails)
	}
}

func FuzzParseOperation(f *testing.F) {
	f.Add([]byte(`{"name":"models/veo-3.0-generate-001/operations/abc","done":true,"response":{"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"https://g/v1beta/files/x:download?alt=media"}}]}}}`))
	f.Add([]byte(`{"name":"models/veo-3.0-generate-001/operations/abc","done":true,"response":{"generateVideoResponse":{"raiMediaFilteredCount":1,"raiMediaFilteredReasons":["no"]}}}`))
	f.Add([]byte(`{"name":"models/veo-3.0-generate-001/operations/abc","done":true,"error":{"code":3,"message":"bad"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := veo.ParseOperation(b)
		if err != nil {
			return
		}
		if o.Name == "" {
			t.Fatal("an operation without a name parsed")
		}
		_ = o.Video()
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(429, []byte(`{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`))
	f.Add(400, []byte(`{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if status < 400 || status > 599 {
			return
		}
		e := veo.ParseError(status, nil, b)
		if e == nil || e.Message == "" {
			t.Fatal("an error without a message")
		}
		if status >= 500 && e.Kind != router.Retryable {
			t.Fatalf("%d classified %s", status, e.Kind)
		}
	})
}
