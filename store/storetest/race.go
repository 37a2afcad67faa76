package storetest

import (
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
