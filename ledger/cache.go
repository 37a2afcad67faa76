package ledger

import (
	"container/heap"
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
	// due orders pending holds by expiry, so a batch finds the overdue ones
	// without walking them all. Holds settled since they were pushed stay
	// in it until popped, or until it is rebuilt when it grows to twice
	// the pending holds.
	due expiries
}

// expiry is a pending hold's expiry, in cachedAccount.due.
type expiry struct {
	at time.Time
	id string
}

// expiries is a min-heap of expiries (container/heap).
type expiries []expiry

func (e expiries) Len() int           { return len(e) }
func (e expiries) Less(i, j int) bool { return e[i].at.Before(e[j].at) }
func (e expiries) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *expiries) Push(x any)        { *e = append(*e, x.(expiry)) }
func (e *expiries) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
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

// overdue returns the account's pending holds that expire at or before now,
// and forgets their expiries: the batch settles them.
func (ca *cachedAccount) overdue(now time.Time) []tollgate.Hold {
	var out []tollgate.Hold
	for len(ca.due) > 0 && !ca.due[0].at.After(now) {
		e := heap.Pop(&ca.due).(expiry)
		if h, ok := ca.pending[e.id]; ok {
			out = append(out, h)
		}
	}
	return out
}

// add records a pending hold.
func (ca *cachedAccount) add(h tollgate.Hold) {
	if _, ok := ca.pending[h.ID]; !ok {
		heap.Push(&ca.due, expiry{at: h.ExpiresAt, id: h.ID})
	}
	ca.pending[h.ID] = h
}

// remove forgets a hold that is no longer pending; its expiry is dropped
// when popped, or when due is rebuilt.
func (ca *cachedAccount) remove(id string) {
	delete(ca.pending, id)
	if len(ca.due) > 2*len(ca.pending)+64 {
		ca.due = ca.due[:0]
		for _, h := range ca.pending {
			ca.due = append(ca.due, expiry{at: h.ExpiresAt, id: h.ID})
		}
		heap.Init(&ca.due)
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
		ca.remove(h.ID)
		delete(c.holds, h.ID)
	}
	for _, h := range b.freshPending {
		add(h)
	}
	for _, hs := range b.holds {
		add(hs.h)
	}
}
