package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/store/sqlite"
)

// TestCacheLeavesOutBigAccounts: an account with more pending holds than
// the state cache keeps is not kept, so no batch reads all its pending
// holds; its holds are still settled, timed out and counted against its
// key's cap exactly, and verify stays clean.
func TestCacheLeavesOutBigAccounts(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	l := New(db, Options{CacheState: true, Clock: clock})
	cl := l.loader.(*cachingLoader)
	cl.maxPending = 3
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	if _, err := l.AddPlanVersion(ctx, PlanVersionParams{Plan: "p", Allowances: map[tollgate.Product]tollgate.Credits{},
		Limits: &tollgate.Limits{MaxPendingHolds: 100}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"big", "small"} {
		if _, err := l.CreateAccount(ctx, AccountParams{ID: id, Name: id, Plan: "p"}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Grant(ctx, GrantParams{AccountID: id, Credits: tollgate.WholeCredits(100)}); err != nil {
			t.Fatal(err)
		}
	}
	hold := func(acct string, ttl time.Duration) tollgate.Hold {
		t.Helper()
		h, err := l.Hold(ctx, HoldParams{AccountID: acct, Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(1), TTL: ttl,
			KeyID: "key_1", KeyMaxPending: 5})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	var held []tollgate.Hold
	for i := range 5 {
		held = append(held, hold("big", time.Duration(i+1)*time.Minute))
	}
	hold("small", time.Hour)
	// Read again from the database, as after a restart: the big account
	// is not kept whole, the small one is.
	cl.failed()
	if _, err := l.Capture(ctx, CaptureParams{HoldID: held[4].ID}); err != nil {
		t.Fatal(err)
	}
	hold("small", time.Hour)
	if cl.c.accounts["big"] != nil {
		t.Fatal("the account with more pending holds than the cache keeps was kept")
	}
	if cl.c.accounts["small"] == nil {
		t.Fatal("the small account was not kept")
	}
	// Its key is at 4 pending of 5: one more, then the cap.
	hold("big", time.Hour)
	if _, err := l.Hold(ctx, HoldParams{AccountID: "big", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(1),
		KeyID: "key_1", KeyMaxPending: 5}); tollgate.ErrorCode(err) != tollgate.CodeTooManyPendingHolds {
		t.Fatalf("a sixth pending hold of the key: got %v, want %s", err, tollgate.CodeTooManyPendingHolds)
	}
	// Two of its holds time out; the next batch on it returns their
	// credits.
	clock.Advance(150 * time.Second)
	if _, err := l.Release(ctx, ReleaseParams{HoldID: held[3].ID}); err != nil {
		t.Fatal(err)
	}
	b, err := l.Balance(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	// 100 - 1 captured - 1 still held (held[2]) - 1 (the hold of an hour).
	if want := tollgate.WholeCredits(97); b.ByProduct[tollgate.ProductAssistant] != want || b.Held != tollgate.WholeCredits(2) {
		t.Fatalf("balance: %s available, %s held; want %s and 2", b.ByProduct[tollgate.ProductAssistant], b.Held, want)
	}
	r, err := l.Verify(ctx)
	if err != nil || len(r.Violations) > 0 {
		t.Fatalf("verify: %v %v", err, r.Violations)
	}
}
