package ledger_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// testTransferRules checks what a transfer may move and what it makes.
func testTransferRules(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("from", "free", "UTC") // 30 a day of allowance, not transferable
	e.account("to", "free", "UTC")
	e.account("off", "free", "UTC")
	exp := Start.Add(30 * 24 * time.Hour)
	video := e.grant(ledger.GrantParams{AccountID: "from", Credits: cr(6), Products: []tollgate.Product{tollgate.ProductVideo}, ExpiresAt: &exp})
	e.grant(ledger.GrantParams{AccountID: "from", Credits: cr(4)}) // never expires, pays for all
	e.hold("from", tollgate.ProductVideo, cr(1))                   // from today's allowance

	_, err := e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "to", Credits: cr(11)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	_, err = e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "to", Credits: cr(5), Product: tollgate.ProductAssistant})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	_, err = e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "from", Credits: cr(1)})
	wantCode(t, err, tollgate.CodeInvalidField)
	_, err = e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "nobody", Credits: cr(1)})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "to", Credits: cr(1), Source: tollgate.SourcePurchase})
	wantCode(t, err, tollgate.CodeInvalidField)

	tr, err := e.l.Transfer(e.ctx, ledger.TransferParams{From: "from", To: "to", Credits: cr(8)})
	if err != nil {
		t.Fatal(err)
	}
	// The video grant expires first, so it goes first; each part keeps its
	// grant's expiry and products.
	if len(tr.Grants) != 2 || tr.Drawn[0].GrantID != video.ID || tr.Drawn[0].Amount != cr(6) || tr.Drawn[1].Amount != cr(2) {
		t.Fatalf("transfer drew %+v, want 6 from the video grant then 2", tr.Drawn)
	}
	if g := tr.Grants[0]; g.ExpiresAt == nil || !g.ExpiresAt.Equal(exp) || len(g.Products) != 1 || g.Source != tollgate.SourceTransfer {
		t.Fatalf("first grant made %+v, want the video grant's expiry and products", g)
	}
	if g := tr.Grants[1]; g.ExpiresAt != nil || len(g.Products) != 0 {
		t.Fatalf("second grant made %+v, want no expiry and every product", g)
	}
	if b := e.balance("to"); b.ByProduct[tollgate.ProductVideo] != cr(30+8) || b.ByProduct[tollgate.ProductAssistant] != cr(2) {
		t.Fatalf("destination: %v, want video 38 (allowance and 8), assistant 2", b.ByProduct)
	}
	if b := e.balance("from"); b.ByProduct[tollgate.ProductAssistant] != cr(2) || b.ByProduct[tollgate.ProductVideo] != cr(29+2) {
		t.Fatalf("source: %v, want assistant 2, video 31", b.ByProduct)
	}
	// One journal transaction, over both accounts, summing to zero.
	var sum tollgate.Credits
	for _, acct := range []string{"from", "to"} {
		es, err := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: acct, After: 0, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range es {
			if en.TxnID == tr.TxnID {
				sum += en.Amount
			}
		}
	}
	if sum != 0 {
		t.Fatalf("the transfer's entries sum to %s", sum)
	}
	status := tollgate.AccountSuspended
	if _, err := e.l.UpdateAccount(e.ctx, "off", ledger.AccountChanges{Status: &status}); err != nil {
		t.Fatal(err)
	}
	e.grant(ledger.GrantParams{AccountID: "off", Credits: cr(1)})
	_, err = e.l.Transfer(e.ctx, ledger.TransferParams{From: "off", To: "to", Credits: cr(1)})
	wantCode(t, err, tollgate.CodeAccountSuspended)
	if _, err := e.l.Transfer(e.ctx, ledger.TransferParams{From: "to", To: "off", Credits: cr(1), Source: tollgate.SourceRoyalty}); err != nil {
		t.Fatalf("a suspended account may still receive: %v", err)
	}
}

// testTransferRaceManyLedgers runs 400 transfers at once between four
// accounts, in both directions, through four ledgers on one database:
// none deadlocks, none overdraws, and every account ends with exactly what
// the answered transfers say.
func testTransferRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	ls := []*ledger.Ledger{e.l}
	for range 3 {
		ls = append(ls, e.ledger(ledger.Options{MaxBatch: 32}))
	}
	const n = 4
	for i := range n {
		id := fmt.Sprintf("tr-%d", i)
		e.account(id, noPlan, "UTC")
		e.grant(ledger.GrantParams{AccountID: id, Credits: cr(100)})
	}
	var mu sync.Mutex
	want := map[string]tollgate.Credits{}
	for i := range n {
		want[fmt.Sprintf("tr-%d", i)] = cr(100)
	}
	var ok, short atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			from, to := fmt.Sprintf("tr-%d", i%n), fmt.Sprintf("tr-%d", (i%n+1+(i/n)%(n-1))%n)
			amt := cr(int64(1 + i%5))
			_, err := ls[i%len(ls)].Transfer(e.ctx, ledger.TransferParams{From: from, To: to, Credits: amt})
			switch tollgate.ErrorCode(err) {
			case "":
				ok.Add(1)
				mu.Lock()
				want[from] -= amt
				want[to] += amt
				mu.Unlock()
			case tollgate.CodeInsufficientCredits:
				short.Add(1)
			default:
				t.Errorf("transfer %s -> %s: %v", from, to, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	var total tollgate.Credits
	for id, w := range want {
		b := e.balance(id)
		if b.Available != w {
			t.Errorf("%s: %s available, want %s from the answered transfers", id, b.Available, w)
		}
		total += b.Available
	}
	if total != cr(100*n) {
		t.Fatalf("%s in all, want %d: a transfer made or lost credits", total, 100*n)
	}
	t.Logf("%d transfers went through, %d were short", ok.Load(), short.Load())
}
