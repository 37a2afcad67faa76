package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestReadyzDrains: /readyz answers 200 while serving, and 503 saying
// "draining" from SIGTERM until the drain period ends; then serve stops
// cleanly.
func TestReadyzDrains(t *testing.T) {
	t.Parallel()
	p := startServe(t, "TOLLGATE_DATA_DIR="+t.TempDir(), "TOLLGATE_DRAIN=3s")
	st, body, err := try(p.url, "", "GET", "/readyz", nil)
	if err != nil || st != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("before SIGTERM: got %d %v %v, want 200 ready", st, body, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, body, err = try(p.url, "", "GET", "/readyz", nil)
		if st == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || st != http.StatusServiceUnavailable || body["status"] != "not_ready" || !strings.Contains(anyString(body["reasons"]), "draining") {
		t.Fatalf("while draining: got %d %v %v, want 503 not_ready with draining", st, body, err)
	}
	// Requests are still served while draining.
	if st, _, err := try(p.url, "", "GET", "/healthz", nil); err != nil || st != http.StatusOK {
		t.Errorf("healthz while draining: got %d %v", st, err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after draining: %s", err, p.log())
	}
}

func anyString(v any) string {
	var b bytes.Buffer
	for _, e := range v.([]any) {
		b.WriteString(e.(string) + ";")
	}
	return b.String()
}

// TestScheduledVerify runs the background verify and finds its result in
// /readyz's details.
func TestScheduledVerify(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery = t.TempDir(), "127.0.0.1:0", 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, _, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	inst.verifyEvery(ctx, 20*time.Millisecond, log)
	deadline := time.Now().Add(10 * time.Second)
	for inst.health.verify.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st, body, err := try(inst.URL, "", "GET", "/readyz", nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("got %d %v %v", st, body, err)
	}
	v, ok := body["last_verify"].(map[string]any)
	if !ok || len(v["violations"].([]any)) != 0 || v["error"] != nil || v["accounts"] == nil {
		t.Errorf("got last_verify %v, want a clean run", body["last_verify"])
	}
}

// TestNewerSchemaRefused: a database migrated by a newer tollgate is not
// served, and the message says what to do; migrate --dry-run says so too.
func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := rootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--data-dir", dir))
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := run("migrate", "--dry-run"); err != nil || !strings.Contains(out, "would apply 0001_") {
		t.Fatalf("dry run on a new database: %v\n%s", err, out)
	}
	if out, err := run("migrate", "--dry-run"); err != nil || !strings.Contains(out, "0 migrations applied") {
		t.Fatalf("the dry run applied something: %v\n%s", err, out)
	}
	if out, err := run("migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := run("migrate", "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "newer tollgate (migrations 9999_from_the_future)") {
		t.Errorf("dry run on a newer database: got %v\n%s", err, out)
	}
	c := newConfig()
	c.DataDir, c.Addr = dir, "127.0.0.1:0"
	_, _, err = start(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "run that version or a newer one") {
		t.Errorf("serve on a newer database: got %v, want a refusal saying what to do", err)
	}
}
