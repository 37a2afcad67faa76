package ledger

import (
	"fmt"
	"testing"
	"time"

	"tollgate"
)

// TestCacheForgetsSettledExpiries: one short hold among many long ones,
// settled early, must not make every later batch walk all the pending
// holds of the account; the overdue ones are found by expiry.
func TestCacheForgetsSettledExpiries(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ca := &cachedAccount{pending: map[string]tollgate.Hold{}}
	for i := range 1000 {
		ca.add(tollgate.Hold{ID: fmt.Sprintf("long-%04d", i), Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	ca.add(tollgate.Hold{ID: "short", Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Second)})
	ca.remove("short") // captured before it expired
	if got := ca.overdue(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("overdue after the short hold was settled: got %d holds, want none", len(got))
	}
	if got, want := ca.due[0].at, t0.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("next expiry looked at: got %v, want %v (the settled hold's is forgotten)", got, want)
	}
	got := ca.overdue(t0.Add(time.Hour + 2*time.Second))
	if len(got) != 3 || len(ca.due) != 997 {
		t.Fatalf("an hour on: got %d overdue and %d expiries left, want 3 and 997", len(got), len(ca.due))
	}
	// Settled holds do not pile up in the heap.
	for i := 3; i < 1000; i++ {
		ca.remove(fmt.Sprintf("long-%04d", i))
	}
	if len(ca.due) > 2*len(ca.pending)+64 {
		t.Fatalf("%d expiries kept for %d pending holds", len(ca.due), len(ca.pending))
	}
}

// BenchmarkOverdueBigAccount is a batch's look for overdue holds on an
// account with 40,000 pending holds, none due.
func BenchmarkOverdueBigAccount(b *testing.B) {
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ca := &cachedAccount{pending: map[string]tollgate.Hold{}}
	for i := range 40_000 {
		ca.add(tollgate.Hold{ID: fmt.Sprintf("h-%05d", i), Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Hour + time.Duration(i)*time.Millisecond)})
	}
	ca.add(tollgate.Hold{ID: "short", Status: tollgate.HoldPending, ExpiresAt: t0.Add(time.Second)})
	ca.remove("short")
	b.ResetTimer()
	for b.Loop() {
		if len(ca.overdue(t0.Add(time.Minute))) != 0 {
			b.Fatal("nothing is overdue")
		}
	}
}
