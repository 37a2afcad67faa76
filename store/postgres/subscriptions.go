package postgres

import (
	"context"
	"fmt"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

func (t *tx) PlanPricePut(ctx context.Context, p tollgate.PlanPrice) error {
	if _, err := t.exec(ctx, sqlq.PlanPricePut.PG, p.Plan, p.Interval, store.JoinPrices(p.Prices), p.StripePrice, p.Active, p.CreatedAt); err != nil {
		return fmt.Errorf("put plan price: %w", err)
	}
	return nil
}

func (t *tx) PlanPrices(ctx context.Context) ([]tollgate.PlanPrice, error) {
	ps, err := query(ctx, t, func(r row) (tollgate.PlanPrice, error) {
		var p tollgate.PlanPrice
		var prices string
		err := r.Scan(&p.Plan, &p.Interval, &prices, &p.StripePrice, &p.Active, &p.CreatedAt)
		p.CreatedAt = p.CreatedAt.UTC()
		if err == nil {
			p.Prices, err = store.SplitPrices(prices)
		}
		return p, err
	}, sqlq.PlanPriceList.PG)
	if err != nil {
		return nil, fmt.Errorf("list plan prices: %w", err)
	}
	return ps, nil
}

func (t *tx) SubscriptionPut(ctx context.Context, s tollgate.Subscription) error {
	_, err := t.exec(ctx, sqlq.SubscriptionPut.PG, s.ID, s.AccountID, s.Provider, s.Customer, s.Plan, s.Interval, s.Currency,
		string(s.Status), s.CancelAtPeriodEnd, s.PeriodStart, s.PeriodEnd, s.PaidThrough, s.GraceUntil,
		s.FallbackPlan, s.Entitled, s.EndedAt, s.CreatedAt, s.UpdatedAt, s.StateAt)
	if err != nil {
		return fmt.Errorf("put subscription %s: %w", s.ID, err)
	}
	return nil
}

func scanSubscription(r row) (tollgate.Subscription, error) {
	var s tollgate.Subscription
	err := r.Scan(&s.ID, &s.AccountID, &s.Provider, &s.Customer, &s.Plan, &s.Interval, &s.Currency, &s.Status, &s.CancelAtPeriodEnd,
		&s.PeriodStart, &s.PeriodEnd, &s.PaidThrough, &s.GraceUntil, &s.FallbackPlan, &s.Entitled, &s.EndedAt, &s.CreatedAt, &s.UpdatedAt, &s.StateAt)
	s.PeriodStart, s.PeriodEnd, s.CreatedAt, s.UpdatedAt, s.StateAt = s.PeriodStart.UTC(), s.PeriodEnd.UTC(), s.CreatedAt.UTC(), s.UpdatedAt.UTC(), s.StateAt.UTC()
	s.PaidThrough, s.GraceUntil, s.EndedAt = utc(s.PaidThrough), utc(s.GraceUntil), utc(s.EndedAt)
	return s, mapErr(err)
}

func (t *tx) SubscriptionByID(ctx context.Context, id string) (tollgate.Subscription, error) {
	return scanSubscription(t.q.QueryRow(ctx, sqlq.SubscriptionByID.PG, id))
}

func (t *tx) SubscriptionList(ctx context.Context, p record.SubscriptionListParams) ([]tollgate.Subscription, error) {
	q := `SELECT ` + sqlq.SubscriptionCols + ` FROM subscriptions WHERE id > $1`
	args := []any{p.After}
	if p.AccountID != "" {
		args = append(args, p.AccountID)
		q += fmt.Sprintf(` AND account_id = $%d`, len(args))
	}
	if p.Open {
		q += ` AND ended_at IS NULL`
	}
	args = append(args, limit(p.Limit))
	subs, err := query(ctx, t, scanSubscription, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return subs, nil
}

func (t *tx) InvoicePut(ctx context.Context, inv tollgate.Invoice) error {
	_, err := t.exec(ctx, sqlq.InvoicePut.PG, inv.ID, inv.SubscriptionID, inv.AccountID, inv.Reason, inv.Status,
		inv.Paid.Currency, inv.Paid.Net, inv.Paid.Tax, inv.Paid.Gross, inv.Paid.ReceiptURL, inv.Paid.InvoiceURL, inv.PDFURL,
		inv.PeriodStart, inv.PeriodEnd, inv.CreatedAt)
	if err != nil {
		return fmt.Errorf("put invoice %s: %w", inv.ID, err)
	}
	return nil
}

func (t *tx) InvoiceList(ctx context.Context, subscriptionID string) ([]tollgate.Invoice, error) {
	invs, err := query(ctx, t, func(r row) (tollgate.Invoice, error) {
		var inv tollgate.Invoice
		err := r.Scan(&inv.ID, &inv.SubscriptionID, &inv.AccountID, &inv.Reason, &inv.Status,
			&inv.Paid.Currency, &inv.Paid.Net, &inv.Paid.Tax, &inv.Paid.Gross, &inv.Paid.ReceiptURL, &inv.Paid.InvoiceURL, &inv.PDFURL,
			&inv.PeriodStart, &inv.PeriodEnd, &inv.CreatedAt)
		inv.PeriodStart, inv.PeriodEnd, inv.CreatedAt = inv.PeriodStart.UTC(), inv.PeriodEnd.UTC(), inv.CreatedAt.UTC()
		return inv, err
	}, sqlq.InvoiceList.PG, subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	return invs, nil
}
