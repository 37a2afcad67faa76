package ledger

import (
	"context"
	"time"

	"tollgate"
)

// completeOrder grants a paid order's credits and marks it completed; a
// refund recorded before the payment is taken back at once.
func (b *batch) completeOrder(ctx context.Context, a *account, id string, p *CompleteOrderParams) (OrderResult, error) {
	os := b.orders[id]
	if os == nil {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %s not found", id)
	}
	o := &os.o
	ref := p.PaymentRef
	if ref != "" && ref != o.PaymentRef {
		taken, err := b.tx.OrderByProviderRef(ctx, o.Provider, ref)
		switch {
		case err == nil && taken.ID != o.ID:
			// Recording it would break the unique index and fail the
			// batch; the payment is the other order's.
			b.l.log.Warn("ledger: a payment reference already names another order; not recorded", "order", o.ID, "ref", ref, "other", taken.ID)
			ref = ""
		case err != nil && tollgate.ErrorCode(err) != tollgate.CodeNotFound:
			return OrderResult{}, err
		}
	} else {
		ref = ""
	}
	setPaid := p.Paid != nil && o.Paid == nil && o.Status != tollgate.OrderRefunded
	if setPaid {
		paid := *p.Paid
		os.paid, o.Paid, os.dirty = &paid, &paid, true
	}
	switch o.Status {
	case tollgate.OrderRefunded:
		return OrderResult{Order: *o}, tollgate.Errorf(tollgate.CodeConflict, "order %s was refunded", o.ID)
	case tollgate.OrderCompleted:
		res := OrderResult{Order: *o}
		if gs := b.grants[o.GrantID]; gs != nil {
			g := gs.g
			res.Grant = &g
		}
		if ref != "" {
			os.paymentRef, o.PaymentRef, os.dirty = ref, ref, true
			res.Order, res.Changed = *o, true
		}
		if setPaid { // completed before what was paid was known
			res.Order, res.Changed = *o, true
		}
		return res, nil
	}
	g, err := b.orderGrant(ctx, a, o, p.PaidAt)
	if err != nil {
		return OrderResult{}, err
	}
	if o.DisputeStatus == tollgate.DisputeOpen { // disputed before the payment's event came
		g.g.Frozen, g.dirty = true, true
	}
	t := b.now
	o.Status, o.GrantID, o.CompletedAt = tollgate.OrderCompleted, g.g.ID, &t
	if ref != "" {
		os.paymentRef, o.PaymentRef = ref, ref
	}
	os.dirty = true
	res := OrderResult{Order: *o, Changed: true}
	if o.RefundedCredits > 0 { // a refund came before the payment
		res.Refund = b.refundGrant(g, o.RefundedCredits, o.RefundedCredits >= o.Credits)
	}
	grant := g.g
	res.Grant = &grant
	ev, err := tollgate.NewEvent(tollgate.EventOrderCompleted, o.AccountID, b.now, map[string]any{
		"order_id": o.ID, "account_id": o.AccountID, "pack_id": o.PackID, "credits": o.Credits,
		"price": o.Price, "grant_id": g.g.ID, "expires_at": g.g.ExpiresAt})
	if err != nil {
		return OrderResult{}, err
	}
	b.w.Events = append(b.w.Events, ev)
	return res, nil
}

// orderGrant makes the grant of a paid order, or finds the one an earlier
// version made without completing the order.
func (b *batch) orderGrant(ctx context.Context, a *account, o *tollgate.Order, paidAt time.Time) (*grantState, error) {
	ref := "order:" + o.ID
	for _, gs := range a.grants {
		if gs.g.ExternalRef == ref {
			return gs, nil
		}
	}
	g, err := b.tx.GrantByRef(ctx, a.a.ID, ref)
	switch {
	case err == nil:
		if gs := b.grants[g.ID]; gs != nil {
			return gs, nil
		}
		return b.addGrant(g, false), nil
	case tollgate.ErrorCode(err) != tollgate.CodeNotFound:
		return nil, err
	}
	if paidAt.IsZero() {
		paidAt = b.now
	}
	made, err := b.grant(ctx, a, &GrantParams{AccountID: a.a.ID, Credits: o.Credits, Source: tollgate.SourcePurchase, Products: o.Products,
		EffectiveAt: &paidAt, ValidFor: time.Duration(o.ValidForDays) * 24 * time.Hour, ExternalRef: ref})
	if err != nil {
		return nil, err
	}
	return b.grants[made.ID], nil
}

// refundOrder records a refund of an order's payment and takes back what
// it covers beyond earlier refunds.
func (b *batch) refundOrder(ctx context.Context, a *account, id string, p *RefundOrderParams) (OrderResult, error) {
	os := b.orders[id]
	if os == nil {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %s not found", id)
	}
	o := &os.o
	full := p.Refunded == p.Total
	covered := o.Credits
	if !full {
		q, _ := tollgate.MulDivCeil(int64(o.Credits), p.Refunded, p.Total)
		covered = tollgate.Credits(q)
	}
	delta := covered - o.RefundedCredits
	res := OrderResult{Order: *o}
	if delta <= 0 && (!full || o.Status == tollgate.OrderRefunded) {
		return res, nil // a repeat, or an older event
	}
	delta = max(delta, 0)
	o.RefundedCredits += delta
	if full {
		t := b.now
		o.Status, o.RefundedAt = tollgate.OrderRefunded, &t
	}
	os.dirty = true
	res.Order, res.Changed = *o, true
	if o.GrantID == "" { // not paid yet: taken back when the payment completes
		return res, nil
	}
	gs := b.grants[o.GrantID]
	if gs == nil {
		g, err := b.grantRow(ctx, o.GrantID)
		if err != nil {
			return OrderResult{}, err
		}
		gs = g
	}
	if gs.g.AccountID != a.a.ID {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "grant %s not found", o.GrantID)
	}
	res.Refund = b.refundGrant(gs, delta, full)
	g := gs.g
	res.Grant = &g
	return res, nil
}

// grantRow reads a grant the batch has not loaded (spent to zero, or
// closed), for an account it has locked.
func (b *batch) grantRow(ctx context.Context, id string) (*grantState, error) {
	gs, err := b.tx.GrantsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, tollgate.Errorf(tollgate.CodeNotFound, "grant %s not found", id)
	}
	return b.addGrant(gs[0], false), nil
}

// refundGrant takes back credits of a grant whose payment was refunded:
// what is available at once; what pending holds hold (and no earlier
// refund is owed) as those holds return it; the rest, already spent or
// expired, is recorded as a refund loss. A full refund takes everything
// still available and closes the grant.
func (b *batch) refundGrant(gs *grantState, credits tollgate.Credits, full bool) Refunded {
	g := &gs.g
	take := min(credits, g.Remaining)
	if full {
		take = g.Remaining
	}
	owe := min(credits-take, max(g.Held-g.RefundOwed, 0))
	r := Refunded{TakenBack: take, Owed: owe, Lost: max(credits-take-owe, 0)}
	txn := tollgate.NewID("txn")
	if r.TakenBack > 0 {
		b.entry(txn, tollgate.TxnRefund, g.AccountID, tollgate.BookAvailable, g.ID, "", -r.TakenBack)
		b.entry(txn, tollgate.TxnRefund, g.AccountID, tollgate.BookRefunds, g.ID, "", r.TakenBack)
		g.Remaining -= r.TakenBack
	}
	g.RefundOwed += r.Owed
	if r.Lost > 0 {
		b.entry(txn, tollgate.TxnRefund, g.AccountID, tollgate.BookRefunds, g.ID, "", -r.Lost)
		b.entry(txn, tollgate.TxnRefund, g.AccountID, tollgate.BookRefundLoss, g.ID, "", r.Lost)
	}
	if full && g.ExpiredAt == nil {
		t := b.now
		g.ExpiredAt = &t
	}
	gs.dirty = true
	return r
}

// disputeOrder moves a dispute of an order's payment on; see DisputeOrder.
func (b *batch) disputeOrder(ctx context.Context, a *account, id string, p *DisputeParams) (OrderResult, error) {
	os := b.orders[id]
	if os == nil {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %s not found", id)
	}
	o := &os.o
	res := OrderResult{Order: *o}
	closed := o.DisputeStatus == tollgate.DisputeWon || o.DisputeStatus == tollgate.DisputeLost
	switch {
	case o.DisputeID == p.DisputeID && (o.DisputeStatus == p.Status || closed):
		return res, nil // a repeat, or a late event of a closed dispute
	}
	var gs *grantState
	if o.GrantID != "" {
		if gs = b.grants[o.GrantID]; gs == nil {
			g, err := b.grantRow(ctx, o.GrantID)
			if err != nil {
				return OrderResult{}, err
			}
			gs = g
		}
		if gs.g.AccountID != a.a.ID {
			return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "grant %s not found", o.GrantID)
		}
	}
	if p.Status == tollgate.DisputeLost {
		// Taken back as a refund of the amount disputed, beyond what
		// refunds took already (before the payment completed: when it does).
		done, _ := tollgate.MulDivFloor(int64(o.RefundedCredits), o.Price.Amount, int64(o.Credits))
		r, err := b.refundOrder(ctx, a, id, &RefundOrderParams{OrderID: id, Refunded: min(o.Price.Amount, done+p.Amount), Total: o.Price.Amount})
		if err != nil {
			return OrderResult{}, err
		}
		res = r
	}
	o.DisputeID, o.DisputeStatus = p.DisputeID, p.Status
	if gs != nil {
		gs.g.Frozen = p.Status == tollgate.DisputeOpen
		gs.dirty = true
		g := gs.g
		res.Grant = &g
	}
	os.dirty = true
	res.Order, res.Changed = *o, true
	return res, nil
}
