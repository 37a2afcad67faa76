package postgres_test

import (
	"context"
	"os"
	"testing"

	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/fault"
	"tollgate/store/postgres"
	"tollgate/store/storetest"
)

// open returns a migrated store in a schema of its own, dropped when tb ends.
func open(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	db, cleanup, err := postgres.OpenTestSchema(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, open)
}

func faulty(tb testing.TB, plan *fault.Plan) (store.Store, storetest.Control) {
	tb.Helper()
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	db, proxy := fault.OpenPostgres(tb, url, plan)
	return db, storetest.Control{Cut: proxy.CutAll, Down: proxy.Down}
}

// TestFaults runs the fault suite through a proxy that loses COMMIT
// answers, fails COMMITs and cuts every connection every 150ms, with three
// ledgers on one database as three instances would run.
func TestFaults(t *testing.T) {
	t.Parallel()
	storetest.RunFaults(t, faulty, ledger.Options{})
}
