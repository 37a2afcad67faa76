// Package keygate bounds how many callers hold one key at once: the
// ledger's reads of one account, the applying of one subscription's
// events. A caller waits for a slot of its own key only, or for its
// context to end; a key nobody holds or waits for is forgotten.
package keygate

import (
	"context"
	"sync"
)

// Gate lets at most a set number of callers hold a key at once (New); the
// zero value lets one. It is safe for concurrent use.
type Gate struct {
	per   int
	mu    sync.Mutex
	slots map[string]*slots
}

type slots struct {
	ch    chan struct{}
	users int // callers holding or waiting for a slot
}

// New returns a gate of per slots per key (at least 1).
func New(per int) *Gate {
	return &Gate{per: max(1, per), slots: map[string]*slots{}}
}

// Enter waits for a slot of key, or for ctx to end; the returned function
// gives the slot back.
func (g *Gate) Enter(ctx context.Context, key string) (func(), error) {
	g.mu.Lock()
	if g.slots == nil {
		g.slots = map[string]*slots{}
	}
	s := g.slots[key]
	if s == nil {
		s = &slots{ch: make(chan struct{}, max(1, g.per))}
		g.slots[key] = s
	}
	s.users++
	g.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; g.leave(key, s) }, nil
	case <-ctx.Done():
		g.leave(key, s)
		return nil, ctx.Err()
	}
}

func (g *Gate) leave(key string, s *slots) {
	g.mu.Lock()
	if s.users--; s.users == 0 {
		delete(g.slots, key)
	}
	g.mu.Unlock()
}

// Keys is how many keys the gate remembers: those held or waited for.
func (g *Gate) Keys() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.slots)
}
