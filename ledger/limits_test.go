package ledger_test

import (
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
)

// testPendingHoldCap: an account's pending holds are capped by its plan,
// a key's by its own limit; settling, timing out and usage are counted
// right, also for holds sent together in one batch and across a restart
// of the ledger (which forgets any cached count).
func testPendingHoldCap(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if _, err := e.l.AddPlanVersion(e.ctx, ledger.PlanVersionParams{Plan: "capped",
		Allowances: map[tollgate.Product]tollgate.Credits{}, Limits: &tollgate.Limits{MaxPendingHolds: 5}}); err != nil {
		t.Fatal(err)
	}
	e.account("a", "capped", "UTC")
	e.account("b", "capped", "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(1000)})
	e.grant(ledger.GrantParams{AccountID: "b", Credits: cr(1000)})
	hold := func(acct, key string, keyMax int, ttl time.Duration) (tollgate.Hold, error) {
		return e.l.Hold(e.ctx, ledger.HoldParams{AccountID: acct, Product: tollgate.ProductVideo, Credits: cr(1),
			KeyID: key, KeyMaxPending: keyMax, TTL: ttl})
	}
	// Key k1 may have 2 pending; ten sent at once: exactly 2 go through.
	var mu sync.Mutex
	var won []tollgate.Hold
	refused := 0
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := hold("a", "k1", 2, 0)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, h)
				return
			}
			wantCode(t, err, tollgate.CodeTooManyPendingHolds)
			refused++
		}()
	}
	wg.Wait()
	if len(won) != 2 || refused != 8 {
		t.Fatalf("key capped at 2, 10 at once: %d held, %d refused", len(won), refused)
	}
	// The account's cap of 5 counts every key's holds and the admin's.
	if _, err := hold("a", "", 0, 0); err != nil {
		t.Fatal(err)
	}
	short, err := hold("a", "k2", 0, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold("a", "k2", 0, 0); err != nil {
		t.Fatal(err)
	}
	_, err = hold("a", "k3", 0, 0)
	wantCode(t, err, tollgate.CodeTooManyPendingHolds)
	// Another account is not affected; usage is never capped.
	if _, err := hold("b", "k9", 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1), KeyID: "k1", KeyMaxPending: 2}); err != nil {
		t.Fatalf("usage at the cap: %v", err)
	}
	// Settling frees a place, for the account and for the key.
	if _, err := e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: won[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := hold("a", "k1", 2, 0); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err = hold("a", "k1", 2, 0)
	wantCode(t, err, tollgate.CodeTooManyPendingHolds)
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: won[1].ID}); err != nil {
		t.Fatal(err)
	}
	// A new ledger counts from the database what the old one knew.
	opt := ledger.Options{}
	if o, ok := envOptions.Load(e.s); ok {
		opt = o.(ledger.Options)
	}
	e.l.Stop()
	e.l = e.ledger(opt)
	if _, err := hold("a", "k1", 2, 0); err != nil {
		t.Fatalf("after a capture and a restart: %v", err)
	}
	_, err = hold("a", "k4", 0, 0)
	wantCode(t, err, tollgate.CodeTooManyPendingHolds)
	// A hold that times out frees its place at once, before any sweep.
	e.clock.Advance(3 * time.Second)
	if _, err := hold("a", "k4", 0, 0); err != nil {
		t.Fatalf("after %s timed out: %v", short.ID, err)
	}
	_, err = hold("a", "k4", 0, 0)
	wantCode(t, err, tollgate.CodeTooManyPendingHolds)
	// The plan's default is DefaultLimits.MaxPendingHolds.
	if got := tollgate.DefaultLimits.MaxPendingHolds; got != 1000 {
		t.Fatalf("default cap %d", got)
	}
}
