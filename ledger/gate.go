package ledger

import (
	"context"
	"sync"

	"tollgate/store"
)

// accountGate bounds how many reads of one account run at once, so that
// clients flooding one account with reads take at most that many of the
// database's connections and cores, and every other account's reads and
// writes keep theirs. A read waits for a slot of its own account only.
type accountGate struct {
	per   int
	mu    sync.Mutex
	slots map[string]*gateSlots
}

type gateSlots struct {
	ch    chan struct{}
	users int // reads holding or waiting for a slot
}

func newAccountGate(per int) *accountGate {
	return &accountGate{per: per, slots: map[string]*gateSlots{}}
}

// enter waits for a slot of the account's, or for ctx to end; the returned
// function gives the slot back.
func (g *accountGate) enter(ctx context.Context, account string) (func(), error) {
	g.mu.Lock()
	s := g.slots[account]
	if s == nil {
		s = &gateSlots{ch: make(chan struct{}, g.per)}
		g.slots[account] = s
	}
	s.users++
	g.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; g.leave(account, s) }, nil
	case <-ctx.Done():
		g.leave(account, s)
		return nil, ctx.Err()
	}
}

func (g *accountGate) leave(account string, s *gateSlots) {
	g.mu.Lock()
	if s.users--; s.users == 0 {
		delete(g.slots, account)
	}
	g.mu.Unlock()
}

// readAccount runs fn in a read transaction once the account's gate lets
// it in.
func (l *Ledger) readAccount(ctx context.Context, account string, fn func(store.Tx) error) error {
	done, err := l.gate.enter(ctx, account)
	if err != nil {
		return err
	}
	defer done()
	return l.store.Read(ctx, fn)
}
