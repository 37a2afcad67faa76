package postgres_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"tollgate/store/postgres"
	"tollgate/store/postgres/pgtest"
)

// TestOutsideTransactionMigration builds an index concurrently, as a
// migration marked outside-transaction does, records it, runs it again
// without harm, and rebuilds an index a stopped build left invalid.
func TestOutsideTransactionMigration(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the concurrent index build")
	}
	t.Parallel()
	ctx := context.Background()
	db, cleanup, err := pgtest.OpenSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	run := func(version, body string) error { return postgres.ApplyOutside(ctx, db, version, body) }
	mustValid := `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'widgets_id' AND n.nspname = current_schema() AND i.indisvalid) THEN RAISE EXCEPTION 'widgets_id is missing or invalid'; END IF; END $$;`
	if err := run("9001_widgets", "CREATE TABLE widgets (id bigint);\nINSERT INTO widgets SELECT g FROM generate_series(1, 100000) g;"); err != nil {
		t.Fatal(err)
	}
	index := "-- tollgate: outside-transaction\n-- compat: expand\nCREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_id\n    ON widgets (id);\n"
	if err := run("9002_widgets_index", index); err != nil {
		t.Fatal(err)
	}
	if err := run("9003_check", mustValid); err != nil {
		t.Fatal(err)
	}
	st, err := db.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.Expand, "9002_widgets_index") {
		t.Errorf("the migration was not recorded as expand: %+v", st)
	}
	// Recorded: running it again does nothing.
	if err := run("9002_widgets_index", "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_id ON nothing_at_all (id);"); err != nil {
		t.Errorf("a recorded migration ran again: %v", err)
	}
	// A build stopped part way leaves the index invalid: the next run
	// drops it and builds it again.
	if err := run("9004_break", `UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'widgets_id'::regclass;`); err != nil {
		t.Fatal(err)
	}
	if err := run("9005_check_broken", mustValid); err == nil {
		t.Fatal("the index was not made invalid: the test proves nothing")
	}
	if err := run("9006_widgets_index_again", index); err != nil {
		t.Fatal(err)
	}
	if err := run("9007_check", mustValid); err != nil {
		t.Errorf("after the rerun: %v", err)
	}
}
