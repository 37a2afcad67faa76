package local_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/provider/local"
	"tollgate/router"
)

// TestLifecycle: progress rises with the render time, the job completes,
// a reconcile finds exactly the job a submit made, and the clip is what
// was asked.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	p := local.New(10*time.Second, clock)
	ctx := context.Background()
	j := router.Job{VideoID: "video_1", Prompt: "a red fox in the snow, " + strings.Repeat("long prompt ", 40), Seconds: 4, Size: "640x360",
		SubmittedAt: clock.Now()}
	id, err := p.Submit(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	for range 4 {
		st, err := p.Status(ctx, id)
		if err != nil || st.State != router.Running || st.Progress <= last && last != 0 || st.Progress > 99 {
			t.Fatalf("status %+v %v after %d", st, err, last)
		}
		last = st.Progress
		clock.Advance(2 * time.Second)
	}
	clock.Advance(3 * time.Second)
	if st, _ := p.Status(ctx, id); st.State != router.Completed || st.Progress != 100 {
		t.Fatalf("after the render time: %+v", st)
	}
	if got, found, err := p.Reconcile(ctx, j); err != nil || !found || got != id {
		t.Errorf("reconcile: %s %v %v, want %s", got, found, err, id)
	}
	if _, err := p.Submit(ctx, router.Job{Prompt: "x", Seconds: 4, Size: "641x360"}); err == nil {
		t.Error("an odd size was accepted")
	}
	if _, err := p.Status(ctx, "local_!!"); err == nil {
		t.Error("a job id that decodes to nothing was accepted")
	}
	if p.FFmpeg == "" {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	var b bytes.Buffer
	if err := p.Fetch(ctx, id, &b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=width,height:format=duration", "-of", "default=nw=1", path).Output()
	if err != nil || !strings.Contains(string(out), "width=640") || !strings.Contains(string(out), "height=360") || !strings.Contains(string(out), "duration=4.0") {
		t.Errorf("the clip: %s %v", out, err)
	}
}

// TestWithoutFFmpeg: the embedded clip is served.
func TestWithoutFFmpeg(t *testing.T) {
	t.Parallel()
	p := local.New(0, tollgate.SystemClock{})
	p.FFmpeg = ""
	id, err := p.Submit(context.Background(), router.Job{Prompt: "x", Seconds: 8, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Fetch(context.Background(), id, &b); err != nil || !bytes.Equal(b.Bytes(), local.Clip) {
		t.Errorf("fetch without ffmpeg: %d bytes, %v; want the embedded clip", b.Len(), err)
	}
}
