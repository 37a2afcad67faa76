package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/sqlite"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/tollgate once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tollgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	out    *bytes.Buffer // stderr: the log
	stdout *bytes.Buffer
	mu     *sync.Mutex
}

// log returns what the server logged so far.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServe runs `tollgate serve` with env and waits for its URL.
func startServe(t *testing.T, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), append([]string{"TOLLGATE_ADDR=127.0.0.1:0"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: &bytes.Buffer{}, stdout: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stderr = &lockedWriter{p.out, p.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Most tests have stopped it already: then both fail, to no harm.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.url = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start: %s", p.out)
	}
	return p
}

// stop sends SIGTERM and waits for serve to exit cleanly.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM: %s", err, p.log())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func call(t *testing.T, base, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	st, m, err := try(base, key, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return st, m
}

func try(base, key, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read to the end: nothing left to report
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil && !errors.Is(err, io.EOF) { // io.EOF: no body
		return 0, nil, err
	}
	return resp.StatusCode, m, nil
}

// TestTwoServersSharePostgres runs two `tollgate serve` processes on one
// PostgreSQL database: 200 one-credit holds race for 50 credits through both,
// and exactly 50 win.
func TestTwoServersSharePostgres(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the two-process PostgreSQL race")
	}
	ctx := context.Background()
	db, cleanup, err := pgtest.OpenSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var schema string
	if err := db.Pool().QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	const key = testAdminKey
	env := []string{"TOLLGATE_DATABASE_URL=" + u.String(), "TOLLGATE_ADMIN_KEY=" + key, "TOLLGATE_DATA_DIR=" + t.TempDir()}
	a, b := startServe(t, env...), startServe(t, env...)

	if st, m := call(t, a.url, key, "POST", "/v1/accounts", map[string]string{"id": "shared", "name": "Shared", "plan": "free"}); st != 201 {
		t.Fatalf("create account: %d %v", st, m)
	}
	var won, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := []*proc{a, b}[i%2]
			// The free plan's 30 credits of video plus a 20-credit grant.
			st, m, err := try(srv.url, key, "POST", "/v1/holds", map[string]string{"account_id": "shared", "product": "video", "credits": "1"})
			switch {
			case err != nil:
				t.Errorf("hold: %v", err)
			case st == 201:
				won.Add(1)
			case st == 402:
				refused.Add(1)
			default:
				t.Errorf("hold: %d %v", st, m)
			}
		}()
		if i == 0 {
			if st, m := call(t, b.url, key, "POST", "/v1/accounts/shared/grants", map[string]string{"credits": "20"}); st != 201 {
				t.Fatalf("grant: %d %v", st, m)
			}
		}
	}
	wg.Wait()
	if won.Load() != 50 || refused.Load() != 150 {
		t.Fatalf("got %d holds and %d refusals, want 50 and 150", won.Load(), refused.Load())
	}
	for _, p := range []*proc{a, b} {
		p.stop(t)
	}
	r, err := ledger.New(db, ledger.Options{}).Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
}

// TestSIGTERMKeepsAcknowledgedWrites stops a server in the middle of a stream
// of holds: every hold it acknowledged is in the database afterwards, and
// the database verifies.
func TestSIGTERMKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	const key = "tg_test_admin_key_of_32_characters"
	p := startServe(t, "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_ADMIN_KEY="+key, "TOLLGATE_DATABASE_URL=")
	if st, m := call(t, p.url, key, "POST", "/v1/accounts", map[string]string{"id": "a", "name": "A", "plan": "pro"}); st != 201 {
		t.Fatalf("create account: %d %v", st, m)
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, m, err := try(p.url, key, "POST", "/v1/holds", map[string]string{"account_id": "a", "product": "video", "credits": "0.001"})
				if err != nil {
					return // the server went away
				}
				if st == 201 {
					mu.Lock()
					acked = append(acked, m["id"].(string))
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM: %s", err, p.out)
	}
	close(stop)
	wg.Wait()
	if !strings.Contains(p.out.String(), "stopped cleanly") {
		t.Fatalf("no clean stop in the log: %s", p.out)
	}
	if len(acked) == 0 {
		t.Fatal("no hold was acknowledged before SIGTERM")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	l := ledger.New(s, ledger.Options{})
	for _, id := range acked {
		if _, err := l.HoldByID(ctx, id, ""); err != nil {
			t.Fatalf("acknowledged hold %s is gone: %v", id, err)
		}
	}
	r, err := l.Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
	t.Logf("%d acknowledged holds all committed", len(acked))
}

// TestBench runs a short bench end to end, with the naive baseline and the
// open loop: it must report every phase, find no overdraft and verify
// clean, the naive server's holds included.
func TestBench(t *testing.T) {
	var out bytes.Buffer
	o := &benchOptions{accounts: 20, clients: 8, duration: 300 * time.Millisecond, hotQuota: 100, baseline: true, openLoop: 50}
	err := runBench(context.Background(), &config{}, o, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, &out)
	}
	for _, want := range []string{"healthz", "holds", "hot", "naive-holds", "naive-hot", "holds@50", "naive@50", "x the naive baseline",
		"overdraft 100 holds won", "no overdraft", "verify: 46 accounts", "0 violations", "durability: SQLite synchronous=FULL, journal_mode=wal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, &out)
		}
	}
}

// TestOneServerPerSQLiteFile: the committer keeps state in memory, so a
// second process on the same SQLite file is refused with a clear message.
func TestOneServerPerSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	startServe(t, "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_ADMIN_KEY="+testAdminKey, "TOLLGATE_DATABASE_URL=")
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_ADMIN_KEY="+testAdminKey, "TOLLGATE_DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another process is serving") {
		t.Fatalf("a second serve on one SQLite file: %v\n%s", err, out)
	}
	// The same file by another name: a symbolic link, a hard link.
	other := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "tollgate.db"), filepath.Join(other, "sym.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "tollgate.db"), filepath.Join(other, "hard.db")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sym.db", "hard.db"} {
		// A second server that starts would run until killed.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary(t), "serve")
		cmd.Env = append(os.Environ(), "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_DATA_DIR="+other, "TOLLGATE_ADMIN_KEY="+testAdminKey,
			"TOLLGATE_DATABASE_URL=sqlite:"+filepath.Join(other, name))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "another process is serving") {
			t.Fatalf("a second serve on the same SQLite file through %s: %v\n%s", name, err, out)
		}
	}
}

// TestKill9ThenReplay kills a server with SIGKILL in the middle of a stream
// of usages sent with Idempotency-Keys, starts it again on the same data,
// and sends every request again with its key: each took effect exactly
// once, those answered before are answered the same, and the database
// verifies.
func TestKill9ThenReplay(t *testing.T) {
	dir := t.TempDir()
	const key = "tg_test_admin_key_for_the_kill_test"
	env := []string{"TOLLGATE_DATA_DIR=" + dir, "TOLLGATE_ADMIN_KEY=" + key, "TOLLGATE_DATABASE_URL="}
	p := startServe(t, env...)
	if st, m := call(t, p.url, key, "POST", "/v1/accounts", map[string]string{"id": "a", "name": "A", "plan": "free"}); st != 201 {
		t.Fatalf("create account: %d %v", st, m)
	}
	if st, m := call(t, p.url, key, "POST", "/v1/accounts/a/grants", map[string]any{"credits": "1000000", "source": "admin"}); st != 201 {
		t.Fatalf("grant: %d %v", st, m)
	}
	type request struct {
		key  string
		body map[string]any
		id   string // the answer before the kill, "" if none
	}
	var mu sync.Mutex
	var sent []*request
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				r := &request{key: fmt.Sprintf("use-%d-%d", w, i), body: map[string]any{"account_id": "a", "product": "assistant",
					"credits": fmt.Sprintf("0.%03d", 1+i%999), "metadata": map[string]string{"req": fmt.Sprint(i)}}}
				mu.Lock()
				sent = append(sent, r)
				mu.Unlock()
				st, m, err := tryKey(p.url, key, r.key, "POST", "/v1/usage", r.body)
				if err != nil {
					return // killed
				}
				if st == 201 {
					mu.Lock()
					r.id = m["id"].(string)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait() // "signal: killed": the kill is the test
	wg.Wait()

	p = startServe(t, env...)
	answered := 0
	ids := map[string]string{} // req -> usage id
	for _, r := range sent {
		st, m, err := tryKey(p.url, key, r.key, "POST", "/v1/usage", r.body)
		if err != nil || st != 201 {
			t.Fatalf("request %s sent again: %d %v %v", r.key, st, m, err)
		}
		id := m["id"].(string)
		if r.id != "" {
			answered++
			if id != r.id {
				t.Fatalf("request %s was answered %s before the kill and %s after", r.key, r.id, id)
			}
		}
		ids[r.body["metadata"].(map[string]string)["req"]] = id
	}
	p.stop(t)

	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	var holds []tollgate.Hold
	err = s.Read(ctx, func(tx store.Tx) (err error) {
		holds, err = tx.HoldList(ctx, store.HoldListParams{AccountID: "a"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, h := range holds {
		seen[h.Metadata["req"]]++
		if ids[h.Metadata["req"]] != h.ID {
			t.Errorf("usage %s of request %s is not the one answered (%s)", h.ID, h.Metadata["req"], ids[h.Metadata["req"]])
		}
	}
	for req := range ids {
		if seen[req] != 1 {
			t.Errorf("request %s took effect %d times", req, seen[req])
		}
	}
	r, err := ledger.New(s, ledger.Options{}).Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
	if answered == 0 || answered == len(sent) {
		t.Fatalf("%d of %d requests answered before the kill; want some but not all", answered, len(sent))
	}
	t.Logf("%d requests sent, %d answered before SIGKILL; all %d took effect once after replay", len(sent), answered, len(ids))
}

func tryKey(base, key, idem, method, path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read to the end: nothing left to report
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, m, nil
}

// testAdminKey is an admin key long enough for serve.
const testAdminKey = "tg_admin_key_for_tests_0123456789abcdef"

// TestAdminKeyRotation: TOLLGATE_ADMIN_KEY holds the only admin keys. A key
// generated on first start stops working once it is set; an old key stops
// working once it leaves the variable; "new,old" accepts both while
// rotating; a key under 32 characters is refused at start.
func TestAdminKeyRotation(t *testing.T) {
	dir := t.TempDir()
	env := []string{"TOLLGATE_DATA_DIR=" + dir, "TOLLGATE_DATABASE_URL="}
	stop := func(p *proc) { p.stop(t) }
	status := func(p *proc, key string) int {
		st, _, err := try(p.url, key, "GET", "/v1/accounts", nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// First start: a key is generated and printed.
	p := startServe(t, append(env, "TOLLGATE_ADMIN_KEY=")...)
	var generated string
	for range 50 {
		p.mu.Lock()
		m := regexp.MustCompile(`Admin key \(shown once, stored hashed\): (\S+)`).FindStringSubmatch(p.stdout.String())
		p.mu.Unlock()
		if m != nil {
			generated = m[1]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if generated == "" || status(p, generated) != 200 {
		t.Fatalf("first start: generated key %q does not work", generated)
	}
	stop(p)
	oldKey, newKey := "old-admin-key-0123456789abcdefghijkl", "new-admin-key-0123456789abcdefghijkl"
	p = startServe(t, append(env, "TOLLGATE_ADMIN_KEY="+oldKey)...)
	if status(p, oldKey) != 200 || status(p, generated) != 401 {
		t.Fatalf("with TOLLGATE_ADMIN_KEY set: its key %d, the stored one %d; want 200 and 401", status(p, oldKey), status(p, generated))
	}
	if !strings.Contains(p.log(), "stored in the database are disabled") {
		t.Errorf("the log does not say stored admin keys are disabled:\n%s", p.log())
	}
	stop(p)
	p = startServe(t, append(env, "TOLLGATE_ADMIN_KEY="+newKey+","+oldKey)...)
	if status(p, oldKey) != 200 || status(p, newKey) != 200 {
		t.Fatalf("rotating: old %d, new %d; want both 200", status(p, oldKey), status(p, newKey))
	}
	stop(p)
	p = startServe(t, append(env, "TOLLGATE_ADMIN_KEY="+newKey)...)
	if status(p, oldKey) != 401 || status(p, newKey) != 200 {
		t.Fatalf("after rotating: old %d, new %d; want 401 and 200", status(p, oldKey), status(p, newKey))
	}
	stop(p)
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), append(env, "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_ADMIN_KEY=k")...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "at least 32") {
		t.Fatalf("a one-character admin key: %v\n%s", err, out)
	}
}

// TestIdleConnectionsCannotLockOut: 40 clients hold idle keep-alive
// connections to a server allowing 20; a new client is still served (the
// oldest idle ones are closed to make room).
func TestIdleConnectionsCannotLockOut(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_ADMIN_KEY="+testAdminKey, "TOLLGATE_DATABASE_URL=", "TOLLGATE_MAX_CONNS=20")
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			_ = c.Close() // the server has closed most of them already
		}
	}()
	host := strings.TrimPrefix(p.url, "http://")
	for range 40 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("an idle client's first request: %v", err)
		}
		idle = append(idle, c) // kept open, idle
	}
	// The server made room by closing the oldest idle connections.
	closed := 0
	for _, c := range idle {
		if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	if closed < 20 {
		t.Fatalf("%d of 40 idle connections were closed, want at least 20 (the server keeps 20 at most)", closed)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 5 {
		res, err := client.Get(p.url + "/healthz")
		if err != nil {
			t.Fatalf("a new client behind 40 idle ones (request %d): %v", i, err)
		}
		_ = res.Body.Close() // only the status matters here
		if res.StatusCode != 200 {
			t.Fatalf("a new client: got %d", res.StatusCode)
		}
	}
}

// TestDemoModeOnlyWhereSafe: a server reachable from elsewhere with no
// payment provider sells nothing (a 402 says so, checkout is a 403), so no
// key can mint credits through the development checkout; TOLLGATE_DEMO=1
// turns the demo on there; with Stripe configured it is refused.
func TestDemoModeOnlyWhereSafe(t *testing.T) {
	for _, demo := range []bool{false, true} {
		env := []string{"TOLLGATE_DATA_DIR=" + t.TempDir(), "TOLLGATE_ADMIN_KEY=" + testAdminKey, "TOLLGATE_DATABASE_URL=", "TOLLGATE_ADDR=0.0.0.0:0"}
		if demo {
			env = append(env, "TOLLGATE_DEMO=1")
		}
		p := startServe(t, env...)
		call(t, p.url, testAdminKey, "POST", "/v1/accounts", map[string]string{"id": "d", "name": "D", "plan": "free"})
		st, m := call(t, p.url, testAdminKey, "POST", "/v1/holds", map[string]string{"account_id": "d", "product": "assistant", "credits": "1"})
		offers, _ := m["offers"].([]any)
		st2, _ := call(t, p.url, testAdminKey, "POST", "/v1/checkout", map[string]string{"account_id": "d", "pack_id": "pack_10"})
		p.mu.Lock()
		out := p.stdout.String()
		p.mu.Unlock()
		if !demo {
			if st != 402 || len(offers) != 0 || m["purchases_unavailable"] == nil || st2 != 403 || !strings.Contains(out, "Payments: none") {
				t.Fatalf("not loopback, no demo: 402 %d with %d offers (%v), checkout %d; stdout %s", st, len(offers), m["purchases_unavailable"], st2, out)
			}
		} else if st != 402 || len(offers) == 0 || st2 != 201 || !strings.Contains(out, "DEMO MODE") {
			t.Fatalf("TOLLGATE_DEMO=1: 402 %d with %d offers, checkout %d; stdout %s", st, len(offers), st2, out)
		}
		p.stop(t)
	}
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_DATA_DIR="+t.TempDir(), "TOLLGATE_ADMIN_KEY="+testAdminKey,
		"TOLLGATE_DATABASE_URL=", "TOLLGATE_DEMO=1", "TOLLGATE_STRIPE_SECRET_KEY=sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET=whsec_x")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "cannot be on with Stripe") {
		t.Fatalf("demo mode with Stripe: %v\n%s", err, out)
	}
	// Stripe sends buyers back to absolute URLs: it needs the public URL.
	cmd = exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_DATA_DIR="+t.TempDir(), "TOLLGATE_ADMIN_KEY="+testAdminKey,
		"TOLLGATE_DATABASE_URL=", "TOLLGATE_PUBLIC_URL=", "TOLLGATE_STRIPE_SECRET_KEY=sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET=whsec_x")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "TOLLGATE_PUBLIC_URL") {
		t.Fatalf("Stripe without a public URL: %v\n%s", err, out)
	}
}

// TestStripeMockWalkthrough runs the README's purchase against stripe-mock
// (Stripe's API as its OpenAPI document describes it): serve with Stripe
// and a public URL, a key, a checkout whose session stripe-mock accepts
// (absolute return URLs), the order listed, a refund asked of Stripe.
func TestStripeMockWalkthrough(t *testing.T) {
	mock := os.Getenv("TOLLGATE_TEST_STRIPE_URL")
	if mock == "" {
		t.Skip("TOLLGATE_TEST_STRIPE_URL not set (stripe-mock, e.g. http://127.0.0.1:12111): skipping")
	}
	p := startServe(t, "TOLLGATE_DATA_DIR="+t.TempDir(), "TOLLGATE_ADMIN_KEY="+testAdminKey, "TOLLGATE_DATABASE_URL=",
		"TOLLGATE_PUBLIC_URL=https://tollgate.example.com", "TOLLGATE_STRIPE_SECRET_KEY=sk_test_123",
		"TOLLGATE_STRIPE_WEBHOOK_SECRET=whsec_test", "TOLLGATE_STRIPE_API_URL="+mock)
	if st, m := call(t, p.url, testAdminKey, "POST", "/v1/accounts", map[string]string{"id": "ada", "name": "Ada", "plan": "free"}); st != 201 {
		t.Fatalf("create account: %d %v", st, m)
	}
	st, k := call(t, p.url, testAdminKey, "POST", "/v1/accounts/ada/keys", map[string]string{"name": "ada laptop"})
	key, _ := k["key"].(string)
	if st != 201 || key == "" {
		t.Fatalf("create key: %d %v", st, k)
	}
	st, co := call(t, p.url, key, "POST", "/v1/checkout", map[string]string{"pack_id": "pack_10"})
	order, _ := co["order"].(map[string]any)
	if u, _ := co["checkout_url"].(string); st != 201 || !strings.HasPrefix(u, "https://") || order["status"] != "pending" || order["provider"] != "stripe" {
		t.Fatalf("checkout through stripe-mock: %d %v", st, co)
	}
	st, list := call(t, p.url, testAdminKey, "GET", "/v1/orders?status=pending&account_id=ada", nil)
	if data, _ := list["data"].([]any); st != 200 || len(data) != 1 {
		t.Fatalf("pending orders: %d %v", st, list)
	}
	// Not paid yet: nothing to refund, and the error says so.
	if st, m := call(t, p.url, testAdminKey, "POST", "/v1/orders/"+order["id"].(string)+"/refund", map[string]any{}); st != 409 {
		t.Fatalf("refund of an unpaid order: %d %v", st, m)
	}
}
