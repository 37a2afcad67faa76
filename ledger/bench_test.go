package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"tollgate"
	"tollgate/ledger"
)

// BenchmarkLedger measures holds per second through the ledger in-process: the group
// committer (batched) beside one transaction per operation (naive, the
// baseline: MaxBatch 1 with 16 transactions at a time, as a web app with a
// connection pool would run them; each locks its account row with SELECT ...
// FOR UPDATE on PostgreSQL and takes the database lock on SQLite). 512
// goroutines spread over 1,000 accounts, or all on one hot account.
func BenchmarkLedger(b *testing.B) {
	for _, sc := range stores() {
		if sc.opt.CacheState {
			continue // the cached cases are among each store's below
		}
		b.Run(sc.name, func(b *testing.B) { benchStore(b, sc.open) })
	}
}

func benchStore(b *testing.B, open Opener) {
	for _, c := range []struct {
		name     string
		opt      ledger.Options
		accounts int
	}{
		{"batched", ledger.Options{}, 1000},
		{"naive", ledger.Options{MaxBatch: 1, Committers: 16}, 1000},
		{"batched-hot", ledger.Options{}, 1},
		{"batched-cached", ledger.Options{CacheState: true}, 1000},
		{"batched-cached-hot", ledger.Options{CacheState: true}, 1},
		{"naive-hot", ledger.Options{MaxBatch: 1, Committers: 16}, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchHolds(b, open, c.opt, c.accounts, 0)
		})
	}
	// One hold in 16 reuses a quote that has paid for a job already: it is
	// refused alone, and the others go on at the spread case's rate.
	b.Run("batched-used-quote", func(b *testing.B) {
		benchHolds(b, open, ledger.Options{}, 1000, 16)
	})
}

// benchHolds takes one-credit holds on the accounts; with usedQuote n, one
// hold in n names a quote already used, and must be refused alone.
func benchHolds(b *testing.B, open Opener, opt ledger.Options, accounts, usedQuote int) {
	s := open(b)
	ctx := context.Background()
	l := ledger.New(s, opt)
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		b.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer l.Stop()
	// The holds are never settled: a plan with room for all of them.
	if _, err := l.AddPlanVersion(ctx, ledger.PlanVersionParams{Plan: "bench", Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)},
		Limits: &tollgate.Limits{MaxPendingHolds: tollgate.MaxLimits.MaxPendingHolds}}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, accounts)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%04d", i)
		if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: ids[i], Name: ids[i], Plan: "bench"}); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: ids[i], Credits: tollgate.WholeCredits(1_000_000_000 / int64(accounts))}); err != nil {
			b.Fatal(err)
		}
	}
	if usedQuote > 0 {
		if _, err := l.Hold(ctx, ledger.HoldParams{AccountID: ids[0], Product: tollgate.ProductVideo, Credits: 1, QuoteID: "quote_used"}); err != nil {
			b.Fatal(err)
		}
	}
	setup := l.Stats()
	var next, refused atomic.Int64
	b.SetParallelism(256) // 256 x GOMAXPROCS callers, as many requests in flight would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			p := ledger.HoldParams{AccountID: ids[int(i)%len(ids)], Product: tollgate.ProductVideo, Credits: 1}
			if usedQuote > 0 && i%int64(usedQuote) == 0 {
				p.AccountID, p.QuoteID = ids[0], "quote_used"
			}
			_, err := l.Hold(ctx, p)
			if p.QuoteID != "" && tollgate.ErrorCode(err) == tollgate.CodeQuoteUsed {
				refused.Add(1)
				continue
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(int64(b.N)-refused.Load())/b.Elapsed().Seconds(), "holds/s")
	if usedQuote > 0 {
		b.ReportMetric(float64(refused.Load()), "refused")
		if st := l.Stats(); st.Retried > setup.Retried {
			b.Errorf("%d batches applied again for a used quote; want none", st.Retried-setup.Retried)
		}
	}
	if st := l.Stats(); st.Batches > setup.Batches {
		b.ReportMetric(float64(st.Operations-setup.Operations)/float64(st.Batches-setup.Batches), "ops/batch")
		b.ReportMetric((st.Busy-setup.Busy).Seconds()/b.Elapsed().Seconds(), "committer-busy")
	}
	r, err := l.Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		b.Fatalf("verify: %v %v", err, r.Violations)
	}
}

// BenchmarkLedgerAlone takes one hold at a time, each waiting for the one
// before: a batch of one operation, what a hold costs when nothing shares
// its commit (the latency of a quiet server, fsync included).
func BenchmarkLedgerAlone(b *testing.B) {
	for _, sc := range stores() {
		b.Run(sc.name, func(b *testing.B) {
			s := sc.open(b)
			ctx := context.Background()
			l := ledger.New(s, sc.opt)
			if _, err := l.Bootstrap(ctx, ""); err != nil {
				b.Fatal(err)
			}
			if err := l.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer l.Stop()
			if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "alone", Name: "alone", Plan: "free"}); err != nil {
				b.Fatal(err)
			}
			if _, err := l.Grant(ctx, ledger.GrantParams{AccountID: "alone", Credits: tollgate.WholeCredits(1_000_000_000)}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h, err := l.Hold(ctx, ledger.HoldParams{AccountID: "alone", Product: tollgate.ProductVideo, Credits: 1})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Capture(ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(2*b.N), "µs/commit")
		})
	}
}
