package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/fault"
	"tollgate/store/sqlite"
	"tollgate/store/storetest"
)

func open(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

// TestConformanceCached runs the suite with the committer's state cache on,
// as tollgate serve runs SQLite.
func TestConformanceCached(t *testing.T) {
	storetest.RunWith(t, open, ledger.Options{CacheState: true})
}

func TestMigrateTwice(t *testing.T) {
	db := open(t).(*sqlite.DB)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, open)
}

func faulty(tb testing.TB, plan *fault.Plan) (store.Store, storetest.Control) {
	return fault.OpenSQLite(tb, plan), storetest.Control{}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	storetest.RunFaults(t, faulty, ledger.Options{})
}

func TestFaultsCached(t *testing.T) {
	t.Parallel()
	storetest.RunFaults(t, faulty, ledger.Options{CacheState: true})
}
