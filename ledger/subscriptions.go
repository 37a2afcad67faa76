package ledger

import (
	"context"
	"errors"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// SubscriptionParams are the arguments of ApplySubscription.
type SubscriptionParams struct {
	// Sub is the subscription as the payment provider has it now. Its
	// FallbackPlan is kept from the stored one; a new one without it
	// falls back to the account's plan (free when that is Sub.Plan).
	Sub tollgate.Subscription
	// Invoice, when set, is stored with it; a paid one moves PaidThrough
	// to its period's end.
	Invoice *tollgate.Invoice
	// Grace is how long an unpaid renewal keeps the plan, from when the
	// subscription is first recorded past due.
	Grace time.Duration
}

// SubscriptionResult is what ApplySubscription did.
type SubscriptionResult struct {
	Sub tollgate.Subscription
	// Changed: the stored subscription changed (false for a replay).
	Changed bool
	// Events are the types of the events sent, in order.
	Events []string
	// PlanFrom and PlanTo are the account's plans before and after; equal
	// when it did not change.
	PlanFrom, PlanTo string
	// Stale: the state given was read before the one stored, which was
	// kept (its invoice and paid_through still applied).
	Stale bool
	// Also names another subscription of the account that entitled it
	// already when this one started to: the buyer pays twice.
	Also string
}

// ApplySubscription records a subscription's state and, in the same
// transaction, puts its account on the subscribed plan while the
// subscription entitles it (tollgate.Subscription.Entitles) or back on its
// fallback plan when it stops, with the rules of any plan change (an
// upgrade at once, a downgrade from the next local day). Applying the same
// state again changes nothing and sends nothing: the events
// (subscription.started, .plan_changed, .payment_failed,
// .cancel_scheduled, .ended) go once, with the change they announce. A
// cancelled subscription stays cancelled, and PaidThrough never moves
// back. It fails with not_found for an unknown account and conflict when
// the subscription is stored for another account.
func (l *Ledger) ApplySubscription(ctx context.Context, p SubscriptionParams) (SubscriptionResult, error) {
	if p.Sub.ID == "" || !validID(p.Sub.ID) || !validID(p.Sub.AccountID) || p.Sub.AccountID == "" {
		return SubscriptionResult{}, tollgate.Errorf(tollgate.CodeInvalidField, "subscription %q of account %q: both ids are required", p.Sub.ID, p.Sub.AccountID)
	}
	now := l.clock.Now()
	res, err := l.writeIdempotent(ctx, nil, func(tx store.Tx) (any, error) {
		as, err := tx.AccountsLock(ctx, []string{p.Sub.AccountID})
		if err != nil {
			return nil, err
		}
		if len(as) == 0 {
			return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", p.Sub.AccountID)
		}
		a := as[0]
		s := p.Sub
		prev, err := tx.SubscriptionByID(ctx, s.ID)
		found := err == nil
		if err != nil && !errors.Is(err, tollgate.ErrNotFound) {
			return nil, err
		}
		r := SubscriptionResult{PlanFrom: a.Plan, PlanTo: a.Plan}
		// The account's other open subscriptions: one that entitles it
		// (two checkouts paid) decides its fallback and keeps its plan.
		open, err := tx.SubscriptionList(ctx, record.SubscriptionListParams{AccountID: s.AccountID, Open: true})
		if err != nil {
			return nil, err
		}
		var other *tollgate.Subscription
		for i, o := range open {
			if o.ID != s.ID && o.Entitled && o.Entitles(now) && other == nil {
				other = &open[i]
			}
		}
		if found {
			if prev.AccountID != s.AccountID {
				return nil, tollgate.Errorf(tollgate.CodeConflict, "subscription %s belongs to account %s, not %s", s.ID, prev.AccountID, s.AccountID)
			}
			if s.StateAt.Before(prev.StateAt) { // read before what is stored: keep that
				r.Stale = true
				paid := s.PaidThrough
				s = prev
				s.PaidThrough = paid
			}
			s.CreatedAt, s.FallbackPlan, s.Entitled, s.EndedAt = prev.CreatedAt, prev.FallbackPlan, prev.Entitled, prev.EndedAt
			if prev.Status.Ended() { // a cancelled subscription never comes back
				s.Status, s.CancelAtPeriodEnd = prev.Status, prev.CancelAtPeriodEnd
			}
			s.PaidThrough = later(prev.PaidThrough, s.PaidThrough)
		} else {
			s.CreatedAt, s.Entitled, s.EndedAt = now, false, nil
			// The plan the account had before it subscribed: another
			// subscription's fallback, else its plan now.
			if other != nil {
				s.FallbackPlan = other.FallbackPlan
			}
			if s.FallbackPlan == "" {
				s.FallbackPlan = a.Plan
				if a.Plan == s.Plan {
					s.FallbackPlan = "free"
				}
			}
		}
		// The grace period of an unpaid renewal runs from when it is
		// first recorded past due.
		switch {
		case s.Status != tollgate.SubscriptionPastDue:
			s.GraceUntil = nil
		case found && prev.Status == tollgate.SubscriptionPastDue && prev.GraceUntil != nil:
			s.GraceUntil = prev.GraceUntil
		default:
			g := now.Add(p.Grace)
			s.GraceUntil = &g
		}
		if inv := p.Invoice; inv != nil {
			inv.SubscriptionID, inv.AccountID = s.ID, s.AccountID
			if err := tx.InvoicePut(ctx, *inv); err != nil {
				return nil, err
			}
			if inv.Status == "paid" {
				end := inv.PeriodEnd
				s.PaidThrough = later(s.PaidThrough, &end)
			}
		}
		event := func(typ string, data map[string]any) error {
			data["subscription_id"], data["account_id"], data["plan"] = s.ID, s.AccountID, s.Plan
			ev, err := tollgate.NewEvent(typ, s.AccountID, now, data)
			if err != nil {
				return err
			}
			r.Events = append(r.Events, typ)
			return tx.EventEnqueue(ctx, ev)
		}
		was, ent := s.Entitled, s.Entitles(now)
		if s.Status.Ended() && s.EndedAt == nil {
			t := now
			s.EndedAt = &t
		}
		switch {
		case ent && !was:
			if other != nil {
				r.Also = other.ID
			}
			err = changePlan(ctx, tx, &a, s.Plan, now)
			if err == nil {
				err = event(tollgate.EventSubscriptionStarted, map[string]any{"period_end": s.PeriodEnd, "fallback_plan": s.FallbackPlan})
			}
		case ent && found && prev.Plan != s.Plan:
			err = changePlan(ctx, tx, &a, s.Plan, now)
			if err == nil {
				err = event(tollgate.EventSubscriptionPlanChanged, map[string]any{"from": prev.Plan, "to": s.Plan})
			}
		case !ent && was:
			to := s.FallbackPlan
			if other != nil {
				to = other.Plan
			}
			err = changePlan(ctx, tx, &a, to, now)
			if err == nil {
				err = event(tollgate.EventSubscriptionEnded, map[string]any{"status": s.Status, "fallback_plan": s.FallbackPlan, "plan_now": to})
			}
		}
		if err != nil {
			return nil, err
		}
		s.Entitled = ent
		if s.Status == tollgate.SubscriptionPastDue && ent && (!found || prev.Status != tollgate.SubscriptionPastDue) {
			if err := event(tollgate.EventSubscriptionPaymentFailed, map[string]any{"downgrade_at": s.GraceUntil, "fallback_plan": s.FallbackPlan}); err != nil {
				return nil, err
			}
		}
		if s.CancelAtPeriodEnd && ent && (!found || !prev.CancelAtPeriodEnd) {
			if err := event(tollgate.EventSubscriptionCancelScheduled, map[string]any{"ends_at": s.PeriodEnd, "fallback_plan": s.FallbackPlan}); err != nil {
				return nil, err
			}
		}
		r.PlanTo = a.Plan
		if r.PlanTo != r.PlanFrom {
			if err := tx.AccountUpdate(ctx, a); err != nil {
				return nil, err
			}
			if err := l.Audit(ctx, tx, "subscription.plan", a.ID, s.ID, map[string]any{"plan": map[string]any{"from": r.PlanFrom, "to": r.PlanTo},
				"status": s.Status}); err != nil {
				return nil, err
			}
		}
		s.UpdatedAt = prev.UpdatedAt
		if !found || !sameSubscription(prev, s) {
			s.UpdatedAt, r.Changed = now, true
			if err := tx.SubscriptionPut(ctx, s); err != nil {
				return nil, err
			}
		}
		r.Sub = s
		return r, nil
	})
	if err != nil {
		return SubscriptionResult{}, err
	}
	r := res.(SubscriptionResult)
	// The committer must read the account afresh: always, since a commit
	// whose answer was lost may have moved the plan.
	if l.cached {
		if _, err := run(ctx, l, &forgetOp{accountID: r.Sub.AccountID}, nil, nil); err != nil {
			return SubscriptionResult{}, err
		}
	}
	return r, nil
}

// later returns the later of two optional times.
func later(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || !b.After(*a):
		return a
	}
	return b
}

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

// sameSubscription reports whether two states of a subscription are the
// same, UpdatedAt aside (a newer StateAt is a change: it keeps an older
// read from being applied later).
func sameSubscription(a, b tollgate.Subscription) bool {
	return a.ID == b.ID && a.AccountID == b.AccountID && a.Provider == b.Provider && a.Customer == b.Customer && a.Plan == b.Plan &&
		a.Interval == b.Interval && a.Currency == b.Currency && a.Status == b.Status && a.CancelAtPeriodEnd == b.CancelAtPeriodEnd &&
		a.PeriodStart.Equal(b.PeriodStart) && a.PeriodEnd.Equal(b.PeriodEnd) && sameTime(a.PaidThrough, b.PaidThrough) &&
		sameTime(a.GraceUntil, b.GraceUntil) && a.FallbackPlan == b.FallbackPlan && a.Entitled == b.Entitled && sameTime(a.EndedAt, b.EndedAt) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.StateAt.Equal(b.StateAt)
}
