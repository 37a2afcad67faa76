package cameo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tollgate"
	"tollgate/cameo"
	"tollgate/clocktest"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/record"
	"tollgate/store/sqlite"
)

// BenchmarkLeaderboard reads leaderboards over the counters that 100,000
// captured jobs leave (each job: its creator's generation and one paid
// cameo use, spread over 30 days, 1,000 cameos of 100 owners, 5,000
// creators), on each store. The counters are loaded as the captures write
// them, in batches; the reads sum them as serving does.
//
//	go test ./cameo -run XXX -bench Leaderboard -benchtime 200x
func BenchmarkLeaderboard(b *testing.B) {
	const jobs, cameos, creators = 100_000, 1_000, 5_000
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, sc := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(sc.name, func(b *testing.B) {
			ctx := context.Background()
			s := sc.open(b)
			clock := clocktest.New(start.Add(30 * 24 * time.Hour))
			l := ledger.New(s, ledger.Options{Clock: clock})
			if err := l.Start(ctx); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(l.Stop)
			if _, err := l.Bootstrap(ctx, ""); err != nil {
				b.Fatal(err)
			}
			// Cameos exist (the board reads each shown one's status).
			if err := s.Write(ctx, func(tx store.Tx) error {
				for i := range cameos {
					c := tollgate.Cameo{ID: fmt.Sprintf("char_%04d", i), AccountID: fmt.Sprintf("owner%03d", i%100), Kind: tollgate.CameoCharacter,
						Name: "n", Handle: fmt.Sprintf("c_%04d", i), Policy: tollgate.PolicyAnyone, Status: tollgate.CameoActive, CreatedAt: start}
					if err := tx.CameoInsert(ctx, c); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			for done := 0; done < jobs; done += 1000 {
				var w store.Writes
				for j := done; j < done+1000; j++ {
					at := start.Add(time.Duration(j) * (30 * 24 * time.Hour / jobs))
					cm := (j * 7919) % cameos
					w.Counters = append(w.Counters,
						record.Counter{Board: ledger.BoardCreator, Subject: fmt.Sprintf("creator%04d", (j*31)%creators), OwnerID: fmt.Sprintf("creator%04d", (j*31)%creators), Bucket: at, Uses: 1},
						record.Counter{Board: ledger.BoardCameo, Subject: fmt.Sprintf("char_%04d", cm), OwnerID: fmt.Sprintf("owner%03d", cm%100), Bucket: at, Uses: 1,
							Gross: 1_000_000, Take: 200_000, Net: 800_000})
				}
				if err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &w) }); err != nil {
					b.Fatal(err)
				}
			}
			svc := cameo.New(cameo.Config{Ledger: l, Clock: clock, TakeBPS: -1})
			for _, tc := range []struct {
				board  cameo.Board
				period cameo.Period
				by     string
			}{{cameo.BoardCameos, cameo.Month, "uses"}, {cameo.BoardCameos, cameo.Day, "earnings"}, {cameo.BoardCameos, cameo.Week, "uses"}} {
				b.Run(fmt.Sprintf("%s-%s-%s", tc.board, tc.period, tc.by), func(b *testing.B) {
					for b.Loop() {
						es, _, _, err := svc.Leaderboard(ctx, cameo.LeaderboardParams{Board: tc.board, Period: tc.period, By: tc.by,
							At: start.Add(15 * 24 * time.Hour), Limit: 10})
						if err != nil || len(es) != 10 {
							b.Fatalf("%d entries, %v", len(es), err)
						}
					}
				})
			}
			if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "owner007", Name: "owner", Plan: "free"}); err != nil {
				b.Fatal(err)
			}
			b.Run("statement-month", func(b *testing.B) {
				for b.Loop() {
					ls, err := svc.Statement(ctx, "owner007", start, start.AddDate(0, 1, 0), cameo.Day)
					if err != nil || len(ls) == 0 {
						b.Fatalf("%d lines, %v", len(ls), err)
					}
				}
			})
		})
	}
}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	db, cleanup, err := pgtest.OpenSchema(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return db
}
