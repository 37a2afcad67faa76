package ledger

import (
	"context"
	"time"

	"tollgate"
)

// stateCache keeps, between batches, what the committer knows of recently
// used accounts: the account, its open grants and its pending holds. A batch
// then reads none of them; it takes from the cache only the holds it settles
// and those past their expiry.
//
// It is only correct while this ledger is the database's one writer of
// grants and holds: SQLite with its file locked by one process, one
// committer. Only the committer goroutine touches it.
type stateCache struct {
	max      int
	accounts map[string]*cachedAccount
	holds    map[string]string // pending hold id -> account id
}

type cachedAccount struct {
	a       tollgate.Account
	grants  []tollgate.Grant // open: not expired, credits left or an allowance
	pending map[string]tollgate.Hold
	// soonest is no later than the earliest expiry among pending: until
	// it passes, no hold is overdue. A hold settled early leaves it too
	// early; the next look at the holds sets it exactly again.
	soonest time.Time
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, accounts: map[string]*cachedAccount{}, holds: map[string]string{}}
}

func (c *stateCache) evict(id string) {
	ca := c.accounts[id]
	if ca == nil {
		return
	}
	for hid := range ca.pending {
		delete(c.holds, hid)
	}
	delete(c.accounts, id)
}

// overdue returns the account's pending holds that expire at or before now.
// Only when soonest has passed does it look at them, and then it moves
// soonest to the earliest expiry of the others, so that holds settled
// before their expiry cost one look, not one per batch.
func (ca *cachedAccount) overdue(now time.Time) []tollgate.Hold {
	if ca.soonest.IsZero() || ca.soonest.After(now) {
		return nil
	}
	var out []tollgate.Hold
	var next time.Time
	for _, h := range ca.pending {
		switch {
		case !h.ExpiresAt.After(now):
			out = append(out, h) // settled by this batch
		case next.IsZero() || h.ExpiresAt.Before(next):
			next = h.ExpiresAt
		}
	}
	ca.soonest = next
	return out
}

// add records a pending hold.
func (ca *cachedAccount) add(h tollgate.Hold) {
	ca.pending[h.ID] = h
	if ca.soonest.IsZero() || h.ExpiresAt.Before(ca.soonest) {
		ca.soonest = h.ExpiresAt
	}
}

// store records the committed state of a batch's accounts: their account
// row and open grants, and the holds the batch loaded, made or settled.
func (c *stateCache) store(b *batch) {
	if len(c.accounts)+len(b.fresh) > c.max {
		// Crude but bounded: start afresh rather than track recency.
		c.accounts, c.holds = map[string]*cachedAccount{}, map[string]string{}
	}
	for id, a := range b.accounts {
		if b.uncached[id] {
			continue // too many pending holds to keep
		}
		ca := c.accounts[id]
		if ca == nil || b.fresh[id] {
			c.evict(id)
			ca = &cachedAccount{pending: map[string]tollgate.Hold{}}
			c.accounts[id] = ca
		}
		ca.a = a.a
		ca.grants = ca.grants[:0]
		for _, gs := range a.grants {
			g := gs.g
			if g.ExpiredAt == nil && (g.Remaining > 0 || g.Source == tollgate.SourceAllowance) {
				ca.grants = append(ca.grants, g)
			}
		}
	}
	add := func(h tollgate.Hold) {
		ca := c.accounts[h.AccountID]
		if ca == nil {
			return
		}
		if h.Status == tollgate.HoldPending {
			ca.add(h)
			c.holds[h.ID] = h.AccountID
			return
		}
		delete(ca.pending, h.ID)
		delete(c.holds, h.ID)
	}
	for _, h := range b.freshPending {
		add(h)
	}
	for _, hs := range b.holds {
		add(hs.h)
	}
}

// cachingLoader is the loader of a ledger that keeps the state cache: it
// serves the accounts, grants and pending holds the cache knows, and asks
// dbLoader for the rest, reading every pending hold of an account it reads
// so that the cache can keep them. All use of the cache by a batch is here.
type cachingLoader struct {
	db *dbLoader
	c  *stateCache
	// maxPending: an account with more pending holds is not kept, since
	// filling the cache would read them all in one batch and hold up the
	// batch's other accounts; its batches read what they need instead.
	maxPending int
}

func (cl *cachingLoader) holdAccounts(ctx context.Context, b *batch, ids []string) (map[string]string, error) {
	var unknown []string
	known := map[string]string{}
	for _, id := range ids {
		if a, ok := cl.c.holds[id]; ok {
			known[id] = a
		} else {
			unknown = append(unknown, id)
		}
	}
	read, err := cl.db.holdAccounts(ctx, b, unknown)
	if err != nil {
		return nil, err
	}
	for id, a := range read {
		known[id] = a
	}
	return known, nil
}

func (cl *cachingLoader) accounts(ctx context.Context, b *batch, ids []string, targets map[string]bool, _ bool) error {
	c := cl.c
	var fresh []string
	for _, id := range ids {
		ca := c.accounts[id]
		if ca == nil {
			fresh = append(fresh, id)
			continue
		}
		b.accounts[id] = &account{a: ca.a}
		for _, g := range ca.grants {
			b.addGrant(g, false)
		}
		for _, h := range ca.overdue(b.now) {
			b.holds[h.ID] = &holdState{h: h}
		}
	}
	for id := range targets {
		if a, ok := c.holds[id]; ok {
			if h, ok := c.accounts[a].pending[id]; ok {
				b.holds[id] = &holdState{h: h}
			}
		}
	}
	b.fresh, b.uncached = map[string]bool{}, map[string]bool{}
	if len(fresh) == 0 {
		return nil
	}
	locked, err := cl.db.lock(ctx, b, fresh)
	if err != nil || len(locked) == 0 {
		return err
	}
	// An account with more pending holds than the cache keeps is read as
	// without the cache, its overdue holds only; the others whole.
	var whole, big []string
	for _, id := range locked {
		if b.accounts[id].a.PendingHolds > cl.maxPending {
			b.uncached[id] = true
			big = append(big, id)
		} else {
			b.fresh[id] = true
			whole = append(whole, id)
		}
	}
	if len(big) > 0 {
		overdue, err := b.tx.HoldsPending(ctx, big, b.now)
		if err != nil {
			return err
		}
		for _, h := range overdue {
			b.holds[h.ID] = &holdState{h: h}
		}
	}
	if len(whole) == 0 {
		return nil
	}
	// Every pending hold of an account read now, for the cache to keep;
	// the batch takes the overdue ones and those it settles.
	pending, err := b.tx.HoldsPending(ctx, whole, time.Time{})
	if err != nil {
		return err
	}
	for _, h := range pending {
		if !h.ExpiresAt.After(b.now) || targets[h.ID] {
			b.holds[h.ID] = &holdState{h: h}
		} else {
			b.freshPending = append(b.freshPending, h)
		}
	}
	return nil
}

// keyPending counts from the cache, which knows every pending hold of a
// cached account; those of an account read now are in the batch or kept
// for the cache.
func (cl *cachingLoader) keyPending(ctx context.Context, b *batch, ids []string) error {
	var big []string
	for _, id := range ids {
		if b.uncached[id] {
			big = append(big, id)
		}
	}
	if len(big) > 0 {
		if err := cl.db.keyPending(ctx, b, big); err != nil {
			return err
		}
	}
	count := func(h *tollgate.Hold) {
		k := [2]string{h.AccountID, h.KeyID}
		if _, ok := b.keyPending[k]; ok {
			b.keyPending[k]++
		}
	}
	for _, id := range ids {
		if !b.fresh[id] && !b.uncached[id] {
			for _, h := range cl.c.accounts[id].pending {
				count(&h)
			}
		}
	}
	seen := map[string]bool{}
	for _, hs := range b.holds {
		if b.fresh[hs.h.AccountID] && hs.h.Status == tollgate.HoldPending && !hs.isNew {
			seen[hs.h.ID] = true
			count(&hs.h)
		}
	}
	for i := range b.freshPending {
		if h := &b.freshPending[i]; b.fresh[h.AccountID] && !seen[h.ID] {
			count(h)
		}
	}
	return nil
}

func (cl *cachingLoader) forget(id string)   { cl.c.evict(id) }
func (cl *cachingLoader) committed(b *batch) { cl.c.store(b) }
func (cl *cachingLoader) failed()            { cl.c = newStateCache(cl.c.max) }
