package ledger

import (
	"context"
	"errors"
	"testing"
)

// TestAccountGate: an account's reads beyond its slots wait, and give up
// when their context ends, while another account's go in at once; a slot
// given back lets the next in, and an account with no reads left is
// forgotten.
func TestAccountGate(t *testing.T) {
	g := newAccountGate(2)
	ctx := context.Background()
	var done []func()
	for range 2 {
		d, err := g.enter(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, d)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.enter(cancelled, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a third read of a full account: got %v, want it to wait until its context ends", err)
	}
	b, err := g.enter(ctx, "b")
	if err != nil {
		t.Fatalf("another account's read while a is full: %v", err)
	}
	b()
	done[0]()
	a, err := g.enter(ctx, "a")
	if err != nil {
		t.Fatalf("a read of a once a slot was given back: %v", err)
	}
	a()
	done[1]()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.slots) != 0 {
		t.Fatalf("accounts kept with no reads: %v", g.slots)
	}
}
