package ledger

import (
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
