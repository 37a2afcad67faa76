package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tollgate/ledger"
	"tollgate/store/dial"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// replicaRPO bounds the recovery point this test accepts: Litestream
// ships the WAL every second; the rest is slack for a loaded CI machine.
const replicaRPO = 5 * time.Second

// TestReplicaSurvivesKill9: under load, serve is killed with SIGKILL and
// its database deleted; restored from the file replica, verify is clean
// and every hold acknowledged more than the recovery point before the kill
// is there.
func TestReplicaSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir, replicaDir := t.TempDir(), t.TempDir()
	p := startServe(t, "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_REPLICA_URL=file://"+replicaDir, "TOLLGATE_VERIFY_EVERY=0")
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		m = adminKeyLine.FindStringSubmatch(p.stdout.String())
		p.mu.Unlock()
	}
	if m == nil {
		t.Fatalf("no admin key in %s", p.stdout.String())
	}
	key := m[1]
	if st, b, err := try(p.url, key, "POST", "/v1/accounts", map[string]any{"id": "a", "name": "A"}); err != nil || st != 201 {
		t.Fatalf("account: %d %v %v", st, b, err)
	}
	if st, b, err := try(p.url, key, "POST", "/v1/accounts/a/grants", map[string]any{"credits": "1000000", "source": "promo"}); err != nil || st != 201 {
		t.Fatalf("grant: %d %v %v", st, b, err)
	}
	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	var killing atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, b, err := try(p.url, key, "POST", "/v1/holds", map[string]any{"account_id": "a", "product": "video", "credits": "1"})
				if err != nil || st != http.StatusCreated {
					if !killing.Load() {
						t.Errorf("hold before the kill: %d %v %v", st, b, err)
					}
					return
				}
				mu.Lock()
				acks = append(acks, ack{b["id"].(string), time.Now()})
				mu.Unlock()
				if st, b, err := try(p.url, key, "POST", "/v1/holds/"+b["id"].(string)+"/capture", nil); (err != nil || st != http.StatusOK) && !killing.Load() {
					t.Errorf("capture before the kill: %d %v %v", st, b, err)
					return
				}
			}
		})
	}
	time.Sleep(4 * time.Second)
	killing.Store(true)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = p.cmd.Wait()
	close(stop)
	wg.Wait()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	restored := t.TempDir()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"restore", "--from-replica", "file://" + replicaDir, "--data-dir", restored})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("restore from the replica: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "; 0 violations") {
		t.Fatalf("verify after the restore:\n%s", out.String())
	}
	ctx := context.Background()
	s, err := dial.Open(ctx, "sqlite:"+filepath.Join(restored, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	l := ledger.New(s, ledger.Options{})
	sort.Slice(acks, func(i, j int) bool { return acks[i].at.Before(acks[j].at) })
	var lost []ack
	for _, a := range acks {
		if _, err := l.HoldByID(ctx, a.id, ""); err != nil {
			lost = append(lost, a)
		}
	}
	window := time.Duration(0)
	if len(lost) > 0 {
		window = killed.Sub(lost[0].at)
	}
	t.Logf("%d holds acknowledged; %d not in the replica, the oldest %s before the kill", len(acks), len(lost), window.Round(time.Millisecond))
	if window > replicaRPO {
		t.Errorf("hold %s, acknowledged %s before the kill, is not in the replica (recovery point %s)", lost[0].id, window, replicaRPO)
	}
	// The test means something only if holds were being made up to the kill.
	if len(acks) < 100 || killed.Sub(acks[len(acks)-1].at) > time.Second {
		t.Errorf("%d holds were made, the last %s before the kill: the test needs load up to the kill", len(acks), killed.Sub(acks[len(acks)-1].at))
	}
}

// TestReplicaS3 replicates to S3-compatible storage (an in-process fake of
// S3's API) and restores from it.
func TestReplicaS3(t *testing.T) {
	backend := s3mem.New()
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	defer fake.Close()
	if err := backend.CreateBucket("tollgate"); err != nil {
		t.Fatal(err)
	}
	// AWS_CA_BUNDLE, set on some machines, makes the SDK refuse Litestream's HTTP client.
	creds := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_CA_BUNDLE="}
	for _, kv := range creds {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // for the restore, in this process
	}
	replicaURL := "s3://tollgate/db?endpoint=" + fake.URL + "&region=us-east-1&forcePathStyle=true"
	dir := t.TempDir()
	p := startServe(t, append(creds, "TOLLGATE_DATA_DIR="+dir, "TOLLGATE_REPLICA_URL="+replicaURL, "TOLLGATE_VERIFY_EVERY=0")...)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		m = adminKeyLine.FindStringSubmatch(p.stdout.String())
		p.mu.Unlock()
	}
	if m == nil {
		t.Fatalf("no admin key in %s", p.stdout.String())
	}
	key := m[1]
	if st, b, err := try(p.url, key, "POST", "/v1/accounts", map[string]any{"id": "a", "name": "A"}); err != nil || st != 201 {
		t.Fatalf("account: %d %v %v", st, b, err)
	}
	var holds []string
	for range 20 {
		st, b, err := try(p.url, key, "POST", "/v1/holds", map[string]any{"account_id": "a", "product": "video", "credits": "1"})
		if err != nil || st != 201 {
			t.Fatalf("hold: %d %v %v", st, b, err)
		}
		holds = append(holds, b["id"].(string))
	}
	if st, b, err := try(p.url, "", "GET", "/readyz", nil); err != nil || st != 200 || b["signals"].(map[string]any)["replica"] == nil {
		t.Errorf("/readyz does not show the replica: %d %v %v", st, b, err)
	}
	p.stop(t) // ships what is left to the replica

	restored := t.TempDir()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"restore", "--from-replica", replicaURL, "--data-dir", restored})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("restore from S3: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "; 0 violations") {
		t.Fatalf("verify after the restore:\n%s", out.String())
	}
	ctx := context.Background()
	s, err := dial.Open(ctx, "sqlite:"+filepath.Join(restored, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	l := ledger.New(s, ledger.Options{})
	for _, id := range holds {
		if _, err := l.HoldByID(ctx, id, ""); err != nil {
			t.Errorf("hold %s, made before serve stopped, is not in the replica: %v", id, err)
		}
	}
}
