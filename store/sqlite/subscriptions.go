package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

func (t *tx) PlanPricePut(ctx context.Context, p tollgate.PlanPrice) error {
	if _, err := t.exec(ctx, sqlq.PlanPricePut.Lite, p.Plan, p.Interval, store.JoinPrices(p.Prices), p.StripePrice, p.Active, micros(p.CreatedAt)); err != nil {
		return fmt.Errorf("put plan price: %w", err)
	}
	return nil
}

func (t *tx) PlanPrices(ctx context.Context) ([]tollgate.PlanPrice, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.PlanPriceList.Lite)
	if err != nil {
		return nil, fmt.Errorf("list plan prices: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.PlanPrice, error) {
		var p tollgate.PlanPrice
		var prices string
		var created int64
		err := r.Scan(&p.Plan, &p.Interval, &prices, &p.StripePrice, &p.Active, &created)
		p.CreatedAt = fromMicros(created)
		if err == nil {
			p.Prices, err = store.SplitPrices(prices)
		}
		return p, err
	})
}

func (t *tx) SubscriptionPut(ctx context.Context, s tollgate.Subscription) error {
	_, err := t.exec(ctx, sqlq.SubscriptionPut.Lite, s.ID, s.AccountID, s.Provider, s.Customer, s.Plan, s.Interval, s.Currency,
		string(s.Status), s.CancelAtPeriodEnd, micros(s.PeriodStart), micros(s.PeriodEnd), nullMicros(s.PaidThrough), nullMicros(s.GraceUntil),
		s.FallbackPlan, s.Entitled, nullMicros(s.EndedAt), micros(s.CreatedAt), micros(s.UpdatedAt), micros(s.StateAt))
	if err != nil {
		return fmt.Errorf("put subscription %s: %w", s.ID, err)
	}
	return nil
}

func scanSubscription(r interface{ Scan(...any) error }) (tollgate.Subscription, error) {
	var s tollgate.Subscription
	var start, end, created, updated, stateAt int64
	var paidThrough, graceUntil, ended sql.NullInt64
	err := r.Scan(&s.ID, &s.AccountID, &s.Provider, &s.Customer, &s.Plan, &s.Interval, &s.Currency, &s.Status, &s.CancelAtPeriodEnd,
		&start, &end, &paidThrough, &graceUntil, &s.FallbackPlan, &s.Entitled, &ended, &created, &updated, &stateAt)
	s.PeriodStart, s.PeriodEnd, s.CreatedAt, s.UpdatedAt = fromMicros(start), fromMicros(end), fromMicros(created), fromMicros(updated)
	s.PaidThrough, s.GraceUntil, s.EndedAt = fromNullMicros(paidThrough), fromNullMicros(graceUntil), fromNullMicros(ended)
	s.StateAt = fromMicros(stateAt)
	return s, mapErr(err)
}

func (t *tx) SubscriptionByID(ctx context.Context, id string) (tollgate.Subscription, error) {
	return scanSubscription(t.q.QueryRowContext(ctx, sqlq.SubscriptionByID.Lite, id))
}

func (t *tx) SubscriptionList(ctx context.Context, p record.SubscriptionListParams) ([]tollgate.Subscription, error) {
	q := `SELECT ` + sqlq.SubscriptionCols + ` FROM subscriptions WHERE id > ?`
	args := []any{p.After}
	if p.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, p.AccountID)
	}
	if p.Open {
		q += ` AND ended_at IS NULL`
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return collect(rows, scanSubscription)
}

func (t *tx) InvoicePut(ctx context.Context, inv tollgate.Invoice) error {
	_, err := t.exec(ctx, sqlq.InvoicePut.Lite, inv.ID, inv.SubscriptionID, inv.AccountID, inv.Reason, inv.Status,
		inv.Paid.Currency, inv.Paid.Net, inv.Paid.Tax, inv.Paid.Gross, inv.Paid.ReceiptURL, inv.Paid.InvoiceURL, inv.PDFURL,
		micros(inv.PeriodStart), micros(inv.PeriodEnd), micros(inv.CreatedAt))
	if err != nil {
		return fmt.Errorf("put invoice %s: %w", inv.ID, err)
	}
	return nil
}

func (t *tx) InvoiceList(ctx context.Context, subscriptionID string) ([]tollgate.Invoice, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.InvoiceList.Lite, subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.Invoice, error) {
		var inv tollgate.Invoice
		var start, end, created int64
		err := r.Scan(&inv.ID, &inv.SubscriptionID, &inv.AccountID, &inv.Reason, &inv.Status,
			&inv.Paid.Currency, &inv.Paid.Net, &inv.Paid.Tax, &inv.Paid.Gross, &inv.Paid.ReceiptURL, &inv.Paid.InvoiceURL, &inv.PDFURL,
			&start, &end, &created)
		inv.PeriodStart, inv.PeriodEnd, inv.CreatedAt = fromMicros(start), fromMicros(end), fromMicros(created)
		return inv, err
	})
}
