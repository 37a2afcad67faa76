package gateway_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"tollgate"
	"tollgate/gateway"
	"tollgate/provider/local"
	"tollgate/router"
)

// TestMedia: probe, trim, last frame, and joining clips encoded alike
// (stream copy) or not (encoded afresh at the size asked).
func TestMedia(t *testing.T) {
	t.Parallel()
	m := gateway.FindMedia(local.Thumbnail, local.Spritesheet)
	if !m.Available() {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	r := local.New(0, tollgate.SystemClock{})
	clip := func(name string, seconds int, size string) string {
		t.Helper()
		id, err := r.Submit(ctx, router.Job{Prompt: name, Seconds: seconds, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := r.Fetch(ctx, id, &b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".mp4")
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	probe := func(path string) gateway.Probe {
		t.Helper()
		p, err := m.Probe(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, small := clip("a", 4, "1280x720"), clip("b", 2, "1280x720"), clip("small", 2, "640x360")
	if p := probe(a); p.Size() != "1280x720" || p.Seconds < 3.9 || p.Seconds > 4.1 {
		t.Errorf("probe: %+v", p)
	}
	trimmed := filepath.Join(dir, "trimmed.mp4")
	if err := m.Trim(ctx, a, trimmed, 2); err != nil || probe(trimmed).Seconds > 2.2 {
		t.Errorf("trim: %v %+v", err, probe(trimmed))
	}
	frame := filepath.Join(dir, "frame.png")
	if err := m.LastFrame(ctx, a, frame); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(frame); err != nil || fi.Size() < 100 {
		t.Errorf("last frame: %v", err)
	}
	joined := filepath.Join(dir, "joined.mp4")
	if err := m.Concat(ctx, a, b, joined); err != nil {
		t.Fatal(err)
	}
	if p := probe(joined); p.Seconds < 5.9 || p.Seconds > 6.2 {
		t.Errorf("joined alike: %+v, want 6 s", p)
	}
	mixed := filepath.Join(dir, "mixed.mp4")
	if err := m.ConcatEncode(ctx, a, small, mixed, "1280x720"); err != nil {
		t.Fatal(err)
	}
	if p := probe(mixed); p.Size() != "1280x720" || p.Seconds < 5.9 || p.Seconds > 6.2 {
		t.Errorf("joined afresh: %+v, want 6 s at 1280x720", p)
	}
	if _, err := m.Probe(ctx, frame+".none"); err == nil {
		t.Error("a missing file probed")
	}
}
