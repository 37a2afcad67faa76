package keygate

import (
	"context"
	"errors"
	"testing"
)

// TestGate: a key's callers beyond its slots wait, and give up when their
// context ends, while another key's go in at once; a slot given back lets
// the next in, and a key nobody holds is forgotten.
func TestGate(t *testing.T) {
	g := New(2)
	ctx := context.Background()
	var done []func()
	for range 2 {
		d, err := g.Enter(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, d)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Enter(cancelled, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a third caller of a full key: got %v, want it to wait until its context ends", err)
	}
	b, err := g.Enter(ctx, "b")
	if err != nil {
		t.Fatalf("another key's caller while a is full: %v", err)
	}
	b()
	done[0]()
	a, err := g.Enter(ctx, "a")
	if err != nil {
		t.Fatalf("a caller of a once a slot was given back: %v", err)
	}
	a()
	done[1]()
	if n := g.Keys(); n != 0 {
		t.Fatalf("%d keys kept with no callers", n)
	}
}
