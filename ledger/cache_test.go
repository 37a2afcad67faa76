package ledger

import (
	"fmt"
	"testing"
	"time"

	"tollgate"
)

// TestCacheForgetsSettledExpiries: one short hold among many long ones,
// settled early, must not make every later batch walk all the pending
// holds of the account: after one look, the next expiry looked for is the
// earliest of those still pending.
func TestCacheForgetsSettledExpiries(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ca := &cachedAccount{pending: map[string]tollgate.Hold{}}
	for i := range 1000 {
		ca.add(tollgate.Hold{ID: fmt.Sprintf("long-%04d", i), Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	ca.add(tollgate.Hold{ID: "short", Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Second)})
	delete(ca.pending, "short") // captured before it expired
	if got := ca.overdue(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("overdue after the short hold was settled: got %d holds, want none", len(got))
	}
	if want := t0.Add(time.Hour); !ca.soonest.Equal(want) {
		t.Fatalf("next expiry looked for: got %v, want %v (the settled hold's is forgotten)", ca.soonest, want)
	}
	got := ca.overdue(t0.Add(time.Hour + 2*time.Second))
	if len(got) != 3 {
		t.Fatalf("an hour on: got %d overdue, want 3", len(got))
	}
	if want := t0.Add(time.Hour + 3*time.Second); !ca.soonest.Equal(want) {
		t.Fatalf("after settling those: next expiry %v, want %v", ca.soonest, want)
	}
}

// BenchmarkOverdueBigAccount is a batch's look for overdue holds on an
// account with 40,000 pending holds, none due, after a short hold among
// them was settled early.
func BenchmarkOverdueBigAccount(b *testing.B) {
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ca := &cachedAccount{pending: map[string]tollgate.Hold{}}
	for i := range 40_000 {
		ca.add(tollgate.Hold{ID: fmt.Sprintf("h-%05d", i), Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Hour + time.Duration(i)*time.Millisecond)})
	}
	ca.add(tollgate.Hold{ID: "short", Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Second)})
	delete(ca.pending, "short")
	for b.Loop() {
		if len(ca.overdue(t0.Add(time.Minute))) != 0 {
			b.Fatal("nothing is overdue")
		}
	}
}
