package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"tollgate"
)

// operation is one write the committer applies in a batch. It declares
// what it touches (need), so that the loader locks and reads all of it
// before any operation of the batch runs; then it applies itself to the
// batch's state in memory, checking everything before it changes anything,
// and keeps its typed result.
type operation interface {
	// need adds what the operation locks and reads to n.
	need(n *need)
	// apply runs the operation on account a, locked and loaded; b.cur is
	// its envelope.
	apply(ctx context.Context, b *batch, a *account) error
	// result is what apply made, for the idempotency record.
	result() any
}

// need is what one operation declares it touches.
type need struct {
	account string // the account acted on; "" when the loader resolves it from hold or order
	to      string // a second account, locked with the first (a transfer's)
	// others are more accounts locked with the first: the owners a
	// video's fees pay.
	others []string
	hold   string // a hold it settles; its account is the one acted on
	// owner, when set, is the only account whose hold (hold) may be
	// settled: another's is not found.
	owner string
	order string // an order it changes; its account is the one acted on
	quote string // a quote it pays with: the loader reads whether one is used
	plans bool   // it reads the plan versions (allowances, limits)
	// keyCap names the key whose own cap on pending holds the operation
	// checks; the loader counts that key's pending holds.
	keyCap  string
	hasCap  bool
	forget  bool // the account changed outside the committer: drop what is cached of it
	nothing bool // the operation does no more than the loading does (sweep, forget)
}

// op is an operation on the committer's queue, with what the committer
// keeps of it: its idempotency key, its audit entry, and its outcome.
type op struct {
	operation
	n         need
	accountID string               // resolved at load
	idem      *Idempotency         // nil: none
	audit     *tollgate.AuditEntry // recorded with the operation's outcome, if any

	conflicts int // times taken out of a batch for a key taken meanwhile

	pendingErr error // this attempt's error
	err        error // the answer
	done       chan struct{}
}

func (o *op) String() string { return fmt.Sprintf("%T", o.operation) }

// newOp wraps an operation for the queue.
func newOp(x operation, idem *Idempotency, audit *tollgate.AuditEntry) *op {
	o := &op{operation: x, idem: idem, audit: audit}
	x.need(&o.n)
	o.accountID = o.n.account
	return o
}

// audited records in the batch the audit entry the current operation
// carries, if any, for what it did to target of account a.
func (b *batch) audited(a *account, target string, detail map[string]any) {
	if b.cur == nil || b.cur.audit == nil {
		return
	}
	e := *b.cur.audit
	e.AccountID, e.Target, e.CreatedAt = a.a.ID, target, b.now
	d, _ := json.Marshal(detail)
	e.Detail = string(d)
	b.w.Audit = append(b.w.Audit, e)
}

// grantOp gives credits: Ledger.Grant.
type grantOp struct {
	p   GrantParams
	res tollgate.Grant
}

func (o *grantOp) need(n *need) { n.account = o.p.AccountID }
func (o *grantOp) result() any  { return o.res }
func (o *grantOp) apply(ctx context.Context, b *batch, a *account) error {
	g, err := b.grant(ctx, a, &o.p)
	if err != nil {
		return err
	}
	b.audited(a, g.ID, map[string]any{"credits": g.Amount, "source": g.Source, "products": g.Products,
		"expires_at": g.ExpiresAt, "external_ref": g.ExternalRef, "priority": g.Priority})
	o.res = g
	return nil
}

// holdOp reserves credits (Ledger.Hold), or reserves and captures them at
// once (usage: Ledger.Usage).
type holdOp struct {
	p     HoldParams
	usage bool
	res   tollgate.Hold
}

func (o *holdOp) need(n *need) {
	n.account, n.quote, n.plans = o.p.AccountID, o.p.QuoteID, true
	if !o.usage && o.p.KeyMaxPending > 0 {
		n.keyCap, n.hasCap = o.p.KeyID, true
	}
}
func (o *holdOp) result() any { return o.res }
func (o *holdOp) apply(ctx context.Context, b *batch, a *account) (err error) {
	o.res, err = b.hold(ctx, a, &o.p, o.usage)
	return err
}

// closeHoldOp captures (Ledger.Capture) or releases (Ledger.Release) a
// pending hold.
type closeHoldOp struct {
	holdID   string
	owner    string             // set: only this account's hold
	products []tollgate.Product // set: only a hold for one of these
	release  bool
	credits  *tollgate.Credits // captured; nil: all of it
	res      tollgate.Hold
}

func (o *closeHoldOp) need(n *need) { n.hold, n.owner = o.holdID, o.owner }
func (o *closeHoldOp) result() any  { return o.res }
func (o *closeHoldOp) apply(_ context.Context, b *batch, _ *account) error {
	hs := b.holds[o.holdID]
	if hs == nil {
		return tollgate.Errorf(tollgate.CodeNotFound, "hold %s not found", o.holdID)
	}
	h := &hs.h
	if len(o.products) > 0 && !slices.Contains(o.products, h.Product) {
		return tollgate.Errorf(tollgate.CodeForbidden, "hold %s is for %s, which this key may not spend on", h.ID, h.Product)
	}
	if h.Status != tollgate.HoldPending {
		return tollgate.Errorf(tollgate.CodeHoldNotPending, "hold %s is %s; only a pending hold can be captured or released", h.ID, h.Status)
	}
	if o.release {
		b.closeHold(hs, 0, tollgate.NewID("txn"), tollgate.TxnRelease)
		h.Status = tollgate.HoldReleased
		o.res = *h
		return nil
	}
	c := h.Amount
	if o.credits != nil {
		c = *o.credits
	}
	if c > h.Amount {
		return &tollgate.Error{Code: tollgate.CodeCaptureExceedsHold, Field: "credits",
			Message: fmt.Sprintf("cannot capture %s credits: hold %s reserved %s", c, h.ID, h.Amount)}
	}
	b.closeHold(hs, c, tollgate.NewID("txn"), tollgate.TxnCapture)
	h.Status = tollgate.HoldCaptured
	o.res = *h
	return nil
}

// sweepOp applies what time has done to one account (Ledger.SweepAccount):
// loading the account does it, so the operation itself does nothing.
type sweepOp struct{ accountID string }

func (o *sweepOp) need(n *need)                                  { n.account, n.nothing = o.accountID, true }
func (o *sweepOp) result() any                                   { return nil }
func (o *sweepOp) apply(context.Context, *batch, *account) error { return nil }

// forgetOp drops what the committer caches of an account changed outside
// it (its plan, its time zone).
type forgetOp struct{ accountID string }

func (o *forgetOp) need(n *need) {
	n.account, n.forget, n.nothing = o.accountID, true, true
}
func (o *forgetOp) result() any                                   { return nil }
func (o *forgetOp) apply(context.Context, *batch, *account) error { return nil }

// completeOrderOp grants a paid order's credits: Ledger.CompleteOrder.
type completeOrderOp struct {
	p   CompleteOrderParams
	res OrderResult
}

func (o *completeOrderOp) need(n *need) { n.order = o.p.OrderID }
func (o *completeOrderOp) result() any  { return o.res }
func (o *completeOrderOp) apply(ctx context.Context, b *batch, a *account) (err error) {
	o.res, err = b.completeOrder(ctx, a, o.p.OrderID, &o.p)
	return err
}

// refundOrderOp takes back what a refund covers: Ledger.RefundOrder.
type refundOrderOp struct {
	p   RefundOrderParams
	res OrderResult
}

func (o *refundOrderOp) need(n *need) { n.order = o.p.OrderID }
func (o *refundOrderOp) result() any  { return o.res }
func (o *refundOrderOp) apply(ctx context.Context, b *batch, a *account) error {
	r, err := b.refundOrder(ctx, a, o.p.OrderID, &o.p)
	if err != nil {
		return err
	}
	if r.Changed {
		b.audited(a, o.p.OrderID, map[string]any{"refunded": o.p.Refunded, "of": o.p.Total, "currency": r.Order.Price.Currency,
			"refunded_credits": r.Order.RefundedCredits, "taken_back": r.Refund.TakenBack, "owed": r.Refund.Owed, "lost": r.Refund.Lost})
	}
	o.res = r
	return nil
}

// disputeOrderOp records where a dispute stands: Ledger.DisputeOrder.
type disputeOrderOp struct {
	p   DisputeParams
	res OrderResult
}

func (o *disputeOrderOp) need(n *need) { n.order = o.p.OrderID }
func (o *disputeOrderOp) result() any  { return o.res }
func (o *disputeOrderOp) apply(ctx context.Context, b *batch, a *account) error {
	r, err := b.disputeOrder(ctx, a, o.p.OrderID, &o.p)
	if err != nil {
		return err
	}
	if r.Changed {
		b.audited(a, o.p.OrderID, map[string]any{"dispute_id": o.p.DisputeID, "status": o.p.Status, "amount": o.p.Amount,
			"currency": r.Order.Price.Currency, "taken_back": r.Refund.TakenBack, "owed": r.Refund.Owed, "lost": r.Refund.Lost})
	}
	o.res = r
	return nil
}

// transferOp moves credits between accounts: Ledger.Transfer.
type transferOp struct {
	p   TransferParams
	res Transfer
}

func (o *transferOp) need(n *need) { n.account, n.to = o.p.From, o.p.To }
func (o *transferOp) result() any  { return o.res }
func (o *transferOp) apply(_ context.Context, b *batch, a *account) (err error) {
	o.res, err = b.transfer(a, &o.p)
	return err
}
