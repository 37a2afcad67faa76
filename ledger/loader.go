package ledger

import (
	"context"
	"errors"
	"slices"
	"sync"

	"tollgate"
	"tollgate/store"
)

// loader reads into a batch what its operations need, locking their
// accounts. dbLoader reads all of it from the transaction; cachingLoader
// (cache.go) serves what the state cache knows and asks dbLoader for the
// rest. The steps that do not depend on a cache are load's.
type loader interface {
	// holdAccounts returns the accounts of holds, read before any lock (a
	// hold's account never changes); unknown holds are left out.
	holdAccounts(ctx context.Context, b *batch, ids []string) (map[string]string, error)
	// accounts locks the accounts (ids sorted, unique) and adds to b those
	// found, their open grants, their overdue pending holds and those of
	// targets, the holds being settled; with plans, it may read the plan
	// versions too (b.plansRead says whether it did).
	accounts(ctx context.Context, b *batch, ids []string, targets map[string]bool, plans bool) error
	// keyPending adds to b.keyPending, for each (account, key) it has,
	// the key's pending holds as stored; ids are their accounts, sorted.
	keyPending(ctx context.Context, b *batch, ids []string) error
	// forget drops what is known of an account changed outside the
	// committer.
	forget(id string)
	// committed is told that b committed, and failed that a batch's
	// outcome is not known: what was read may be stale.
	committed(b *batch)
	failed()
}

// load locks every account the batch's operations touch, in id order, and
// reads their open grants, their overdue holds, the holds and orders being
// changed, and what the operations declared they need; then it applies
// what time has done (expire).
func (b *batch) load(ctx context.Context, ops []*op) error {
	ld := b.l.loader
	var holdIDs []string
	for _, o := range ops {
		if o.n.forget {
			ld.forget(o.n.account)
		}
		if o.n.hold != "" {
			holdIDs = append(holdIDs, o.n.hold)
		}
	}
	// A hold's and an order's account never change: find them now, and
	// read the holds and orders again once those accounts are locked.
	holdAccount := map[string]string{}
	if len(holdIDs) > 0 {
		var err error
		if holdAccount, err = ld.holdAccounts(ctx, b, holdIDs); err != nil {
			return err
		}
	}
	orderAccount := map[string]string{}
	for _, o := range ops {
		if o.n.order == "" {
			continue
		}
		if _, ok := orderAccount[o.n.order]; ok {
			continue
		}
		ord, err := b.tx.OrderByID(ctx, o.n.order)
		switch {
		case err == nil:
			orderAccount[o.n.order] = ord.AccountID
		case !errors.Is(err, tollgate.ErrNotFound):
			return err
		}
	}
	var ids []string
	needPlans := false
	for _, o := range ops {
		if o.n.hold != "" {
			a, ok := holdAccount[o.n.hold]
			if !ok || (o.n.owner != "" && o.n.owner != a) {
				o.pendingErr = tollgate.Errorf(tollgate.CodeNotFound, "hold %s not found", o.n.hold)
				continue
			}
			o.accountID = a
		}
		if o.n.order != "" {
			a, ok := orderAccount[o.n.order]
			if !ok {
				o.pendingErr = tollgate.Errorf(tollgate.CodeNotFound, "order %s not found", o.n.order)
				continue
			}
			o.accountID = a
		}
		needPlans = needPlans || o.n.plans
		ids = append(ids, o.accountID)
		if o.n.to != "" {
			ids = append(ids, o.n.to)
		}
		ids = append(ids, o.n.others...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	targets := map[string]bool{}
	for _, id := range holdIDs {
		targets[id] = true
	}
	if err := ld.accounts(ctx, b, ids, targets, needPlans); err != nil {
		return err
	}
	// The holds being settled that the loader did not bring, read now
	// that their accounts are locked.
	var need []string
	for _, id := range holdIDs {
		if b.holds[id] == nil {
			need = append(need, id)
		}
	}
	if len(need) > 0 {
		hs, err := b.tx.HoldsByID(ctx, need)
		if err != nil {
			return err
		}
		for _, h := range hs {
			b.holds[h.ID] = &holdState{h: h}
		}
	}
	// Grants that pending holds drew on but that are no longer open (spent
	// to zero, or expired) are needed to settle those holds.
	var missing []string
	for _, hs := range b.holds {
		if hs.h.Status != tollgate.HoldPending {
			continue
		}
		for _, a := range hs.h.Allocations {
			if _, ok := b.grants[a.GrantID]; !ok {
				missing = append(missing, a.GrantID)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		gs, err := b.tx.GrantsByID(ctx, slices.Compact(missing))
		if err != nil {
			return err
		}
		for _, g := range gs {
			b.addGrant(g, false)
		}
	}
	// The orders, read again now that their accounts are locked: every
	// change to an order goes through a batch holding that lock.
	for id := range orderAccount {
		if b.accounts[orderAccount[id]] == nil {
			continue
		}
		ord, err := b.tx.OrderByID(ctx, id)
		if err != nil {
			return err
		}
		b.orders[id] = &orderState{o: ord, fromStatus: ord.Status, fromRefunded: ord.RefundedCredits}
		if ord.GrantID != "" && b.grants[ord.GrantID] == nil {
			gs, err := b.tx.GrantsByID(ctx, []string{ord.GrantID})
			if err != nil {
				return err
			}
			for _, g := range gs {
				b.addGrant(g, false)
			}
		}
	}
	if needPlans && !b.plansRead {
		var err error
		if b.plans, err = b.l.batchPlans(ctx, b.tx); err != nil {
			return err
		}
	}
	// Quotes already used: a second hold on one would break the database's
	// unique index and fail the whole batch. Read now that the accounts
	// are locked, so a hold another instance made with it is seen.
	var quotes []string
	for _, o := range ops {
		if o.n.quote != "" {
			quotes = append(quotes, o.n.quote)
		}
	}
	if len(quotes) > 0 {
		hs, err := b.tx.HoldsByQuote(ctx, quotes)
		if err != nil {
			return err
		}
		for _, h := range hs {
			b.quotesUsed[h.QuoteID] = true
		}
	}
	if err := b.countPending(ctx, ops); err != nil {
		return err
	}
	b.expire()
	b.before = map[string]tollgate.Credits{}
	for id, a := range b.accounts {
		if a.a.LowBalance > 0 {
			b.before[id] = spendable(a, b.now)
		}
	}
	return nil
}

// countPending counts, as stored, the pending holds of the keys with a
// cap of their own that make holds in this batch. An account's count is on
// its row.
func (b *batch) countPending(ctx context.Context, ops []*op) error {
	var ids []string
	for _, o := range ops {
		if o.n.hasCap && b.accounts[o.accountID] != nil {
			if b.keyPending == nil {
				b.keyPending = map[[2]string]int{}
			}
			k := [2]string{o.accountID, o.n.keyCap}
			if _, ok := b.keyPending[k]; !ok {
				b.keyPending[k] = 0
				ids = append(ids, o.accountID)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return b.l.loader.keyPending(ctx, b, slices.Compact(ids))
}

// dbLoader reads everything from the batch's transaction but which
// account a hold is of, which never changes: it remembers that of the holds
// its batches made, so that settling them needs no read before the lock.
type dbLoader struct {
	mu    sync.Mutex
	homes map[string]string // hold id -> account id
}

// maxHomes bounds dbLoader.homes; past it, it starts afresh.
const maxHomes = 100_000

func newDBLoader() *dbLoader { return &dbLoader{homes: map[string]string{}} }

func (d *dbLoader) holdAccounts(ctx context.Context, b *batch, ids []string) (map[string]string, error) {
	out := map[string]string{}
	var unknown []string
	d.mu.Lock()
	for _, id := range ids {
		if a, ok := d.homes[id]; ok {
			out[id] = a
		} else {
			unknown = append(unknown, id)
		}
	}
	d.mu.Unlock()
	if len(unknown) == 0 {
		return out, nil
	}
	hs, err := b.tx.HoldsByID(ctx, unknown)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		out[h.ID] = h.AccountID
	}
	return out, nil
}

func (d *dbLoader) accounts(ctx context.Context, b *batch, ids []string, targets map[string]bool, plans bool) error {
	q := store.LockQuery{AccountIDs: ids, DueBy: b.now, Plans: plans}
	for id := range targets {
		q.Holds = append(q.Holds, id)
	}
	slices.Sort(q.Holds)
	l, err := b.tx.LockAccounts(ctx, q)
	if err != nil {
		return err
	}
	for _, a := range l.Accounts {
		b.accounts[a.ID] = &account{a: a}
	}
	for _, g := range l.Grants {
		if b.accounts[g.AccountID] != nil {
			b.addGrant(g, false)
		}
	}
	// Only the overdue pending holds, those this batch times out, and
	// the holds it settles.
	for _, hs := range [][]tollgate.Hold{l.Overdue, l.Holds} {
		for _, h := range hs {
			if b.accounts[h.AccountID] != nil && b.holds[h.ID] == nil {
				b.holds[h.ID] = &holdState{h: h}
			}
		}
	}
	b.plans, b.plansRead = l.Plans, plans
	return nil
}

// lock locks the accounts and adds those found, with their open grants, to
// b; it returns their ids.
func (*dbLoader) lock(ctx context.Context, b *batch, ids []string) ([]string, error) {
	accts, err := b.tx.AccountsLock(ctx, ids)
	if err != nil {
		return nil, err
	}
	locked := make([]string, 0, len(accts))
	for _, a := range accts {
		b.accounts[a.ID] = &account{a: a}
		locked = append(locked, a.ID)
	}
	if len(locked) == 0 {
		return nil, nil
	}
	grants, err := b.tx.GrantsOpen(ctx, locked)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		b.addGrant(g, false)
	}
	return locked, nil
}

func (*dbLoader) keyPending(ctx context.Context, b *batch, ids []string) error {
	cs, err := b.tx.HoldsPendingCount(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range cs {
		k := [2]string{c.AccountID, c.KeyID}
		if _, ok := b.keyPending[k]; ok {
			b.keyPending[k] += c.N
		}
	}
	return nil
}

func (*dbLoader) forget(string) {}
func (*dbLoader) failed()       {}

// committed remembers the accounts of the holds b made.
func (d *dbLoader) committed(b *batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, hs := range b.holds {
		if hs.isNew && hs.h.Status == tollgate.HoldPending {
			if len(d.homes) >= maxHomes {
				clear(d.homes)
			}
			d.homes[id] = hs.h.AccountID
		}
	}
}
