package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
	"tollgate/store/sqlite"
	"tollgate/store/storetest"
)

func open(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestContract runs the stores' contract suite on SQLite.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestMigrateTwice(t *testing.T) {
	db := open(t).(*sqlite.DB)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

// TestAuditAppendOnly: the database itself refuses to change or delete
// audit entries, also through another connection.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tollgate.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := tollgate.AuditEntry{ID: "aud_1", CreatedAt: time.Unix(1, 0).UTC(), ActorKind: "admin", Action: "grant.create", Detail: "{}"}
	if err := db.Write(t.Context(), func(tx store.Tx) error { return tx.AuditAppend(t.Context(), []tollgate.AuditEntry{e}) }); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := raw.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	for _, q := range []string{`UPDATE audit_log SET action = 'x'`, `DELETE FROM audit_log`} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused", q, err)
		}
	}
	err = db.Read(t.Context(), func(tx store.Tx) error {
		es, err := tx.AuditList(t.Context(), record.AuditListParams{})
		if err != nil || len(es) != 1 || es[0] != e {
			t.Errorf("after the attempts: %+v %v, want the entry as written", es, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDurability: the writer commits with synchronous=FULL in WAL mode, and
// says so.
func TestDurability(t *testing.T) {
	t.Parallel()
	got, err := open(t).(*sqlite.DB).Durability(t.Context())
	if err != nil || got != "SQLite synchronous=FULL, journal_mode=wal" {
		t.Fatalf("durability %q %v", got, err)
	}
}
