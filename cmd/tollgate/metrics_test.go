package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tollgate/router"
)

// scrape reads GET /metrics with key and returns the status and body.
func scrape(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample returns the value of the series whose line starts with name
// (labels included, as Prometheus writes them), or -1.
func sample(body, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+-]+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetrics: /metrics answers admin keys only, and counts what the jobs
// and the ledger did: a created and completed video, its credits held and
// captured, its attempt's latency, and the ledger's batches.
func TestMetrics(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	e := newSDKEnv(t)
	if st, _ := scrape(t, e.inst.URL, ""); st != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", st)
	}
	if st, _ := scrape(t, e.inst.URL, e.key); st != http.StatusForbidden {
		t.Errorf("an account key: %d, want 403", st)
	}
	st, v, err := try(e.inst.URL, e.key, "POST", "/v1/videos", map[string]any{"prompt": "a fox", "model": "sora-2", "seconds": "4", "size": "1280x720"})
	if err != nil || st != 200 {
		t.Fatalf("create: %d %v %v", st, v, err)
	}
	waitVideos(t, e.inst.URL, e.key, []string{v["id"].(string)})
	st, body := scrape(t, e.inst.URL, e.admin)
	if st != http.StatusOK {
		t.Fatalf("admin: %d", st)
	}
	for name, want := range map[string]float64{
		`tollgate_video_jobs_total{model="sora-2",provider="",status="created"}`:                    1,
		`tollgate_video_jobs_total{model="sora-2",provider="local",status="completed"}`:             1,
		`tollgate_video_credits_total{state="held"}`:                                                0.4,
		`tollgate_video_credits_total{state="captured"}`:                                            0.4,
		`tollgate_video_attempt_seconds_count{model="sora-2",outcome="completed",provider="local"}`: 1,
	} {
		if got := sample(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"tollgate_ledger_batches_total", "tollgate_ledger_batch_seconds_count", "tollgate_ledger_operations_total"} {
		if got := sample(body, name); got < 3 {
			t.Errorf("%s = %v, want the batches run so far", name, got)
		}
	}
	if got := sample(body, "tollgate_ready"); got != 1 {
		t.Errorf("tollgate_ready = %v, want 1", got)
	}
	for _, name := range []string{"tollgate_disk_free_bytes", "tollgate_database_bytes", "tollgate_last_backup_timestamp_seconds", "tollgate_verify_violations"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("%s is missing", name)
		}
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Error("Go's and the process's collectors are missing")
	}
}

// TestProvidersFromEnvironment: each provider whose key is set is on, and
// only those; without any, the local renderer stands in (demo mode).
func TestProvidersFromEnvironment(t *testing.T) {
	t.Parallel()
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery = t.TempDir(), "127.0.0.1:0", 0
	c.RunwayKey, c.LumaKey, c.ReplicateToken, c.FalKey, c.GeminiKey = "key_x", "luma-x", "r8_x", "id:secret", "AIza-x"
	c.PublicURL = "https://tollgate.example"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, _, err := start(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inst.close(log) }()
	rt := inst.videos.Router()
	got := slices.Sorted(maps.Keys(rt.Providers))
	if want := []string{"fal", "luma", "replicate", "runway", "veo"}; !slices.Equal(got, want) || rt.Demo() {
		t.Errorf("providers on: %v (demo %v), want %v", got, rt.Demo(), want)
	}
	for name, p := range rt.Providers {
		if _, isNotifier := p.(router.Notifier); (name == "luma" || name == "replicate" || name == "fal") != isNotifier {
			t.Errorf("%s: takes notifications %v", name, isNotifier)
		}
	}
}
