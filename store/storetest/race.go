package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"tollgate"
	"tollgate/ledger"
)

// raceHolds has 200 goroutines take one-credit holds on an account holding
// 50 credits through the given ledgers, and checks exactly 50 win.
func raceHolds(t *testing.T, e *env, ls []*ledger.Ledger) {
	e.withNoPlan()
	e.account("hot", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "hot", Credits: cr(50)})
	var won, lost atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := ls[i%len(ls)].Hold(e.ctx, ledger.HoldParams{AccountID: "hot", Product: tollgate.ProductVideo, Credits: cr(1)})
			switch tollgate.ErrorCode(err) {
			case "":
			case tollgate.CodeInsufficientCredits:
				lost.Add(1)
				return
			default:
				t.Errorf("hold: %v", err)
				return
			}
			won.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != 50 || lost.Load() != 150 {
		t.Fatalf("%d holds won and %d lost, want 50 and 150", won.Load(), lost.Load())
	}
	b := e.balance("hot")
	if b.Held != cr(50) || b.Available != 0 {
		t.Fatalf("held %s available %s, want 50 and 0", b.Held, b.Available)
	}
}

func testRaceExactlyFifty(t *testing.T, open Opener) {
	e := newEnv(t, open)
	raceHolds(t, e, []*ledger.Ledger{e.l})
}

// testRaceManyLedgers runs four committers on one store, as four instances
// sharing one database would.
func testRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ls := []*ledger.Ledger{e.l}
	for range 3 {
		ls = append(ls, e.ledger(ledger.Options{MaxBatch: 16}))
	}
	raceHolds(t, e, ls)
}

// testQuoteRaceManyLedgers has 40 callers on four ledgers (four instances
// on one database) hold with one quote at once, beside 200 innocent holds:
// exactly one wins the quote, the others are told the quote is used, and
// no batch fails for it (no batch is applied again).
func testQuoteRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("q", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "q", Credits: cr(1000)})
	ls := []*ledger.Ledger{e.l}
	for range 3 {
		ls = append(ls, e.ledger(ledger.Options{}))
	}
	var won, used atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 240 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p := ledger.HoldParams{AccountID: "q", Product: tollgate.ProductVideo, Credits: cr(1)}
			if i%6 == 0 {
				p.QuoteID = "quote_one"
			}
			_, err := ls[i%len(ls)].Hold(e.ctx, p)
			switch {
			case err == nil && p.QuoteID != "":
				won.Add(1)
			case tollgate.ErrorCode(err) == tollgate.CodeQuoteUsed && p.QuoteID != "":
				used.Add(1)
			case err != nil:
				t.Errorf("hold (quote %q): %v", p.QuoteID, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || used.Load() != 39 {
		t.Fatalf("the quote paid for %d holds and was refused %d times, want 1 and 39", won.Load(), used.Load())
	}
	if b := e.balance("q"); b.Held != cr(201) {
		t.Fatalf("held %s, want 201", b.Held)
	}
	for i, l := range ls {
		if st := l.Stats(); st.Retried != 0 {
			t.Errorf("ledger %d applied %d batches again; want none", i, st.Retried)
		}
	}
}

// testIdempotencyRaceManyLedgers has admin callers on four ledgers use one
// Idempotency-Key for usages on different accounts at once (so no account
// lock orders them), beside innocent usages: exactly one takes effect, the
// others are told the key was used with another request, and the innocent
// ones all go through.
func testIdempotencyRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	ls := []*ledger.Ledger{e.l}
	for range 3 {
		ls = append(ls, e.ledger(ledger.Options{}))
	}
	const n = 16
	for i := range n {
		id := fmt.Sprintf("idem-%d", i)
		e.account(id, noPlan, "UTC")
		e.grant(ledger.GrantParams{AccountID: id, Credits: cr(100)})
	}
	var won, refused, innocent atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n * 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			acct := fmt.Sprintf("idem-%d", i%n)
			p := ledger.HoldParams{AccountID: acct, Product: tollgate.ProductVideo, Credits: cr(1)}
			keyed := i < n
			if keyed {
				p.Idempotency = &ledger.Idempotency{Scope: "admin", Key: "one-key", Hash: []byte(acct)}
			}
			_, err := ls[i%len(ls)].Usage(e.ctx, p)
			switch {
			case err == nil && keyed:
				won.Add(1)
			case err == nil:
				innocent.Add(1)
			case keyed && tollgate.ErrorCode(err) == tollgate.CodeIdempotencyMismatch:
				refused.Add(1)
			default:
				t.Errorf("usage on %s (keyed %v): %v", acct, keyed, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || refused.Load() != n-1 || innocent.Load() != n*7 {
		t.Fatalf("keyed usages: %d took effect and %d were refused, %d innocent ones went through; want 1, %d, %d",
			won.Load(), refused.Load(), innocent.Load(), n-1, n*7)
	}
	var spent tollgate.Credits
	for i := range n {
		spent += cr(100) - e.balance(fmt.Sprintf("idem-%d", i)).Available
	}
	if spent != cr(n*7+1) {
		t.Fatalf("spent %s in all, want %d", spent, n*7+1)
	}
	var conflicts int64
	for _, l := range ls {
		conflicts += l.Stats().Conflicts
	}
	t.Logf("operations taken out of their batch for a key taken meanwhile: %d", conflicts)
}
