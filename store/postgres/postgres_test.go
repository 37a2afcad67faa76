package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate"
	"tollgate/store"
	"tollgate/store/postgres"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/record"
	"tollgate/store/storetest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

// openTest returns a migrated store in a schema of its own.
func openTest(t *testing.T) *postgres.DB {
	t.Helper()
	db, cleanup, err := pgtest.OpenSchema(t.Context(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return db
}

// TestContract runs the stores' contract suite on PostgreSQL.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(tb testing.TB) store.Store {
		db, cleanup, err := pgtest.OpenSchema(context.Background(), testURL(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(cleanup)
		return db
	})
}

func write(t *testing.T, db *postgres.DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Write(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, db *postgres.DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Read(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func account(id string) tollgate.Account {
	return tollgate.Account{ID: id, Name: "n " + id, Plan: "free", Timezone: "UTC", Status: tollgate.AccountActive, CreatedAt: t0}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	db := openTest(t) // migrated once
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations rows: got %d, want %d", n, want)
	}
}

// TestMigrateConcurrent starts two stores on one empty schema, named by the
// search_path of the URL, and migrates both at once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	base := testURL(t)
	ctx := t.Context()
	var b [8]byte
	rand.Read(b[:])
	schema := "tollgate_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }() // the test has its answer; a failed close leaks one connection
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		t.Fatal(err)
	}
	defer func() { // after the stores close
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	}()

	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	var dbs [2]*postgres.DB
	for i := range dbs {
		if dbs[i], err = postgres.Open(ctx, u.String()); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = dbs[i].Close() }() // always nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+ident+`.schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations rows: got %d, want %d", n, want)
	}
	// Both stores work in the schema of the URL.
	write(t, dbs[0], func(tx store.Tx) error { return tx.AccountInsert(ctx, account("a")) })
	read(t, dbs[1], func(tx store.Tx) error {
		_, err := tx.AccountByID(ctx, "a")
		return err
	})
}

// migrationCount is the number of embedded migrations.
func migrationCount(t *testing.T) int {
	t.Helper()
	n, err := postgres.Migrations()
	if err != nil || n == 0 {
		t.Fatalf("embedded migrations: %v (%d)", err, n)
	}
	return n
}

// TestAuditAppendOnly: the database itself refuses to change, delete or
// truncate audit entries.
func TestAuditAppendOnly(t *testing.T) {
	db := openTest(t)
	e := tollgate.AuditEntry{ID: "aud_1", CreatedAt: t0, ActorKind: "admin", Action: "grant.create", Detail: "{}"}
	write(t, db, func(tx store.Tx) error { return tx.AuditAppend(t.Context(), []tollgate.AuditEntry{e}) })
	for _, q := range []string{`UPDATE audit_log SET action = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := db.Pool().Exec(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused", q, err)
		}
	}
	read(t, db, func(tx store.Tx) error {
		es, err := tx.AuditList(t.Context(), record.AuditListParams{})
		if err != nil || len(es) != 1 || es[0] != e {
			t.Errorf("after the attempts: %+v %v, want the entry as written", es, err)
		}
		return nil
	})
}

// TestReadsLeaveRoomForWrites: with every read slot taken by a read that
// does not end, a write still gets a connection and commits.
func TestReadsLeaveRoomForWrites(t *testing.T) {
	db := openTest(t)
	slots := postgres.ReadSlots(db)
	if slots != postgres.DefaultMaxConns-postgres.WriteReserve {
		t.Fatalf("%d read slots, want %d", slots, postgres.DefaultMaxConns-postgres.WriteReserve)
	}
	release := make(chan struct{})
	in := make(chan struct{}, slots+8)
	var wg sync.WaitGroup
	for range slots + 8 { // more readers than slots: the rest wait for one
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Read(context.Background(), func(store.Tx) error {
				in <- struct{}{}
				<-release
				return nil
			}); err != nil {
				t.Errorf("read: %v", err)
			}
		}()
	}
	for range slots {
		<-in
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range postgres.WriteReserve {
		if err := db.Write(ctx, func(tx store.Tx) error { return tx.AccountInsert(ctx, account(fmt.Sprint("w", i))) }); err != nil {
			t.Fatalf("write %d with every read slot taken: %v", i, err)
		}
	}
	if n := len(in); n != 0 {
		t.Fatalf("%d readers beyond the slots got in", n)
	}
	close(release)
	wg.Wait()
}

// TestDurability: the test server commits durably, and the store says so.
func TestDurability(t *testing.T) {
	t.Parallel()
	got, err := openTest(t).Durability(t.Context())
	if err != nil || !strings.Contains(got, "synchronous_commit=on") || !strings.Contains(got, "fsync=on") {
		t.Fatalf("durability %q %v", got, err)
	}
}
