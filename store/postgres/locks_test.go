package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/store/postgres"
)

// BenchmarkMigrationLocks measures, for each migration, how long it holds
// an ACCESS EXCLUSIVE lock (which blocks every read and write of the
// table) on a database with a million holds: the schema is built at the
// version before it, filled, then migrated while pg_locks is sampled every
// 2 ms. It reports the longest hold in ms; the target is under 1,000. It
// prints SHARE locks too (an index build: writes wait, reads do not).
//
//	TOLLGATE_TEST_DATABASE_URL=... go test ./store/postgres -run XXX -bench MigrationLocks -benchtime 1x
func BenchmarkMigrationLocks(b *testing.B) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		b.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the migration lock measurement")
	}
	ctx := context.Background()
	versions, err := postgres.MigrationVersions()
	if err != nil {
		b.Fatal(err)
	}
	const holds = 1_000_000
	worst := time.Duration(0)
	for i := 1; i < len(versions); i++ {
		before, v := versions[i-1], versions[i]
		held := measureMigration(b, ctx, base, before, v, holds)
		fmt.Fprintf(os.Stderr, "%-32s longest ACCESS EXCLUSIVE hold: %s\n", v, held.Round(time.Millisecond))
		worst = max(worst, held)
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}

func measureMigration(b *testing.B, ctx context.Context, base, before, version string, holds int) time.Duration {
	b.Helper()
	schema := fmt.Sprintf("tollgate_locks_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }() // measurement connection
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		b.Fatal(err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) }()
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.MigrateTo(ctx, before); err != nil {
		b.Fatal(err)
	}
	// The columns every version has: those of the first holds table.
	fill := fmt.Sprintf(`
		INSERT INTO %[1]s.accounts (id, name, plan, timezone, status, created_at)
			SELECT 'acct' || g, 'A', 'free', 'UTC', 'active', now() FROM generate_series(1, 1000) g;
		INSERT INTO %[1]s.holds (id, account_id, product, amount, captured, status, allocations, metadata, quote_id, created_at, expires_at, settled_at)
			SELECT 'hold_' || g, 'acct' || (g %% 1000 + 1), 'video', 1000000, 1000000, 'captured', '[]', '', '', now(), now() + interval '1 hour', now()
			FROM generate_series(1, %[2]d) g;
		ANALYZE %[1]s.holds;`, pgx.Identifier{schema}.Sanitize(), holds)
	if _, err := admin.Exec(ctx, fill); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	first, last := map[string]time.Time{}, map[string]time.Time{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sampler, err := pgx.Connect(ctx, base)
		if err != nil {
			b.Error(err)
			return
		}
		defer func() { _ = sampler.Close(ctx) }() // measurement connection
		for {
			select {
			case <-done:
				return
			default:
			}
			rows, err := sampler.Query(ctx, `SELECT l.mode || ' ' || c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
				JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE l.mode IN ('AccessExclusiveLock', 'ShareLock') AND l.granted AND n.nspname = $1 AND c.relkind = 'r'`, schema)
			if err != nil {
				b.Error(err)
				return
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				b.Error(err)
				return
			}
			now := time.Now()
			mu.Lock()
			for _, n := range names {
				if _, ok := first[n]; !ok {
					first[n] = now
				}
				last[n] = now
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	})
	if err := db.MigrateTo(ctx, version); err != nil {
		b.Fatal(err)
	}
	close(done)
	wg.Wait()
	var longest time.Duration
	var tables []string
	for n := range first {
		d := last[n].Sub(first[n]) + 2*time.Millisecond
		tables = append(tables, fmt.Sprintf("%s %s", n, d.Round(time.Millisecond)))
		if strings.HasPrefix(n, "AccessExclusiveLock") {
			longest = max(longest, d)
		}
	}
	sort.Strings(tables)
	if len(tables) > 0 {
		fmt.Fprintf(os.Stderr, "  %s: %s\n", path.Base(version), strings.Join(tables, "; "))
	}
	return longest
}
