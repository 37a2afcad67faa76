package ledger

import (
	"context"
	"errors"
	"sort"
	"time"

	"tollgate"
	"tollgate/store"
)

// Balance is what an account can spend now, with expiry and hold timeouts
// applied as of the time it was read even if the sweeper has not run.
type Balance struct {
	AccountID       string
	Plan            string
	AsOf            time.Time
	Available       tollgate.Credits // spendable now, today's allowances included
	Held            tollgate.Credits // reserved by pending holds
	Frozen          tollgate.Credits // on grants whose payment is disputed: spendable again if the dispute is won
	ByProduct       map[tollgate.Product]tollgate.Credits
	DailyAllowances []DailyAllowance
	Grants          []tollgate.Grant // usable grants with credits, burn-down order
	// ExpiringSoon are the grants of Grants that expire within
	// ExpiringWindow, daily allowances left out.
	ExpiringSoon    []tollgate.Grant
	UpcomingChanges []PlanChange
}

// ExpiringWindow is how far ahead a balance warns of expiring credits.
const ExpiringWindow = 30 * 24 * time.Hour

// DailyAllowance is the state of one product's allowance today.
type DailyAllowance struct {
	Product   tollgate.Product
	Limit     tollgate.Credits
	Used      tollgate.Credits
	Remaining tollgate.Credits
	ResetsAt  time.Time
}

// PlanChange is a plan version that will take effect later.
type PlanChange struct {
	Plan        string
	Version     int
	EffectiveAt time.Time
	Allowances  map[tollgate.Product]tollgate.Credits
	Previous    map[tollgate.Product]tollgate.Credits
}

// Balance returns the account's balance. It fails with not_found for an
// unknown account.
func (l *Ledger) Balance(ctx context.Context, accountID string) (Balance, error) {
	snap, err := l.snapshot(ctx, accountID)
	if err != nil {
		return Balance{}, err
	}
	return computeBalance(snap.acct, snap.grants, snap.held, snap.overdue, snap.plans, snap.now), nil
}

// snapshot is an account's state read in one transaction.
//
// Pending holds are not read: what they hold is kept on each grant
// (Grant.Held), so an account with thousands of them costs a read no more
// than one with none. Only the overdue ones, which return their credits as
// of now, are read.
type snapshot struct {
	acct    tollgate.Account
	grants  []tollgate.Grant
	held    tollgate.Credits // by pending holds not yet overdue
	overdue []tollgate.Hold  // pending holds past their expiry
	plans   []tollgate.PlanVersion
	now     time.Time
}

func (l *Ledger) snapshot(ctx context.Context, accountID string) (snapshot, error) {
	if !validID(accountID) {
		return snapshot{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", accountID)
	}
	snap := snapshot{now: l.clock.Now()}
	err := l.readAccount(ctx, accountID, func(tx store.Tx) error {
		st, err := tx.AccountState(ctx, accountID, snap.now)
		if err != nil {
			return notFound(err, "account", accountID)
		}
		snap.acct, snap.grants, snap.overdue, snap.plans = st.Account, st.Grants, st.Overdue, st.Plans
		return nil
	})
	// Every grant a pending hold holds credits on is among the grants:
	// what they hold, less what the overdue holds return as of now.
	for _, g := range snap.grants {
		snap.held += g.Held
	}
	for _, h := range snap.overdue {
		snap.held -= h.Amount
	}
	return snap, err
}

// PaymentLine is where part of a charge would come from.
type PaymentLine struct {
	GrantID   string // "" for today's allowance before its first use
	Source    tollgate.GrantSource
	Credits   tollgate.Credits
	ExpiresAt *time.Time
}

// PaymentPlan says how a charge would be paid now, without paying it.
type PaymentPlan struct {
	Lines          []PaymentLine
	Covered        bool
	Shortfall      tollgate.Credits // when not covered
	AvailableAfter tollgate.Credits // left for the product once paid
}

// Preview tells how the account would pay credits for product now: from
// today's allowance, then which grants, and what would be left. Nothing is
// reserved. It fails with not_found for an unknown account.
func (l *Ledger) Preview(ctx context.Context, accountID string, product tollgate.Product, credits tollgate.Credits) (PaymentPlan, error) {
	snap, err := l.snapshot(ctx, accountID)
	if err != nil {
		return PaymentPlan{}, err
	}
	bal := computeBalance(snap.acct, snap.grants, snap.held, snap.overdue, snap.plans, snap.now)
	var lots []tollgate.Grant
	for _, g := range bal.Grants {
		if g.Pays(product) {
			lots = append(lots, g)
		}
	}
	for _, d := range bal.DailyAllowances {
		if d.Product == product && d.Used == 0 && d.Remaining == d.Limit && !hasAllowance(bal.Grants, product) {
			t := d.ResetsAt
			lots = append(lots, tollgate.Grant{Source: tollgate.SourceAllowance, Remaining: d.Limit, ExpiresAt: &t,
				Products: []tollgate.Product{product}, CreatedAt: snap.now})
		}
	}
	sort.SliceStable(lots, func(i, j int) bool { return burnsBefore(&lots[i], &lots[j]) })
	plan := PaymentPlan{}
	need := credits
	for _, g := range lots {
		take := min(need, g.Remaining)
		if take > 0 {
			plan.Lines = append(plan.Lines, PaymentLine{GrantID: g.ID, Source: g.Source, Credits: take, ExpiresAt: g.ExpiresAt})
		}
		need -= take
		plan.AvailableAfter += g.Remaining - take
	}
	plan.Covered, plan.Shortfall = need == 0, need
	return plan, nil
}

func hasAllowance(gs []tollgate.Grant, p tollgate.Product) bool {
	for _, g := range gs {
		if g.Source == tollgate.SourceAllowance && g.Pays(p) {
			return true
		}
	}
	return false
}

func notFound(err error, what, id string) error {
	if errors.Is(err, tollgate.ErrNotFound) {
		return tollgate.Errorf(tollgate.CodeNotFound, "%s %s not found", what, id)
	}
	return err
}

func computeBalance(acct tollgate.Account, grants []tollgate.Grant, held tollgate.Credits, overdue []tollgate.Hold,
	plans []tollgate.PlanVersion, now time.Time) Balance {
	byID := map[string]*tollgate.Grant{}
	for i := range grants {
		byID[grants[i].ID] = &grants[i]
	}
	bal := Balance{AccountID: acct.ID, Plan: acct.Plan, AsOf: now, ByProduct: map[tollgate.Product]tollgate.Credits{}, Held: held}
	// A hold past its expiry is released as of now.
	for _, h := range overdue {
		for _, a := range h.Allocations {
			if g := byID[a.GrantID]; g != nil && g.Usable(now) {
				g.Remaining += a.Amount
			}
		}
	}
	loc := acct.Location()
	// The allowance in force keeps its period; a plan that now gives more
	// raises it at once, as the next hold will.
	inForce := map[tollgate.Product]*tollgate.Grant{}
	for i := range grants {
		g := &grants[i]
		if g.Source == tollgate.SourceAllowance && len(g.Products) == 1 && isAllowance(g, g.Products[0], now) {
			inForce[g.Products[0]] = g
			if limit := dailyLimit(plans, &acct, g.Products[0], now); limit > g.Amount {
				more := limit - g.Amount
				g.Amount += more
				g.Remaining += more
			}
		}
	}
	for i := range grants {
		g := &grants[i]
		if g.Frozen && g.Usable(now) {
			bal.Frozen += g.Remaining
		}
		if !g.Spendable(now) || g.Remaining <= 0 {
			continue
		}
		bal.Available += g.Remaining
		for _, p := range tollgate.Products {
			if g.Pays(p) {
				bal.ByProduct[p] += g.Remaining
			}
		}
		bal.Grants = append(bal.Grants, *g)
	}
	sort.Slice(bal.Grants, func(i, j int) bool { return burnsBefore(&bal.Grants[i], &bal.Grants[j]) })
	for _, g := range bal.Grants {
		if g.Source != tollgate.SourceAllowance && g.ExpiresAt != nil && g.ExpiresAt.Sub(now) <= ExpiringWindow {
			bal.ExpiringSoon = append(bal.ExpiringSoon, g)
		}
	}
	for _, p := range tollgate.Products {
		if g := inForce[p]; g != nil {
			bal.DailyAllowances = append(bal.DailyAllowances, DailyAllowance{Product: p, Limit: g.Amount,
				Used: g.Amount - g.Remaining, Remaining: g.Remaining, ResetsAt: *g.ExpiresAt})
			continue
		}
		limit := dailyLimit(plans, &acct, p, now)
		if limit <= 0 {
			continue
		}
		// Not yet used this period: the allowance exists in full.
		_, end, _ := allowancePeriod(p, loc, acct.TimezoneFrom, now)
		bal.DailyAllowances = append(bal.DailyAllowances, DailyAllowance{Product: p, Limit: limit, Remaining: limit, ResetsAt: end})
		bal.Available += limit
		bal.ByProduct[p] += limit
	}
	bal.UpcomingChanges = upcoming(plans, acct.Plan, now)
	return bal
}

// upcoming lists the versions of plan that take effect after now.
func upcoming(plans []tollgate.PlanVersion, plan string, now time.Time) []PlanChange {
	var out []PlanChange
	prev := planAt(plans, plan, now)
	var future []tollgate.PlanVersion
	for _, v := range plans {
		if v.Plan == plan && v.EffectiveAt.After(now) {
			future = append(future, v)
		}
	}
	sort.Slice(future, func(i, j int) bool { return future[i].EffectiveAt.Before(future[j].EffectiveAt) })
	for _, v := range future {
		c := PlanChange{Plan: v.Plan, Version: v.Version, EffectiveAt: v.EffectiveAt, Allowances: v.Allowances}
		if prev != nil {
			c.Previous = prev.Allowances
		}
		out = append(out, c)
		prev = &v
	}
	return out
}

// Account returns an account. It fails with not_found.
func (l *Ledger) Account(ctx context.Context, id string) (tollgate.Account, error) {
	if !validID(id) {
		return tollgate.Account{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", id)
	}
	var a tollgate.Account
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		a, err = tx.AccountByID(ctx, id)
		return notFound(err, "account", id)
	})
	return a, err
}

// HoldByID returns a hold as of now: a pending hold past its expiry reads as
// expired. When accountID is set, another account's hold is not found.
func (l *Ledger) HoldByID(ctx context.Context, id, accountID string) (tollgate.Hold, error) {
	if !validID(id) {
		return tollgate.Hold{}, tollgate.Errorf(tollgate.CodeNotFound, "hold %q not found", id)
	}
	now := l.clock.Now()
	var h tollgate.Hold
	err := l.store.Read(ctx, func(tx store.Tx) error {
		hs, err := tx.HoldsByID(ctx, []string{id})
		if err != nil {
			return err
		}
		if len(hs) == 0 || (accountID != "" && hs[0].AccountID != accountID) {
			return tollgate.Errorf(tollgate.CodeNotFound, "hold %s not found", id)
		}
		h = hs[0]
		return nil
	})
	if err == nil && h.Status == tollgate.HoldPending && !now.Before(h.ExpiresAt) {
		h.Status = tollgate.HoldExpired
	}
	return h, err
}

// GrantListParams filter Grants: by source, and open (usable now) or
// closed (expired or closed by a refund), after the grant id After.
type GrantListParams struct {
	AccountID string
	Source    tollgate.GrantSource
	Open      *bool
	After     string
	Limit     int
}

// Grants lists an account's grants by id, with expiry applied as of now: a
// grant past its expiry keeps nothing, even before the sweeper moves it.
// It fails with not_found for an unknown account.
func (l *Ledger) Grants(ctx context.Context, p GrantListParams) ([]tollgate.Grant, error) {
	if !validID(p.AccountID) {
		return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	now := l.clock.Now()
	var gs []tollgate.Grant
	err := l.readAccount(ctx, p.AccountID, func(tx store.Tx) error {
		if _, err := tx.AccountByID(ctx, p.AccountID); err != nil {
			return notFound(err, "account", p.AccountID)
		}
		var err error
		gs, err = tx.GrantList(ctx, store.GrantListParams{AccountID: p.AccountID, Source: p.Source, Open: p.Open, Now: now, After: p.After, Limit: p.Limit})
		return err
	})
	for i := range gs {
		if g := &gs[i]; g.ExpiredAt == nil && g.ExpiresAt != nil && !now.Before(*g.ExpiresAt) {
			g.Remaining = 0 // as every read sees it
		}
	}
	return gs, err
}

// HoldListParams filter Holds: by status (a pending hold past its expiry
// counts as expired), product and creation time, after the hold id After.
type HoldListParams struct {
	AccountID              string
	Status                 tollgate.HoldStatus
	Product                tollgate.Product
	CreatedFrom, CreatedTo time.Time
	After                  string
	Limit                  int
}

// Holds lists an account's holds and usages by id. It fails with not_found
// for an unknown account.
func (l *Ledger) Holds(ctx context.Context, p HoldListParams) ([]tollgate.Hold, error) {
	if !validID(p.AccountID) {
		return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	now := l.clock.Now()
	var hs []tollgate.Hold
	err := l.readAccount(ctx, p.AccountID, func(tx store.Tx) error {
		if _, err := tx.AccountByID(ctx, p.AccountID); err != nil {
			return notFound(err, "account", p.AccountID)
		}
		var err error
		hs, err = tx.HoldList(ctx, store.HoldListParams{AccountID: p.AccountID, Status: p.Status, Now: now, Product: p.Product,
			CreatedFrom: p.CreatedFrom, CreatedTo: p.CreatedTo, After: p.After, Limit: p.Limit})
		return err
	})
	for i := range hs {
		if hs[i].Status == tollgate.HoldPending && !now.Before(hs[i].ExpiresAt) {
			hs[i].Status = tollgate.HoldExpired // as reads see it, before the sweeper
		}
	}
	return hs, err
}

// EntryListParams filters and pages an account's journal.
type EntryListParams = store.EntryListParams

// Entries returns up to p.Limit journal entries of p.AccountID after the
// entry id p.After that pass p's filters, oldest first. It fails with
// not_found for an unknown account.
func (l *Ledger) Entries(ctx context.Context, p EntryListParams) ([]tollgate.Entry, error) {
	if !validID(p.AccountID) {
		return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	var es []tollgate.Entry
	err := l.readAccount(ctx, p.AccountID, func(tx store.Tx) error {
		if _, err := tx.AccountByID(ctx, p.AccountID); err != nil {
			return notFound(err, "account", p.AccountID)
		}
		var err error
		es, err = tx.EntryList(ctx, p)
		return err
	})
	return es, err
}

// Accounts returns up to limit accounts with ids after after.
func (l *Ledger) Accounts(ctx context.Context, after string, limit int) ([]tollgate.Account, error) {
	var as []tollgate.Account
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		as, err = tx.AccountList(ctx, store.AccountListParams{After: after, Limit: limit})
		return err
	})
	return as, err
}

// Plans returns every plan version.
func (l *Ledger) Plans(ctx context.Context) ([]tollgate.PlanVersion, error) {
	var vs []tollgate.PlanVersion
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		vs, err = tx.PlanVersionList(ctx)
		return err
	})
	return vs, err
}
