package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"tollgate"
	"tollgate/ledger"
	"tollgate/store/dial"
	"tollgate/store/fault"
	"tollgate/store/sqlite"

	"github.com/jackc/pgx/v5"
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
	c.AllowPrivateWebhooks = true
	inst, key, err := start(ctx, c, log)
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

	// Books that do not balance: /readyz says so, and one ledger.verify_failed
	// event goes to the endpoint that takes it, however many runs find it.
	if _, err := inst.ledger.CreateAccount(ctx, ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	g, err := inst.ledger.Grant(ctx, ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(5)})
	if err != nil {
		t.Fatal(err)
	}
	if st, m, err := try(inst.URL, key, "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://127.0.0.1:9/hook",
		"events": []string{"ledger.verify_failed"}}); err != nil || st != http.StatusCreated {
		t.Fatalf("endpoint: %d %v %v", st, m, err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(c.DataDir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	if _, err := raw.Exec(`UPDATE grants SET remaining = remaining - 1000000 WHERE id = ?`, g.ID); err != nil {
		t.Fatal(err)
	}
	var events, deliveries int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := raw.QueryRow(`SELECT count(*) FROM events WHERE type = 'ledger.verify_failed'`).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events > 0 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // several more runs find the same
	if err := raw.QueryRow(`SELECT count(*) FROM events WHERE type = 'ledger.verify_failed'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.type = 'ledger.verify_failed'`).Scan(&deliveries); err != nil {
		t.Fatal(err)
	}
	if events != 1 || deliveries != 1 {
		t.Errorf("got %d ledger.verify_failed events and %d deliveries, want one of each", events, deliveries)
	}
	if _, body, _ := try(inst.URL, "", "GET", "/readyz", nil); len(body["last_verify"].(map[string]any)["violations"].([]any)) == 0 {
		t.Errorf("/readyz does not show the violation: %v", body["last_verify"])
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
	// A newer binary's expand migration (it only adds): this one runs on.
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at, compat) VALUES ('9998_adds_a_table', 0, 'expand')`); err != nil {
		t.Fatal(err)
	}
	if out, err := run("migrate", "--dry-run"); err != nil {
		t.Fatalf("dry run beside an expand migration: %v\n%s", err, out)
	}
	c0 := newConfig()
	c0.DataDir, c0.Addr, c0.VerifyEvery = dir, "127.0.0.1:0", 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, _, err := start(context.Background(), c0, quiet)
	if err != nil {
		t.Fatalf("serve beside a newer binary's expand migration: %v", err)
	}
	if err := inst.close(quiet); err != nil {
		t.Fatal(err)
	}
	// A contract migration (it changes or drops): refused.
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

// TestPgDumpRestore backs a PostgreSQL installation up with pg_dump and
// restores it with pg_restore into a new database, as README says: verify
// is clean and every balance is as it was.
func TestPgDumpRestore(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping pg_dump and pg_restore")
	}
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install postgresql-client): %v", tool, err)
		}
	}
	t.Parallel()
	ctx := context.Background()
	schema, src := emptySchema(t, base, "tollgate_dump")
	restoredDB := fmt.Sprintf("tollgate_restored_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }() // test connection

	balances := func(dbURL string) (map[string]string, string) {
		var out bytes.Buffer
		cmd := verifyCmd()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"--database-url", dbURL})
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("verify: %v\n%s", err, out.String())
		}
		s, err := dial.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		l := ledger.New(s, ledger.Options{})
		got := map[string]string{}
		for _, id := range []string{"a", "b"} {
			b, err := l.Balance(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got[id] = b.Available.String() + "/" + b.Held.String()
		}
		return got, out.String()
	}

	s, err := dial.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(s, ledger.Options{})
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: id, Credits: tollgate.WholeCredits(100)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		h, err := l.Hold(ctx, ledger.HoldParams{AccountID: []string{"a", "b"}[i%2], Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(3)})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			if _, err := l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.Stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := balances(src)

	dump := filepath.Join(t.TempDir(), "tollgate.dump")
	if out, err := exec.CommandContext(ctx, "pg_dump", "-Fc", "--schema="+schema, "-f", dump, base).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+restoredDB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP DATABASE IF EXISTS `+restoredDB+` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + restoredDB
	if out, err := exec.CommandContext(ctx, "pg_restore", "--exit-on-error", "-d", u.String(), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	after, report := balances(withSearchPath(t, u.String(), schema))
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("got balances %v after the restore, want %v", after, before)
	}
	if !strings.Contains(report, "; 0 violations") {
		t.Errorf("verify of the restored database:\n%s", report)
	}
}

// TestFullDatabase fills a database to its size cap under writes: each
// refused write answers 503 saying the database is full with a
// Retry-After, reads go on, nothing acknowledged is lost, and writes work
// again by themselves once there is room.
func TestFullDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.SQLiteMaxMB = t.TempDir(), "127.0.0.1:0", 0, 2
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, key, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	l := inst.ledger
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(1_000_000)}); err != nil {
		t.Fatal(err)
	}
	var acked []string
	var full error
	for i := 0; i < 100_000 && full == nil; i++ {
		h, err := l.Hold(ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(1),
			Metadata: map[string]string{"job": strings.Repeat("x", 400)}})
		if err == nil {
			acked = append(acked, h.ID)
			_, err = l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID})
		}
		full = err
	}
	var te *tollgate.Error
	if !errors.As(full, &te) || te.Code != tollgate.CodeUnavailable || !strings.Contains(te.Message, "full") {
		t.Fatalf("got %v after %d holds, want unavailable: the database is full", full, len(acked))
	}
	// Over HTTP: a clear problem with Retry-After; reads go on. The hold
	// needs more room than the write that failed (its metadata is larger),
	// so that no page's leftover space can take it.
	req, _ := http.NewRequest("POST", inst.URL+"/v1/holds", strings.NewReader(`{"account_id":"a","product":"video","credits":"1","metadata":{"a":"`+
		strings.Repeat("y", 500)+`","b":"`+strings.Repeat("z", 500)+`"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "30" || !bytes.Contains(body, []byte("database is full")) {
		t.Errorf("got %d Retry-After %q %s, want 503 with Retry-After 30 saying the database is full", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if st, b, err := try(inst.URL, key, "GET", "/v1/accounts/a/balance", nil); err != nil || st != http.StatusOK {
		t.Errorf("a read of a full database: got %d %v %v", st, b, err)
	}
	// Room comes back: writes work again without a restart.
	if err := inst.store.(*sqlite.DB).LimitSize(ctx, 0); err != nil {
		t.Fatal(err)
	}
	h, err := l.Hold(ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(1)})
	if err != nil {
		t.Fatalf("a write once there is room: %v", err)
	}
	acked = append(acked, h.ID)
	for _, id := range acked {
		if _, err := l.HoldByID(ctx, id, ""); err != nil {
			t.Fatalf("hold %s was acknowledged and is lost: %v", id, err)
		}
	}
	r, err := l.Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
	t.Logf("%d holds acknowledged before the cap, all present; verify clean", len(acked)-1)
}

// TestSignals: /readyz carries the data directory's measures, and a backup
// clears the warning that there is none.
func TestSignals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
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
	deadline := time.Now().Add(10 * time.Second)
	for inst.health.signals.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st, body, err := try(inst.URL, "", "GET", "/readyz", nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("got %d %v %v", st, body, err)
	}
	sig, ok := body["signals"].(map[string]any)
	if !ok || sig["disk_free_bytes"].(float64) <= 0 || sig["database_bytes"].(float64) <= 0 || sig["last_backup_at"] != nil ||
		!strings.Contains(anyString(sig["warnings"]), "no backup in the last day") {
		t.Fatalf("got signals %v, want disk and database sizes, and a warning that there is no backup", body["signals"])
	}
	if _, err := backup(ctx, c, filepath.Join(t.TempDir(), "b.tg"), nil); err != nil {
		t.Fatal(err)
	}
	s, err := readSignals(c.DataDir, filepath.Join(c.DataDir, "tollgate.db"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.LastBackupAt == nil || time.Since(*s.LastBackupAt) > time.Minute || strings.Contains(strings.Join(s.Warnings, ";"), "no backup") {
		t.Errorf("after a backup: got %+v", s)
	}
	if s, err := readSignals(c.DataDir, filepath.Join(c.DataDir, "tollgate.db"), time.Now().Add(27*time.Hour)); err != nil ||
		!strings.Contains(strings.Join(s.Warnings, ";"), "no backup in the last day") {
		t.Errorf("27 hours later: got %+v %v, want the warning back", s, err)
	}
}

var adminKeyLine = regexp.MustCompile(`Admin key \(shown once, stored hashed\): (tg_[a-z0-9]+)`)

// TestFileSizeLimit runs serve under RLIMIT_FSIZE, as on a disk that fills
// up: once its files can grow no more, writes are refused with a 503 and
// nothing else, the process lives on and reads work; when the limit is
// lifted, writes work again without a restart; nothing acknowledged is
// lost and verify is clean.
func TestFileSizeLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is not installed: %v", err)
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(prlimit, fmt.Sprintf("--fsize=%d:unlimited", 3<<20), binary(t), "serve")
	cmd.Env = append(os.Environ(), "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_VERIFY_EVERY=0")
	var stdout, stderr bytes.Buffer
	mu := &sync.Mutex{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{&stdout, mu}, &lockedWriter{&stderr, mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var base, key string
	for deadline := time.Now().Add(30 * time.Second); base == "" || key == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
		if m := adminKeyLine.FindStringSubmatch(stdout.String()); m != nil {
			key = m[1]
		}
		mu.Unlock()
	}
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		st, m, err := try(base, key, method, path, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: got %d %v %v, want %d", method, path, st, m, err, want)
		}
		return m
	}
	must(201, "POST", "/v1/accounts", map[string]any{"id": "a", "name": "A"})
	must(201, "POST", "/v1/accounts/a/grants", map[string]any{"credits": "1000000", "source": "promo"})
	var acked []string
	var refused map[string]any
	for i := 0; i < 50_000 && refused == nil; i++ {
		st, m, err := try(base, key, "POST", "/v1/holds", map[string]any{"account_id": "a", "product": "video", "credits": "1",
			"metadata": map[string]string{"job": strings.Repeat("x", 450)}})
		switch {
		case err != nil:
			t.Fatalf("hold %d: %v (serve: %s)", i, err, stderr.String())
		case st == http.StatusCreated:
			acked = append(acked, m["id"].(string))
			if st, m, err := try(base, key, "POST", "/v1/holds/"+m["id"].(string)+"/capture", nil); err != nil || (st != 200 && st != 503) {
				t.Fatalf("capture: %d %v %v", st, m, err)
			}
		case st == http.StatusServiceUnavailable:
			refused = m
		default:
			t.Fatalf("hold %d: got %d %v, want 201 or 503", i, st, m)
		}
	}
	if refused == nil {
		t.Fatalf("%d holds made and none refused: the file size limit did not bite", len(acked))
	}
	t.Logf("after %d holds: %v", len(acked), refused["detail"])
	if cmd.ProcessState != nil {
		t.Fatal("serve died")
	}
	must(200, "GET", "/v1/accounts/a/balance", nil)
	if out, err := exec.Command(prlimit, "--pid", fmt.Sprint(cmd.Process.Pid), "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("lift the limit: %v %s", err, out)
	}
	var st int
	var m map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, m, err = try(base, key, "POST", "/v1/holds", map[string]any{"account_id": "a", "product": "video", "credits": "1"}); err == nil && st == 201 {
			break
		}
	}
	if st != 201 {
		t.Fatalf("a write once the limit is lifted: got %d %v %v", st, m, err)
	}
	acked = append(acked, m["id"].(string))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v: %s", err, stderr.String())
	}
	ctx := context.Background()
	s, err := dial.Open(ctx, "sqlite:"+filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	l := ledger.New(s, ledger.Options{})
	for _, id := range acked {
		if _, err := l.HoldByID(ctx, id, ""); err != nil {
			t.Fatalf("hold %s was acknowledged and is lost: %v", id, err)
		}
	}
	if r, err := l.Verify(ctx); err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
}

// TestSchemaCompatPostgres: on PostgreSQL too, a newer binary's expand
// migration lets this one run, a contract migration does not.
func TestSchemaCompatPostgres(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the PostgreSQL schema check")
	}
	t.Parallel()
	ctx := context.Background()
	u := freshDatabase(t, base) // migrated, in a schema of its own
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }() // test connection
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compat) VALUES ('9998_adds_a_table', now(), 'expand')`); err != nil {
		t.Fatal(err)
	}
	s, err := dial.Open(ctx, u)
	if err != nil {
		t.Fatalf("beside an expand migration: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_the_future', now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := dial.Open(ctx, u); err == nil || !strings.Contains(err.Error(), "9999_from_the_future") || strings.Contains(err.Error(), "9998") {
		t.Errorf("beside a contract migration: got %v, want a refusal naming it alone", err)
	}
}

// TestPostgresDown runs serve on PostgreSQL through a proxy that refuses
// and resets connections, as a failing database server or network would:
// requests answer 503 with Retry-After, /readyz says why, nothing
// acknowledged is lost, and serve works again by itself when the database
// comes back. The shared test cluster itself is never stopped.
func TestPostgresDown(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the PostgreSQL outage")
	}
	t.Parallel()
	ctx := context.Background()
	fresh := freshDatabase(t, base)
	u, err := url.Parse(fresh)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := fault.NewProxy(u.Host, &fault.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	u.Host = proxy.Addr()
	c := newConfig()
	c.DatabaseURL, c.Addr, c.VerifyEvery = u.String(), "127.0.0.1:0", 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, key, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	hold := func() (int, map[string]any) {
		st, m, err := try(inst.URL, key, "POST", "/v1/holds", map[string]any{"account_id": "a", "product": "video", "credits": "1"})
		if err != nil {
			t.Fatal(err)
		}
		return st, m
	}
	if st, m, err := try(inst.URL, key, "POST", "/v1/accounts", map[string]any{"id": "a", "name": "A"}); err != nil || st != 201 {
		t.Fatalf("account: %d %v %v", st, m, err)
	}
	var acked []string
	for range 10 {
		st, m := hold()
		if st != 201 {
			t.Fatalf("hold: %d %v", st, m)
		}
		acked = append(acked, m["id"].(string))
	}

	proxy.Down(true)
	st, m := hold()
	if st != http.StatusServiceUnavailable || m["code"] != "unavailable" {
		t.Errorf("a write while the database is down: got %d %v, want 503 unavailable", st, m)
	}
	if st, b, _ := try(inst.URL, "", "GET", "/readyz", nil); st != http.StatusServiceUnavailable || !strings.Contains(anyString(b["reasons"]), "database does not answer") {
		t.Errorf("/readyz while the database is down: got %d %v", st, b)
	}

	proxy.Down(false)
	var resumed bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, m := hold(); st == 201 {
			acked = append(acked, m["id"].(string))
			resumed = true
			break
		}
	}
	if !resumed {
		t.Fatal("writes did not resume once the database came back")
	}
	if st, b, _ := try(inst.URL, "", "GET", "/readyz", nil); st != http.StatusOK {
		t.Errorf("/readyz once the database is back: got %d %v", st, b)
	}
	for _, id := range acked {
		if _, err := inst.ledger.HoldByID(ctx, id, ""); err != nil {
			t.Errorf("hold %s was acknowledged and is lost: %v", id, err)
		}
	}
	if r, err := inst.ledger.Verify(ctx); err != nil || len(r.Violations) > 0 {
		t.Errorf("verify: %v %v", err, r.Violations)
	}
}
