package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/sqlite"
)

// servingDB opens a data directory as serve does: migrated, locked to this
// process, with a running ledger and an account of plenty.
func servingDB(t *testing.T, dir string) (*sqlite.DB, *ledger.Ledger) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.LockExclusive(); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(s, ledger.Options{CacheState: true})
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(1_000_000)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Stop()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, l
}

// TestBackupWhileServing backs up a database while holds keep being made,
// restores it into an empty directory, and finds every hold acknowledged
// before the backup began, the data directory's files, and verify clean.
func TestBackupWhileServing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	_, l := servingDB(t, dir)
	media := filepath.Join(dir, "videos", "vid_1.mp4")
	if err := os.MkdirAll(filepath.Dir(media), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(media, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}

	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
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
				h, err := l.Hold(ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(1)})
				if err == nil {
					_, err = l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID})
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{h.ID, time.Now()})
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	to := filepath.Join(t.TempDir(), "tollgate.backup")
	c := &config{DataDir: dir}
	m, err := backup(ctx, c, to, nil)
	time.Sleep(100 * time.Millisecond) // holds keep coming after the backup
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(to); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("got %v, %v; want the backup readable by its owner only", st, err)
	}
	names := map[string]bool{}
	for _, f := range m.Files {
		names[f.Name] = true
	}
	if !names["tollgate.db"] || !names["data/videos/vid_1.mp4"] || len(m.Files) != 2 {
		t.Errorf("got files %v, want the database and the one video", m.Files)
	}

	restored := t.TempDir()
	var out bytes.Buffer
	cmd := restoreCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--from", to, "--data-dir", restored})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "; 0 violations") {
		t.Errorf("restore did not report verify clean:\n%s", out.String())
	}
	if b, err := os.ReadFile(filepath.Join(restored, "videos", "vid_1.mp4")); err != nil || string(b) != "not really a video" {
		t.Errorf("got the video %q, %v back", b, err)
	}

	r, err := sqlite.Open(ctx, filepath.Join(restored, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	var before, after, present int
	err = r.Read(ctx, func(tx store.Tx) error {
		for _, a := range acks {
			hs, err := tx.HoldsByID(ctx, []string{a.id})
			if err != nil {
				return err
			}
			switch {
			case a.at.Before(began):
				before++
				if len(hs) != 1 {
					return fmt.Errorf("hold %s, acknowledged before the backup began, is not in it", a.id)
				}
			default:
				after++
			}
			present += len(hs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 || after == 0 {
		t.Fatalf("got %d holds before the backup and %d after; the test needs both", before, after)
	}
	t.Logf("%d holds acknowledged before the backup began, all present; %d after, %d of them present", before, after, present-before)
}

// TestBackupEncrypted round-trips a backup encrypted to an age recipient
// and refuses it without the identity, or with another.
func TestBackupEncrypted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	servingDB(t, dir)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(keys, name)
		if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	right, wrong := write("right.txt", id.String()), write("wrong.txt", other.String())
	to := filepath.Join(t.TempDir(), "b.age")
	if _, err := backup(ctx, &config{DataDir: dir}, to, []string{id.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(to)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("SQLite format 3")) || !bytes.HasPrefix(b, []byte(ageHeader)) {
		t.Fatal("the backup is not encrypted")
	}
	for _, tc := range []struct{ name, identity, want string }{
		{"no identity", "", "encrypted: give --identity"},
		{"another identity", wrong, "recipients"},
	} {
		_, err := restore(ctx, &config{DataDir: t.TempDir()}, to, tc.identity)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	into := t.TempDir()
	if _, err := restore(ctx, &config{DataDir: into}, to, right); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Check(ctx, filepath.Join(into, "tollgate.db")); err != nil {
		t.Error(err)
	}
}

// TestRestoreRefuses: never over a database, in use or not; never a damaged
// or foreign archive; never over a backup already written.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	servingDB(t, dir) // locked, as by a running serve
	to := filepath.Join(t.TempDir(), "b.tar.gz")
	if _, err := backup(ctx, &config{DataDir: dir}, to, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := backup(ctx, &config{DataDir: dir}, to, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second backup to the same file: got %v, want a refusal", err)
	}
	if _, err := restore(ctx, &config{DataDir: dir}, to, ""); err == nil || !strings.Contains(err.Error(), "in use by a running tollgate serve") {
		t.Errorf("restore over a served database: got %v", err)
	}

	idle := t.TempDir()
	if err := os.WriteFile(filepath.Join(idle, "tollgate.db"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(ctx, &config{DataDir: idle}, to, ""); err == nil || !strings.Contains(err.Error(), "empty data directory") {
		t.Errorf("restore over an idle database: got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(idle, "tollgate.db")); string(b) != "old" {
		t.Error("restore changed the database it refused to overwrite")
	}

	b, err := os.ReadFile(to)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "damaged")
	cut := append([]byte{}, b[:len(b)*2/3]...)
	if err := os.WriteFile(damaged, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	if _, err := restore(ctx, &config{DataDir: empty}, damaged, ""); err == nil {
		t.Error("a cut archive restored")
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a failed restore left %v behind", entries)
	}
	foreign := filepath.Join(t.TempDir(), "foreign")
	if err := os.WriteFile(foreign, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(ctx, &config{DataDir: t.TempDir()}, foreign, ""); err == nil || !strings.Contains(err.Error(), "not a Tollgate backup") {
		t.Errorf("a foreign file: got %v", err)
	}
	if _, err := backup(ctx, &config{DatabaseURL: "postgres://x@127.0.0.1/db"}, filepath.Join(t.TempDir(), "pg"), nil); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of PostgreSQL: got %v, want it to point to pg_dump", err)
	}
}
