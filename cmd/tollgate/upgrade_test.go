package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/dial"
	"tollgate/store/record"
)

// upgradeFixtures are the databases earlier releases left behind after
// store/testdata/upgrade/make.sh's scenario, one per schema version kept.
const upgradeDir = "../../store/testdata/upgrade"

func upgradeFixtures(t *testing.T, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(upgradeDir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no upgrade fixtures (*%s) in %s", suffix, upgradeDir)
	}
	return files
}

// checkUpgraded opens the database at dbURL, which migrates it, and checks
// that the scenario's data came through: verify is clean, the account, its
// promotion and both holds are there, and the ledger writes on it.
func checkUpgraded(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	s, err := dial.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open and migrate: %v", err)
	}
	defer func() { _ = s.Close() }()
	st, err := s.Schema(ctx)
	if err != nil || len(st.Pending) > 0 || len(st.Unknown) > 0 {
		t.Fatalf("schema after the upgrade: %+v %v", st, err)
	}
	l := ledger.New(s, ledger.Options{})
	verify := func(when string) {
		r, err := l.Verify(ctx)
		if err != nil || len(r.Violations) > 0 {
			t.Fatalf("verify %s: %v %v", when, err, r.Violations)
		}
	}
	verify("after the upgrade")
	if got, want := describeSchema(t, dbURL), describeSchema(t, freshDatabase(t, dbURL)); !slices.Equal(got, want) {
		t.Errorf("the upgraded schema differs from a new database's:\n%s", diffLines(got, want))
	}
	if _, err := l.Account(ctx, "acme"); err != nil {
		t.Fatalf("the account: %v", err)
	}
	gs, err := l.Grants(ctx, ledger.GrantListParams{AccountID: "acme", Source: tollgate.SourcePromo})
	if err != nil || len(gs) != 1 || gs[0].Amount != tollgate.WholeCredits(100) {
		t.Fatalf("the promotion: got %+v %v", gs, err)
	}
	hs, err := l.Holds(ctx, ledger.HoldListParams{AccountID: "acme"})
	if err != nil || len(hs) != 2 {
		t.Fatalf("the holds: got %+v %v", hs, err)
	}
	var captured, open bool
	for _, h := range hs {
		switch {
		case h.Status == tollgate.HoldCaptured && h.Captured == tollgate.WholeCredits(10) && h.Amount == tollgate.Credits(12_500_000):
			captured = true
		case (h.Status == tollgate.HoldPending || h.Status == tollgate.HoldExpired) && h.Amount == tollgate.WholeCredits(3):
			open = true
		}
	}
	if !captured || !open {
		t.Fatalf("the holds: got %+v, want the capture of 10 of 12.5 and the hold of 3", hs)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	h, err := l.Hold(ctx, ledger.HoldParams{AccountID: "acme", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(2)})
	if err != nil {
		t.Fatalf("a hold after the upgrade: %v", err)
	}
	if _, err := l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
		t.Fatalf("a capture after the upgrade: %v", err)
	}
	verify("after new writes")
}

// TestUpgradeSQLite migrates every SQLite fixture to this binary's schema.
func TestUpgradeSQLite(t *testing.T) {
	t.Parallel()
	for _, f := range upgradeFixtures(t, ".sqlite") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "tollgate.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			var applied int
			err = db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&applied)
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("fixture at %d migrations", applied)
			checkUpgraded(t, "sqlite:"+path)
		})
	}
}

// TestUpgradePostgres loads every PostgreSQL fixture into a schema of its
// own and migrates it to this binary's schema.
func TestUpgradePostgres(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the PostgreSQL upgrades")
	}
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatalf("psql is not installed (apt-get install postgresql-client): %v", err)
	}
	t.Parallel()
	for _, f := range upgradeFixtures(t, ".pg.sql") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			schema := fmt.Sprintf("tollgate_upgrade_%d", time.Now().UnixNano())
			dump := filepath.Join(t.TempDir(), "dump.sql")
			if err := os.WriteFile(dump, []byte(strings.ReplaceAll(string(b), "UPGRADE_SCHEMA", schema)), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dropSchema(base, schema) })
			if out, err := exec.CommandContext(ctx, "psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", dump, base).CombinedOutput(); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
			checkUpgraded(t, withSearchPath(t, base, schema))
		})
	}
}

// TestEveryReleaseHasAFixture: each schema an earlier release could have
// left (every migration but the newest) has its fixture on SQLite, so that
// an upgrade from it is tested; make.sh makes one.
func TestEveryReleaseHasAFixture(t *testing.T) {
	t.Parallel()
	versions, err := filepath.Glob("../../store/sqlite/migrations/*.sql")
	if err != nil || len(versions) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	for _, v := range versions[:len(versions)-1] {
		name := strings.TrimSuffix(filepath.Base(v), ".sql")
		for _, suffix := range []string{".sqlite", ".pg.sql"} {
			if _, err := os.Stat(filepath.Join(upgradeDir, name+suffix)); err != nil {
				t.Errorf("no upgrade fixture %s%s: run store/testdata/upgrade/make.sh with the last release at %s", name, suffix, name)
			}
		}
	}
}

// describeSchema lists a database's columns (with their types) and indexes,
// sorted: what an upgraded database must share with a new one.
func describeSchema(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	if dial.IsPostgres(dbURL) {
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }() // test connection
		rows, err := conn.Query(ctx, `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
			FROM information_schema.columns WHERE table_schema = current_schema()
			UNION ALL SELECT 'index ' || indexname || ' ' || replace(indexdef, current_schema() || '.', '') FROM pg_indexes WHERE schemaname = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
	} else {
		db, err := sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite:"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }() // read only
		rows, err := db.Query(`SELECT 'column ' || m.name || '.' || p.name || ' ' || p.type || ' ' || p."notnull" || ' ' || coalesce(p.dflt_value, '')
			FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'
			UNION ALL SELECT 'index ' || name || ' ' || sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }() // read only
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range out {
		out[i] = strings.Join(strings.Fields(s), " ")
	}
	slices.Sort(out)
	return out
}

// emptySchema makes an empty schema named prefix_<time> in the test
// database, dropped when the test ends, and returns its name and a URL
// whose connections use it.
func emptySchema(t *testing.T, base, prefix string) (string, string) {
	t.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }() // test connection
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSchema(base, schema) })
	return schema, withSearchPath(t, base, schema)
}

// dropSchema drops a test schema and all in it; a test's cleanup has no
// one to report a failure to, and the schema's name is used once.
func dropSchema(base, schema string) {
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, base); err == nil {
		_, _ = c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		_ = c.Close(ctx)
	}
}

// withSearchPath is dbURL with its connections using schema.
func withSearchPath(t *testing.T, dbURL, schema string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshDatabase makes a new database of dbURL's kind at this binary's
// schema and returns its URL.
func freshDatabase(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	u := "sqlite:" + filepath.Join(t.TempDir(), "fresh.db")
	if dial.IsPostgres(dbURL) {
		_, u = emptySchema(t, os.Getenv("TOLLGATE_TEST_DATABASE_URL"), "tollgate_fresh")
	}
	s, err := dial.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return u
}

// diffLines shows the lines only one side has.
func diffLines(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("  upgraded only: " + g + "\n")
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("  new only:      " + w + "\n")
		}
	}
	return b.String()
}

// TestVideoEndedBackfill: a job that ended before the videos' ended_at
// column existed gets it from its document when the migration adds it,
// on both stores, so a report over a period finds it.
func TestVideoEndedBackfill(t *testing.T) {
	t.Parallel()
	ended := time.Date(2026, 11, 30, 12, 34, 56, 789000000, time.UTC)
	doc := fmt.Sprintf(`{"ID":"video_old","AccountID":"acme","Status":"completed","Model":"sora-2","CompletedAt":%q}`, ended.Format(time.RFC3339Nano))
	insert := fmt.Sprintf(`INSERT INTO videos (id, account_id, status, next_at, deleted_at, version, doc) VALUES ('video_old', 'acme', 'completed', NULL, NULL, 3, '%s');`+
		`INSERT INTO videos (id, account_id, status, next_at, deleted_at, version, doc) VALUES ('video_running', 'acme', 'in_progress', NULL, NULL, 1, '{"ID":"video_running","Status":"in_progress"}');`, doc)
	check := func(t *testing.T, dbURL string) {
		t.Helper()
		ctx := context.Background()
		s, err := dial.Open(ctx, dbURL)
		if err != nil {
			t.Fatalf("open and migrate: %v", err)
		}
		defer func() { _ = s.Close() }()
		var got []tollgate.Video
		err = s.Read(ctx, func(tx store.Tx) error {
			got, err = tx.VideosEnded(ctx, record.VideosEndedParams{To: ended.Add(time.Hour), AfterAt: ended.Add(-time.Hour), Limit: 10})
			return err
		})
		if err != nil || len(got) != 1 || got[0].ID != "video_old" {
			t.Fatalf("ended after the backfill: %+v %v; want video_old alone", got, err)
		}
		if err := s.Read(ctx, func(tx store.Tx) error {
			got, err = tx.VideosEnded(ctx, record.VideosEndedParams{To: ended.Add(time.Millisecond), AfterAt: ended.Add(-time.Millisecond), Limit: 10})
			return err
		}); err != nil || len(got) != 1 {
			t.Errorf("ended_at is not within a millisecond of the document's CompletedAt: %v %v", got, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(filepath.Join(upgradeDir, "0020_characters.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "tollgate.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(insert)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		check(t, "sqlite:"+path)
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
		if base == "" {
			t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping PostgreSQL")
		}
		t.Parallel()
		b, err := os.ReadFile(filepath.Join(upgradeDir, "0020_characters.pg.sql"))
		if err != nil {
			t.Fatal(err)
		}
		schema := fmt.Sprintf("tollgate_backfill_%d", time.Now().UnixNano())
		dump := filepath.Join(t.TempDir(), "dump.sql")
		sqlText := strings.ReplaceAll(string(b), "UPGRADE_SCHEMA", schema) + "\nSET search_path TO " + schema + ";\n" + insert + "\n"
		if err := os.WriteFile(dump, []byte(sqlText), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dropSchema(base, schema) })
		if out, err := exec.Command("psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", dump, base).CombinedOutput(); err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		check(t, withSearchPath(t, base, schema))
	})
}
