package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// batch is the in-memory state of one write transaction: the locked
// accounts, their open grants and the holds the batch touches. Operations
// check everything before changing anything, so a failing one leaves the
// state as it found it.
type batch struct {
	l   *Ledger
	tx  batchTx
	now time.Time

	accounts map[string]*account
	grants   map[string]*grantState
	holds    map[string]*holdState
	plans    []tollgate.PlanVersion
	idem     map[[2]string]*record.Idempotency
	purged   bool                        // stale idempotency records deleted in this transaction
	before   map[string]tollgate.Credits // spendable at load, for credits.low
	w        store.Writes

	// With a state cache: the accounts read from the database in this
	// batch, and those of their pending holds the batch does not use, for
	// the cache to keep.
	fresh        map[string]bool
	freshPending []tollgate.Hold
	uncached     map[string]bool // read from the database, but not to keep: too many pending holds

	quotesUsed map[string]bool // quotes that have paid for a hold, known to this batch
	orders     map[string]*orderState
	plansRead  bool // plans was read, by the loader
	// pendingDelta is how the batch changed each account's count of
	// pending holds; keyPending counts the pending holds of the keys with a
	// cap of their own that make holds in this batch, as the batch changes
	// them (account id, key id).
	pendingDelta map[string]int
	keyPending   map[[2]string]int
	// cameoUses is how the batch changed cameos' uses ("cameo day").
	cameoUses map[string]int

	// cur is the operation being applied; owner and idemOwner map the
	// rows it makes (grants and holds by id, idempotency records by key)
	// back to it, so that a row refused at Apply names its operation.
	cur       *op
	owner     map[string]*op
	idemOwner map[store.IdempotencyKey]*op
}

// batchTx is what the committer needs of a transaction: the reads a batch
// loads and checks with, and Apply, which writes all it changed. The
// contracts are store.Tx's and record.Tx's.
type batchTx interface {
	// Loading (loader.go): accounts locked, then their grants and holds.
	AccountsLock(ctx context.Context, ids []string) ([]tollgate.Account, error)
	LockAccounts(ctx context.Context, q store.LockQuery) (store.Locked, error)
	GrantsOpen(ctx context.Context, accountIDs []string) ([]tollgate.Grant, error)
	GrantsByID(ctx context.Context, ids []string) ([]tollgate.Grant, error)
	HoldsByID(ctx context.Context, ids []string) ([]tollgate.Hold, error)
	HoldsPending(ctx context.Context, accountIDs []string, dueBy time.Time) ([]tollgate.Hold, error)
	HoldsPendingCount(ctx context.Context, accountIDs []string) ([]store.PendingCount, error)
	HoldsByQuote(ctx context.Context, quoteIDs []string) ([]tollgate.Hold, error)
	PlanVersionList(ctx context.Context) ([]tollgate.PlanVersion, error)
	OrderByID(ctx context.Context, id string) (tollgate.Order, error)
	// Cameos a video pays fees for: consent and uses per day.
	CameoByID(ctx context.Context, id string) (tollgate.Cameo, error)
	CameoApproved(ctx context.Context, cameoID, accountID string) (bool, error)
	CameoUsesOn(ctx context.Context, cameoID, day string) (int, error)
	PublishedByID(ctx context.Context, videoID string) (tollgate.Published, error)
	PayoutByID(ctx context.Context, id string) (tollgate.Payout, error)
	// Checks while applying: a reference taken, an order by its payment,
	// when the last credits.low went out, a request answered before.
	GrantByRef(ctx context.Context, accountID, ref string) (tollgate.Grant, error)
	OrderByProviderRef(ctx context.Context, provider, ref string) (tollgate.Order, error)
	EventLastAt(ctx context.Context, accountID, typ string) (time.Time, bool, error)
	IdempotencyByKey(ctx context.Context, scope, key string) (record.Idempotency, error)
	IdempotencyPurge(ctx context.Context, before time.Time) (int64, error)
	// Writing the batch.
	Apply(ctx context.Context, w *store.Writes) error
}

var _ batchTx = store.Tx(nil)

type account struct {
	a      tollgate.Account
	grants []*grantState // open grants, any order
}

type grantState struct {
	g            tollgate.Grant
	isNew, dirty bool
}

type holdState struct {
	h            tollgate.Hold
	isNew, dirty bool
}

// orderState is an order read under its account's lock: the state it was
// in (for the conditional update) and the state the batch leaves it in.
type orderState struct {
	o            tollgate.Order
	fromStatus   tollgate.OrderStatus
	fromRefunded tollgate.Credits
	paymentRef   string         // to record, when not ""
	paid         *tollgate.Paid // to record, when not nil
	dirty        bool
}

func newBatch(l *Ledger, tx batchTx, now time.Time) *batch {
	return &batch{
		l: l, tx: tx, now: now,
		accounts:   map[string]*account{},
		grants:     map[string]*grantState{},
		holds:      map[string]*holdState{},
		quotesUsed: map[string]bool{},
		orders:     map[string]*orderState{},
		owner:      map[string]*op{},
		idemOwner:  map[store.IdempotencyKey]*op{},
	}
}

// owners returns the operations that made the rows c names.
func (b *batch) owners(c *store.ConflictError) []*op {
	var out []*op
	add := func(o *op) {
		if o != nil && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, id := range c.Grants {
		add(b.owner[id])
	}
	for _, id := range c.Holds {
		add(b.owner[id])
	}
	for _, k := range c.Idempotency {
		add(b.idemOwner[k])
	}
	return out
}

// pendingChanged records that a pending hold of account acct, made by key,
// was made (+1) or settled (-1).
func (b *batch) pendingChanged(acct, key string, by int) {
	if b.pendingDelta == nil {
		b.pendingDelta = map[string]int{}
	}
	b.pendingDelta[acct] += by
	k := [2]string{acct, key}
	if _, ok := b.keyPending[k]; ok {
		b.keyPending[k] += by
	}
}

// pendingCap refuses a hold that would take the account or the key over
// its cap on pending holds.
func (b *batch) pendingCap(a *account, p *HoldParams) error {
	limit := tollgate.DefaultLimits.MaxPendingHolds
	if v := planAt(b.plans, a.a.Plan, b.now); v != nil {
		limit = v.Limits.Or(tollgate.DefaultLimits).MaxPendingHolds
	}
	if n := a.a.PendingHolds + b.pendingDelta[a.a.ID]; n >= limit {
		return tollgate.Errorf(tollgate.CodeTooManyPendingHolds,
			"account %s has %d pending holds, its plan's limit; capture or release some first, or move it to a plan with a higher limit", a.a.ID, n)
	}
	if p.KeyMaxPending > 0 {
		if n := b.keyPending[[2]string{a.a.ID, p.KeyID}]; n >= p.KeyMaxPending {
			return tollgate.Errorf(tollgate.CodeTooManyPendingHolds,
				"key %s has %d pending holds, its limit; capture or release some first", p.KeyID, n)
		}
	}
	return nil
}

// spendable is what an account can spend now from its grants, today's
// allowance left out: what credits.low watches.
func spendable(a *account, now time.Time) tollgate.Credits {
	var sum tollgate.Credits
	for _, gs := range a.grants {
		if gs.g.Source != tollgate.SourceAllowance && gs.g.Remaining > 0 && gs.g.Spendable(now) {
			sum += gs.g.Remaining
		}
	}
	return sum
}

// LowBalanceEvery is how often at most credits.low is sent for one account:
// an account spending around its threshold would otherwise send one at each
// crossing.
const LowBalanceEvery = time.Hour

// lowBalanceEvents fires credits.low for each account whose spendable
// credits went from at or above its threshold to below it in this batch,
// unless it fired for that account within LowBalanceEvery.
func (b *batch) lowBalanceEvents(ctx context.Context) error {
	ids := make([]string, 0, len(b.before))
	for id := range b.before {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := b.accounts[id]
		after := spendable(a, b.now)
		if b.before[id] < a.a.LowBalance || after >= a.a.LowBalance {
			continue
		}
		last, ok, err := b.tx.EventLastAt(ctx, id, tollgate.EventCreditsLow)
		if err != nil {
			return err
		}
		if ok && b.now.Sub(last) < LowBalanceEvery {
			continue
		}
		ev, err := tollgate.NewEvent(tollgate.EventCreditsLow, id, b.now, map[string]any{
			"account_id": id, "available": after, "threshold": a.a.LowBalance})
		if err == nil {
			b.w.Events = append(b.w.Events, ev)
		}
	}
	return nil
}

func (b *batch) addGrant(g tollgate.Grant, isNew bool) *grantState {
	gs := &grantState{g: g, isNew: isNew}
	if isNew && g.ExternalRef != "" { // only a reference can meet a taken key
		b.owner[g.ID] = b.cur
	}
	b.grants[g.ID] = gs
	if a := b.accounts[g.AccountID]; a != nil {
		a.grants = append(a.grants, gs)
	}
	return gs
}

// expire applies what time has done: overdue holds go back to their grants
// (or to breakage), then expired grants send their remainder to breakage.
func (b *batch) expire() {
	ids := make([]string, 0, len(b.holds))
	for id, hs := range b.holds {
		if hs.h.Status == tollgate.HoldPending && !b.now.Before(hs.h.ExpiresAt) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		hs := b.holds[id]
		txn := tollgate.NewID("txn")
		b.closeHold(hs, 0, txn, tollgate.TxnTimeout)
		hs.h.Status = tollgate.HoldExpired
	}
	gids := make([]string, 0)
	for id, gs := range b.grants {
		g := &gs.g
		if g.ExpiredAt == nil && g.ExpiresAt != nil && !b.now.Before(*g.ExpiresAt) {
			gids = append(gids, id)
		}
	}
	sort.Strings(gids)
	for _, id := range gids {
		gs := b.grants[id]
		g := &gs.g
		if g.Remaining > 0 {
			txn := tollgate.NewID("txn")
			b.entry(txn, tollgate.TxnExpire, g.AccountID, tollgate.BookAvailable, g.ID, "", -g.Remaining)
			b.entry(txn, tollgate.TxnExpire, g.AccountID, tollgate.BookBreakage, g.ID, "", g.Remaining)
			g.Remaining = 0
		}
		t := b.now
		g.ExpiredAt = &t
		gs.dirty = true
	}
}

func (b *batch) entry(txn string, kind tollgate.TxnKind, acct string, book tollgate.Book, grant, hold string, amt tollgate.Credits) {
	b.w.Entries = append(b.w.Entries, tollgate.Entry{
		TxnID: txn, Kind: kind, AccountID: acct, Book: book, GrantID: grant, HoldID: hold, Amount: amt, CreatedAt: b.now,
	})
}

// closeHold charges captured credits of a pending hold to revenue, in the
// order its allocations were drawn, and returns the rest to the grants
// (breakage for a grant no longer usable): a capture, a release and a
// timeout all end a hold this way. What a refund is owed from a grant is
// taken from what returns to it first; what it is owed beyond what is
// still held after this hold was spent, and becomes a refund loss. It
// records the hold as closed.
func (b *batch) closeHold(hs *holdState, captured tollgate.Credits, txn string, kind tollgate.TxnKind) {
	h := &hs.h
	left := captured
	for _, a := range h.Allocations {
		take := min(left, a.Amount)
		left -= take
		back := a.Amount - take
		b.entry(txn, kind, h.AccountID, tollgate.BookHeld, a.GrantID, h.ID, -a.Amount)
		if take > 0 {
			b.entry(txn, kind, h.AccountID, tollgate.RevenueBook(h.Product), a.GrantID, h.ID, take)
		}
		// load brings the grant of every allocation of a pending hold.
		gs := b.grants[a.GrantID]
		gs.g.Held -= a.Amount
		gs.dirty = true
		if g := &gs.g; g.RefundOwed > 0 {
			stillHeld := g.Held // by the other pending holds
			if r := min(g.RefundOwed, back); r > 0 {
				b.entry(txn, kind, h.AccountID, tollgate.BookRefunds, g.ID, h.ID, r)
				g.RefundOwed -= r
				back -= r
			}
			if lost := g.RefundOwed - max(stillHeld, 0); lost > 0 {
				b.entry(txn, kind, h.AccountID, tollgate.BookRefunds, g.ID, h.ID, -lost)
				b.entry(txn, kind, h.AccountID, tollgate.BookRefundLoss, g.ID, h.ID, lost)
				g.RefundOwed -= lost
			}
		}
		if back > 0 {
			if gs.g.Usable(b.now) {
				gs.g.Remaining += back
				b.entry(txn, kind, h.AccountID, tollgate.BookAvailable, a.GrantID, h.ID, back)
			} else {
				b.entry(txn, kind, h.AccountID, tollgate.BookBreakage, a.GrantID, h.ID, back)
			}
		}
	}
	h.Captured = captured
	t := b.now
	h.SettledAt = &t
	hs.dirty = true
	b.pendingChanged(h.AccountID, h.KeyID, -1)
}

// do applies one operation; its result stays in it.
func (b *batch) do(ctx context.Context, o *op) error {
	if o.n.nothing {
		return nil // loading did the work
	}
	a := b.accounts[o.accountID]
	if a == nil {
		return tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", o.accountID)
	}
	if o.idem != nil {
		rec, err := b.idempotent(ctx, o.idem)
		if err != nil {
			return err
		}
		if rec != nil {
			return &Replayed{Status: rec.Status, Body: rec.Body}
		}
	}
	if err := o.apply(ctx, b, a); err != nil {
		return err
	}
	if o.idem != nil {
		b.remember(o.idem, o.result())
	}
	return nil
}

func (b *batch) idempotent(ctx context.Context, k *Idempotency) (*record.Idempotency, error) {
	key := [2]string{k.Scope, k.Key}
	rec := b.idem[key]
	if rec == nil {
		r, err := b.tx.IdempotencyByKey(ctx, k.Scope, k.Key)
		switch {
		case err == nil:
			if b.now.Sub(r.CreatedAt) < b.l.opt.IdempotencyTTL {
				rec = &r
			} else if !b.purged { // forgotten: clear it so the key can be stored anew
				if _, err := b.tx.IdempotencyPurge(ctx, b.now.Add(-b.l.opt.IdempotencyTTL+time.Microsecond)); err != nil {
					return nil, err
				}
				b.purged = true
			}
		case tollgate.ErrorCode(err) != tollgate.CodeNotFound:
			return nil, err
		}
	}
	if rec == nil {
		return nil, nil
	}
	if !bytes.Equal(rec.RequestHash, k.Hash) {
		return nil, tollgate.Errorf(tollgate.CodeIdempotencyMismatch,
			"Idempotency-Key %q was used with another request; use a new key for a new request", k.Key)
	}
	return rec, nil
}

func (b *batch) remember(k *Idempotency, res any) {
	status, body := 200, []byte(nil)
	if k.Render != nil {
		status, body = k.Render(res)
	}
	rec := record.Idempotency{Scope: k.Scope, Key: k.Key, RequestHash: k.Hash, Status: status, Body: body, CreatedAt: b.now}
	if b.idem == nil {
		b.idem = map[[2]string]*record.Idempotency{}
	}
	b.idem[[2]string{k.Scope, k.Key}] = &rec
	if b.idemOwner != nil {
		b.idemOwner[store.IdempotencyKey{Scope: k.Scope, Key: k.Key}] = b.cur
	}
	b.w.Idempotency = append(b.w.Idempotency, rec)
}

func (b *batch) grant(ctx context.Context, a *account, p *GrantParams) (tollgate.Grant, error) {
	eff := b.now
	if p.EffectiveAt != nil {
		eff = *p.EffectiveAt
	}
	exp := p.ExpiresAt
	if p.ValidFor > 0 {
		t := eff.Add(p.ValidFor)
		exp = &t
	}
	if exp != nil && !exp.After(b.now) {
		return tollgate.Grant{}, tollgate.FieldError("expires_at", "must be in the future")
	}
	if exp != nil && !exp.After(eff) {
		return tollgate.Grant{}, tollgate.FieldError("expires_at", "must be after effective_at")
	}
	if p.ExternalRef != "" {
		exists, err := b.refExists(ctx, a, p.ExternalRef)
		if err != nil {
			return tollgate.Grant{}, err
		}
		if exists {
			return tollgate.Grant{}, tollgate.Errorf(tollgate.CodeConflict, "a grant with external_ref %q exists", p.ExternalRef)
		}
	}
	g := tollgate.Grant{
		ID: tollgate.NewID("grant"), AccountID: a.a.ID, Source: p.Source,
		Amount: p.Credits, Remaining: p.Credits, Products: p.Products, Priority: p.Priority,
		EffectiveAt: eff, ExpiresAt: exp, ExternalRef: p.ExternalRef, CreatedAt: b.now,
	}
	b.issue(&g)
	return g, nil
}

// issue records a new grant and its issuance in the journal.
func (b *batch) issue(g *tollgate.Grant) {
	b.addGrant(*g, true)
	txn := tollgate.NewID("txn")
	b.entry(txn, tollgate.TxnGrant, g.AccountID, tollgate.BookIssuance, g.ID, "", -g.Amount)
	b.entry(txn, tollgate.TxnGrant, g.AccountID, tollgate.BookAvailable, g.ID, "", g.Amount)
}

// issueAllowance creates today's allowance of a for p, as allowanceDue
// described it, on the first use of the account's local day.
func (b *batch) issueAllowance(a *account, p tollgate.Product, due allowance) {
	end := due.end
	g := tollgate.Grant{
		ID: tollgate.NewID("grant"), AccountID: a.a.ID, Source: tollgate.SourceAllowance,
		Amount: due.limit, Remaining: due.limit, Products: []tollgate.Product{p},
		EffectiveAt: due.start, ExpiresAt: &end, ExternalRef: due.ref, CreatedAt: b.now,
	}
	b.issue(&g)
}

// topUp raises the allowance in force to a higher limit its plan now
// gives (an upgrade): by the difference, so that what was used today
// stays used.
func (b *batch) topUp(gs *grantState, by tollgate.Credits) {
	g := &gs.g
	txn := tollgate.NewID("txn")
	b.entry(txn, tollgate.TxnGrant, g.AccountID, tollgate.BookIssuance, g.ID, "", -by)
	b.entry(txn, tollgate.TxnGrant, g.AccountID, tollgate.BookAvailable, g.ID, "", by)
	g.Amount += by
	g.Remaining += by
	gs.dirty = true
}

func allowanceRef(p tollgate.Product, date string) string {
	return "allowance:" + string(p) + ":" + date
}

func startOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).UTC()
}

// allowance is what a hold would find of the daily allowance: a grant to
// issue (limit and ref set), the grant in force to top up (topUp set, by
// more), or nothing to do; end is when the period resets (zero without an
// allowance).
type allowance struct {
	limit      tollgate.Credits
	ref        string
	start, end time.Time
	topUp      *grantState
	more       tollgate.Credits
}

// allowanceDue reports the allowance of a for p now. The period in force
// keeps its allowance and its end whatever has changed since it began (the
// time zone, the plan); a plan that now gives more raises it at once.
func (b *batch) allowanceDue(ctx context.Context, a *account, p tollgate.Product) (allowance, error) {
	limit := dailyLimit(b.plans, &a.a, p, b.now)
	for _, gs := range a.grants {
		if isAllowance(&gs.g, p, b.now) {
			due := allowance{end: *gs.g.ExpiresAt}
			if limit > gs.g.Amount {
				due.topUp, due.more = gs, limit-gs.g.Amount
			}
			return due, nil
		}
	}
	if limit <= 0 {
		return allowance{}, nil
	}
	start, end, ref := allowancePeriod(p, a.a.Location(), a.a.TimezoneFrom, b.now)
	exists, err := b.refExists(ctx, a, ref)
	if err != nil || exists {
		return allowance{end: end}, err
	}
	return allowance{limit: limit, ref: ref, start: start, end: end}, nil
}

// refExists reports whether the account has a grant with external
// reference ref: among those the batch knows, or else in the database (a
// closed grant the batch did not load; inserting another would break the
// unique index and fail the batch).
func (b *batch) refExists(ctx context.Context, a *account, ref string) (bool, error) {
	for _, gs := range a.grants {
		if gs.g.ExternalRef == ref {
			return true, nil
		}
	}
	_, err := b.tx.GrantByRef(ctx, a.a.ID, ref)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, tollgate.ErrNotFound):
		return false, nil
	}
	return false, err
}

// planAllowance returns the daily allowance of plan for product p at t, and
// the version in force.
func planAllowance(vs []tollgate.PlanVersion, plan string, p tollgate.Product, t time.Time) (tollgate.Credits, *tollgate.PlanVersion) {
	v := planAt(vs, plan, t)
	if v == nil {
		return 0, nil
	}
	return v.Allowances[p], v
}

// planAt returns the version of plan in force at t: the latest effective one.
func planAt(vs []tollgate.PlanVersion, plan string, t time.Time) *tollgate.PlanVersion {
	var best *tollgate.PlanVersion
	for i := range vs {
		v := &vs[i]
		if v.Plan != plan || v.EffectiveAt.After(t) {
			continue
		}
		if best == nil || v.EffectiveAt.After(best.EffectiveAt) ||
			(v.EffectiveAt.Equal(best.EffectiveAt) && v.Version > best.Version) {
			best = v
		}
	}
	return best
}

// payable returns the grants of a that may pay for p now, in burn-down
// order: soonest expiry first (never-expiring last), then priority, then age.
func payable(a *account, p tollgate.Product, now time.Time) []*grantState {
	var out []*grantState
	for _, gs := range a.grants {
		if gs.g.Remaining > 0 && gs.g.Pays(p) && gs.g.Spendable(now) {
			out = append(out, gs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return burnsBefore(&out[i].g, &out[j].g) })
	return out
}

// burnsBefore is the burn-down order of DESIGN.md invariant 2.
func burnsBefore(x, y *tollgate.Grant) bool {
	switch {
	case x.ExpiresAt == nil && y.ExpiresAt != nil:
		return false
	case x.ExpiresAt != nil && y.ExpiresAt == nil:
		return true
	case x.ExpiresAt != nil && !x.ExpiresAt.Equal(*y.ExpiresAt):
		return x.ExpiresAt.Before(*y.ExpiresAt)
	case x.Priority != y.Priority:
		return x.Priority < y.Priority
	case !x.CreatedAt.Equal(y.CreatedAt):
		return x.CreatedAt.Before(y.CreatedAt)
	}
	return x.ID < y.ID
}

func (b *batch) hold(ctx context.Context, a *account, p *HoldParams, usage bool) (tollgate.Hold, error) {
	if a.a.Status != tollgate.AccountActive {
		return tollgate.Hold{}, tollgate.Errorf(tollgate.CodeAccountSuspended, "account %s is %s and may not spend credits", a.a.ID, a.a.Status)
	}
	if p.QuoteID != "" {
		if b.quotesUsed[p.QuoteID] {
			return tollgate.Hold{}, tollgate.Errorf(tollgate.CodeQuoteUsed, "quote %s has paid for a job already; ask for a new quote", p.QuoteID)
		}
	}
	if !usage {
		if err := b.pendingCap(a, p); err != nil {
			return tollgate.Hold{}, err
		}
	}
	// Today's allowance counts before it exists; it is created only when the
	// hold goes through, so a refused hold writes nothing.
	due, err := b.allowanceDue(ctx, a, p.Product)
	if err != nil {
		return tollgate.Hold{}, err
	}
	allowEnd := due.end
	grants := payable(a, p.Product, b.now)
	avail := due.limit + due.more
	for _, gs := range grants {
		avail += gs.g.Remaining
	}
	if avail < p.Credits {
		e := &tollgate.Error{
			Code:    tollgate.CodeInsufficientCredits,
			Message: fmt.Sprintf("this needs %s credits for %s and the account has %s", p.Credits, p.Product, avail),
			Insufficient: &tollgate.Insufficient{
				AccountID: a.a.ID, Product: p.Product, Required: p.Credits, Available: avail,
			},
		}
		if !allowEnd.IsZero() {
			e.Insufficient.DailyAllowanceResetsAt = &allowEnd
		}
		return tollgate.Hold{}, e
	}
	if due.ref != "" {
		b.issueAllowance(a, p.Product, due)
		grants = payable(a, p.Product, b.now)
	}
	if due.topUp != nil {
		b.topUp(due.topUp, due.more)
		grants = payable(a, p.Product, b.now)
	}
	prefix, kind := "hold", tollgate.TxnHold
	if usage {
		prefix, kind = "use", tollgate.TxnUsage
	}
	h := tollgate.Hold{
		ID: tollgate.NewID(prefix), AccountID: a.a.ID, Product: p.Product, Amount: p.Credits,
		Status: tollgate.HoldPending, Metadata: p.Metadata, QuoteID: p.QuoteID, KeyID: p.KeyID,
		CreatedAt: b.now, ExpiresAt: b.now.Add(p.TTL),
	}
	txn := tollgate.NewID("txn")
	need := p.Credits
	for _, gs := range grants {
		if need == 0 {
			break
		}
		take := min(need, gs.g.Remaining)
		need -= take
		gs.g.Remaining -= take
		gs.dirty = true
		h.Allocations = append(h.Allocations, tollgate.Allocation{GrantID: gs.g.ID, Amount: take})
		b.entry(txn, kind, a.a.ID, tollgate.BookAvailable, gs.g.ID, h.ID, -take)
		if usage {
			b.entry(txn, kind, a.a.ID, tollgate.RevenueBook(p.Product), gs.g.ID, h.ID, take)
		} else {
			b.entry(txn, kind, a.a.ID, tollgate.BookHeld, gs.g.ID, h.ID, take)
			gs.g.Held += take
		}
	}
	if usage {
		h.Status, h.Captured, h.ExpiresAt = tollgate.HoldCaptured, p.Credits, b.now
		t := b.now
		h.SettledAt = &t
	}
	b.holds[h.ID] = &holdState{h: h, isNew: true}
	if !usage {
		b.pendingChanged(a.a.ID, p.KeyID, 1)
	}
	if p.QuoteID != "" { // only a quote can meet a taken key
		b.owner[h.ID] = b.cur
		b.quotesUsed[p.QuoteID] = true
	}
	return h, nil
}

// flush turns the batch's changes into rows: new grants and holds are
// inserted with their final state, changed ones updated once each.
func (b *batch) flush(ctx context.Context) error {
	if err := b.lowBalanceEvents(ctx); err != nil {
		return err
	}
	gids := make([]string, 0, len(b.grants))
	for id, gs := range b.grants {
		if gs.isNew || gs.dirty {
			gids = append(gids, id)
		}
	}
	sort.Strings(gids)
	for _, id := range gids {
		gs := b.grants[id]
		if gs.isNew {
			b.w.Grants = append(b.w.Grants, gs.g)
		} else {
			b.w.GrantUpdates = append(b.w.GrantUpdates, store.GrantUpdate{ID: id, Amount: gs.g.Amount, Remaining: gs.g.Remaining, Held: gs.g.Held,
				RefundOwed: gs.g.RefundOwed, ExpiredAt: gs.g.ExpiredAt, Frozen: gs.g.Frozen})
		}
	}
	hids := make([]string, 0, len(b.holds))
	for id, hs := range b.holds {
		if hs.isNew || hs.dirty {
			hids = append(hids, id)
		}
	}
	sort.Strings(hids)
	for _, id := range hids {
		hs := b.holds[id]
		if hs.isNew {
			b.w.Holds = append(b.w.Holds, hs.h)
		} else {
			b.w.HoldUpdates = append(b.w.HoldUpdates, store.HoldUpdate{ID: id, Status: hs.h.Status, Captured: hs.h.Captured, SettledAt: hs.h.SettledAt})
		}
	}
	oids := make([]string, 0, len(b.orders))
	for id, os := range b.orders {
		if os.dirty {
			oids = append(oids, id)
		}
	}
	sort.Strings(oids)
	for _, id := range oids {
		os := b.orders[id]
		o := &os.o
		b.w.OrderUpdates = append(b.w.OrderUpdates, store.OrderUpdate{ID: id, FromStatus: os.fromStatus, FromRefunded: os.fromRefunded,
			Status: o.Status, GrantID: o.GrantID, RefundedCredits: o.RefundedCredits, PaymentRef: os.paymentRef,
			CompletedAt: o.CompletedAt, RefundedAt: o.RefundedAt, DisputeID: o.DisputeID, DisputeStatus: o.DisputeStatus, Paid: os.paid})
	}
	aids := make([]string, 0, len(b.pendingDelta))
	for id, d := range b.pendingDelta {
		if d != 0 {
			aids = append(aids, id)
		}
	}
	sort.Strings(aids)
	for _, id := range aids {
		a := b.accounts[id]
		if a == nil {
			return fmt.Errorf("ledger: holds of account %s changed without its lock", id)
		}
		a.a.PendingHolds += b.pendingDelta[id]
		b.w.AccountPending = append(b.w.AccountPending, store.AccountPending{ID: id, N: a.a.PendingHolds})
	}
	return nil
}

// transfer moves credits from a's grants to new grants of p.To.
func (b *batch) transfer(a *account, p *TransferParams) (Transfer, error) {
	to := b.accounts[p.To]
	if to == nil {
		return Transfer{}, tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", p.To)
	}
	if a.a.Status != tollgate.AccountActive {
		return Transfer{}, tollgate.Errorf(tollgate.CodeAccountSuspended, "account %s is %s and may not move credits", a.a.ID, a.a.Status)
	}
	var from []*grantState
	var avail tollgate.Credits
	for _, gs := range a.grants {
		g := &gs.g
		if g.Remaining > 0 && g.Source != tollgate.SourceAllowance && g.Spendable(b.now) && (p.Product == "" || g.Pays(p.Product)) {
			from = append(from, gs)
			avail += g.Remaining
		}
	}
	if avail < p.Credits {
		what := "credits"
		if p.Product != "" {
			what = "credits for " + string(p.Product)
		}
		return Transfer{}, &tollgate.Error{
			Code:         tollgate.CodeInsufficientCredits,
			Message:      fmt.Sprintf("moving %s %s needs that many transferable credits (today's allowance is not) and account %s has %s", p.Credits, what, a.a.ID, avail),
			Insufficient: &tollgate.Insufficient{AccountID: a.a.ID, Product: p.Product, Required: p.Credits, Available: avail},
		}
	}
	sort.Slice(from, func(i, j int) bool { return burnsBefore(&from[i].g, &from[j].g) })
	t := Transfer{TxnID: tollgate.NewID("txn"), From: a.a.ID, To: to.a.ID, Credits: p.Credits, CreatedAt: b.now}
	need := p.Credits
	for _, gs := range from {
		if need == 0 {
			break
		}
		src := &gs.g
		take := min(need, src.Remaining)
		need -= take
		src.Remaining -= take
		gs.dirty = true
		b.entry(t.TxnID, tollgate.TxnTransfer, a.a.ID, tollgate.BookAvailable, src.ID, "", -take)
		b.entry(t.TxnID, tollgate.TxnTransfer, a.a.ID, tollgate.BookTransferOut, src.ID, "", take)
		g := tollgate.Grant{
			ID: tollgate.NewID("grant"), AccountID: to.a.ID, Source: p.Source, Amount: take, Remaining: take,
			Products: src.Products, EffectiveAt: b.now, ExpiresAt: src.ExpiresAt, CreatedAt: b.now,
		}
		b.addGrant(g, true)
		b.entry(t.TxnID, tollgate.TxnTransfer, to.a.ID, tollgate.BookTransferIn, g.ID, "", -take)
		b.entry(t.TxnID, tollgate.TxnTransfer, to.a.ID, tollgate.BookAvailable, g.ID, "", take)
		t.Drawn = append(t.Drawn, tollgate.Allocation{GrantID: src.ID, Amount: take})
		t.Grants = append(t.Grants, g)
	}
	return t, nil
}
