package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"

	"tollgate"
)

// PayoutParams ask to pay out an account's earnings.
type PayoutParams struct {
	AccountID string
	Credits   tollgate.Credits
	// Rate is the payout rate in force (its currency, version, minimum).
	Rate tollgate.PayoutRate
	// Destination is the Stripe connected account the money goes to, ""
	// for a payout the operator makes by hand.
	Destination string
	Idempotency *Idempotency
}

// Payout takes credits from an account's royalty grants (its earnings:
// credits it bought or was given cannot be paid out) to the payouts book
// and records a pending payout of their money at the rate, in one
// transaction. It fails with invalid_field naming credits below the
// rate's minimum, above the earnings available, or worth less than one
// minor unit, and not_found for an unknown account.
func (l *Ledger) Payout(ctx context.Context, p PayoutParams) (tollgate.Payout, error) {
	switch {
	case !validID(p.AccountID) || p.AccountID == "":
		return tollgate.Payout{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	case p.Credits <= 0 || p.Credits > tollgate.MaxCredits:
		return tollgate.Payout{}, tollgate.FieldError("credits", "must be more than zero, at most %s", tollgate.MaxCredits)
	case p.Credits < p.Rate.Minimum:
		return tollgate.Payout{}, tollgate.FieldError("credits", "a payout is at least %s credits", p.Rate.Minimum)
	case p.Rate.MinorPerCredit <= 0 || p.Rate.Currency == "":
		return tollgate.Payout{}, fmt.Errorf("payout: no rate")
	}
	amount, ok := tollgate.MulDivFloor(int64(p.Credits), p.Rate.MinorPerCredit, tollgate.MicroPerCredit)
	if !ok || amount <= 0 {
		return tollgate.Payout{}, tollgate.FieldError("credits", "%s credits are worth less than one minor unit of %s at the payout rate", p.Credits, p.Rate.Currency)
	}
	po := tollgate.Payout{ID: tollgate.NewID("po"), AccountID: p.AccountID, Credits: p.Credits, Amount: tollgate.Money{Amount: amount, Currency: p.Rate.Currency},
		RateVersion: p.Rate.Version, Status: tollgate.PayoutPending, Destination: p.Destination}
	o, err := run(ctx, l, &payoutOp{p: po}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Payout{}, err
	}
	return o.p, nil
}

// payoutOp moves earnings out: Ledger.Payout.
type payoutOp struct{ p tollgate.Payout }

func (o *payoutOp) need(n *need) { n.account = o.p.AccountID }
func (o *payoutOp) result() any  { return o.p }
func (o *payoutOp) apply(_ context.Context, b *batch, a *account) error {
	o.p.Drawn = nil // a batch that failed is applied again from the start
	var from []*grantState
	var avail tollgate.Credits
	for _, gs := range a.grants {
		if g := &gs.g; g.Source == tollgate.SourceRoyalty && g.Remaining > 0 && g.Spendable(b.now) {
			from = append(from, gs)
			avail += g.Remaining
		}
	}
	if avail < o.p.Credits {
		return tollgate.FieldError("credits", "account %s has %s credits of earnings to pay out, not %s (earnings spent on videos are not paid out)",
			a.a.ID, avail, o.p.Credits)
	}
	sort.Slice(from, func(i, j int) bool { return burnsBefore(&from[i].g, &from[j].g) })
	o.p.CreatedAt = b.now
	txn, need := tollgate.NewID("txn"), o.p.Credits
	for _, gs := range from {
		if need == 0 {
			break
		}
		take := min(need, gs.g.Remaining)
		need -= take
		gs.g.Remaining -= take
		gs.dirty = true
		b.entry(txn, tollgate.TxnPayout, a.a.ID, tollgate.BookAvailable, gs.g.ID, "", -take)
		b.entry(txn, tollgate.TxnPayout, a.a.ID, tollgate.BookPayouts, gs.g.ID, "", take)
		o.p.Drawn = append(o.p.Drawn, tollgate.Allocation{GrantID: gs.g.ID, Amount: take})
	}
	b.w.Payouts = append(b.w.Payouts, o.p)
	b.audited(a, o.p.ID, map[string]any{"credits": o.p.Credits, "amount": o.p.Amount, "destination": o.p.Destination})
	return nil
}

// SettlePayoutParams say how a pending payout ended.
type SettlePayoutParams struct {
	PayoutID  string
	AccountID string // its account: another's is not found
	// Status is paid or failed.
	Status     tollgate.PayoutStatus
	TransferID string // the provider's, when it paid
	Reference  string // the operator's, for one paid by hand
	Failure    string // why it failed
}

// SettlePayout records that a pending payout was paid, or failed: a
// failed payout's credits return to the royalty grants they came from, in
// the same transaction. Settling it again the same way changes nothing;
// the other way is a conflict.
func (l *Ledger) SettlePayout(ctx context.Context, p SettlePayoutParams) (tollgate.Payout, error) {
	if p.Status != tollgate.PayoutPaid && p.Status != tollgate.PayoutFailed {
		return tollgate.Payout{}, tollgate.FieldError("status", "must be paid or failed")
	}
	if !validID(p.AccountID) || p.AccountID == "" {
		return tollgate.Payout{}, tollgate.Errorf(tollgate.CodeNotFound, "payout %q not found", p.PayoutID)
	}
	o, err := run(ctx, l, &settlePayoutOp{p: p}, nil, nil)
	if err != nil {
		return tollgate.Payout{}, err
	}
	return o.res, nil
}

// settlePayoutOp ends a pending payout: Ledger.SettlePayout.
type settlePayoutOp struct {
	p   SettlePayoutParams
	res tollgate.Payout
}

func (o *settlePayoutOp) need(n *need) { n.account = o.p.AccountID }
func (o *settlePayoutOp) result() any  { return o.res }
func (o *settlePayoutOp) apply(ctx context.Context, b *batch, a *account) error {
	po, err := b.tx.PayoutByID(ctx, o.p.PayoutID)
	if errors.Is(err, tollgate.ErrNotFound) || err == nil && po.AccountID != a.a.ID {
		return tollgate.Errorf(tollgate.CodeNotFound, "payout %q not found", o.p.PayoutID)
	}
	if err != nil {
		return err
	}
	for _, x := range b.w.PayoutUpdates {
		if x.ID == po.ID { // settled earlier in this batch
			po = x
		}
	}
	if po.Status == o.p.Status {
		o.res = po
		return nil
	}
	if po.Status != tollgate.PayoutPending {
		return tollgate.Errorf(tollgate.CodeConflict, "payout %s is %s already", po.ID, po.Status)
	}
	now := b.now
	po.Status, po.SettledAt = o.p.Status, &now
	po.TransferID, po.Reference, po.Failure = cmp.Or(o.p.TransferID, po.TransferID), o.p.Reference, o.p.Failure
	if o.p.Status == tollgate.PayoutFailed {
		if err := b.returnPayout(ctx, a, po); err != nil {
			return err
		}
	}
	b.w.PayoutUpdates = append(b.w.PayoutUpdates, po)
	b.audited(a, po.ID, map[string]any{"status": po.Status, "transfer_id": po.TransferID, "reference": po.Reference, "failure": po.Failure})
	o.res = po
	return nil
}

// returnPayout brings a failed payout's credits back to the grants it
// drew on (royalty grants never expire), loading those no longer open.
func (b *batch) returnPayout(ctx context.Context, a *account, po tollgate.Payout) error {
	var missing []string
	for _, d := range po.Drawn {
		if b.grants[d.GrantID] == nil {
			missing = append(missing, d.GrantID)
		}
	}
	if len(missing) > 0 {
		gs, err := b.tx.GrantsByID(ctx, missing)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.AccountID == a.a.ID {
				b.addGrant(g, false)
			}
		}
	}
	txn := tollgate.NewID("txn")
	for _, d := range po.Drawn {
		gs := b.grants[d.GrantID]
		if gs == nil {
			return fmt.Errorf("payout %s drew on grant %s, which is gone", po.ID, d.GrantID)
		}
		gs.g.Remaining += d.Amount
		gs.dirty = true
		b.entry(txn, tollgate.TxnPayout, a.a.ID, tollgate.BookPayouts, d.GrantID, "", -d.Amount)
		b.entry(txn, tollgate.TxnPayout, a.a.ID, tollgate.BookAvailable, d.GrantID, "", d.Amount)
	}
	return nil
}
