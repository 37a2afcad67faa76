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

func (t *tx) GrantByRef(ctx context.Context, accountID, ref string) (tollgate.Grant, error) {
	return scanGrant(t.q.QueryRowContext(ctx, sqlq.GrantByRef.Lite, accountID, ref))
}

func (t *tx) PackPut(ctx context.Context, p tollgate.Pack) error {
	_, err := t.exec(ctx, `INSERT INTO packs (`+sqlq.PackCols+`) VALUES (?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET credits = excluded.credits, price_amount = excluded.price_amount,
		currency = excluded.currency, valid_for_days = excluded.valid_for_days, products = excluded.products, active = excluded.active,
		prices = excluded.prices`,
		p.ID, int64(p.Credits), p.Price.Amount, p.Price.Currency, p.ValidForDays, store.JoinProducts(p.Products), p.Active, micros(p.CreatedAt),
		store.JoinPrices(p.Prices))
	if err != nil {
		return fmt.Errorf("put pack: %w", err)
	}
	return nil
}

func (t *tx) PackList(ctx context.Context) ([]tollgate.Pack, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.PackList.Lite)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.Pack, error) {
		var p tollgate.Pack
		var products string
		var created int64
		var prices string
		err := r.Scan(&p.ID, &p.Credits, &p.Price.Amount, &p.Price.Currency, &p.ValidForDays, &products, &p.Active, &created, &prices)
		p.Products, p.CreatedAt = store.SplitProducts(products), fromMicros(created)
		if err == nil {
			p.Prices, err = store.SplitPrices(prices)
		}
		return p, err
	})
}

func scanOrder(r interface{ Scan(...any) error }) (tollgate.Order, error) {
	var o tollgate.Order
	var products string
	var created int64
	var completed, refunded sql.NullInt64
	var paid tollgate.Paid
	var net, tax, gross sql.NullInt64
	err := r.Scan(&o.ID, &o.AccountID, &o.PackID, &o.Credits, &o.Price.Amount, &o.Price.Currency, &o.ValidForDays, &products,
		&o.Status, &o.Provider, &o.ProviderRef, &o.RefundedCredits, &o.GrantID, &created, &completed, &refunded, &o.PaymentRef, &o.PaymentProblem,
		&o.DisputeID, &o.DisputeStatus, &o.TaxBehavior, &paid.Currency, &net, &tax, &gross, &paid.ReceiptURL, &paid.InvoiceURL)
	o.Products, o.CreatedAt = store.SplitProducts(products), fromMicros(created)
	o.CompletedAt, o.RefundedAt = fromNullMicros(completed), fromNullMicros(refunded)
	if gross.Valid {
		paid.Net, paid.Tax, paid.Gross = net.Int64, tax.Int64, gross.Int64
		o.Paid = &paid
	}
	return o, mapErr(err)
}

// paidArgs are the arguments of an order's paid columns (currency, net,
// tax, gross, receipt and invoice links) for p; for no p, those of an
// order not paid: no currency or links, NULL amounts.
func paidArgs(p *tollgate.Paid) []any {
	if p == nil {
		return []any{"", nil, nil, nil, "", ""}
	}
	return []any{p.Currency, p.Net, p.Tax, p.Gross, p.ReceiptURL, p.InvoiceURL}
}

// paidUpdateArgs are OrderUpdate's paid arguments: NULLs, which keep what
// the order has, when p is nil.
func paidUpdateArgs(p *tollgate.Paid) []any {
	if p == nil {
		return make([]any, 6)
	}
	return paidArgs(p)
}

func (t *tx) OrderInsert(ctx context.Context, o tollgate.Order) error {
	r, err := t.exec(ctx, sqlq.OrderInsert.Lite, append([]any{
		o.ID, o.AccountID, o.PackID, int64(o.Credits), o.Price.Amount, o.Price.Currency, o.ValidForDays, store.JoinProducts(o.Products),
		string(o.Status), o.Provider, o.ProviderRef, int64(o.RefundedCredits), o.GrantID, micros(o.CreatedAt), nullMicros(o.CompletedAt), nullMicros(o.RefundedAt), o.PaymentRef, o.PaymentProblem,
		o.DisputeID, string(o.DisputeStatus), string(o.TaxBehavior)}, paidArgs(o.Paid)...)...)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	if n := rowsAffected(r); n != 1 {
		return tollgate.Errorf(tollgate.CodeConflict, "order %s exists", o.ID)
	}
	return nil
}

func (t *tx) OrderByID(ctx context.Context, id string) (tollgate.Order, error) {
	return scanOrder(t.q.QueryRowContext(ctx, sqlq.OrderByID.Lite, id))
}

func (t *tx) OrderByProviderRef(ctx context.Context, provider, ref string) (tollgate.Order, error) {
	return scanOrder(t.q.QueryRowContext(ctx, sqlq.OrderByProviderRef.Lite, provider, ref, ref))
}

func (t *tx) OrderList(ctx context.Context, p record.OrderListParams) ([]tollgate.Order, error) {
	q := `SELECT ` + sqlq.OrderCols + ` FROM orders WHERE id > ?`
	args := []any{p.After}
	if p.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, p.AccountID)
	}
	if p.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(p.Status))
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return collect(rows, scanOrder)
}

func (t *tx) OrderSetRef(ctx context.Context, id, ref string) (bool, error) {
	r, err := t.exec(ctx, sqlq.OrderSetRef.Lite, ref, id)
	if err != nil {
		return false, fmt.Errorf("set order ref: %w", err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

func (t *tx) orderUpdate(ctx context.Context, u store.OrderUpdate) error {
	args := append([]any{string(u.Status), u.GrantID, int64(u.RefundedCredits), nullMicros(u.CompletedAt), nullMicros(u.RefundedAt),
		u.PaymentRef, u.PaymentRef, u.DisputeID, string(u.DisputeStatus)}, paidUpdateArgs(u.Paid)...)
	r, err := t.exec(ctx, sqlq.OrderUpdate.Lite, append(args, u.ID, string(u.FromStatus), int64(u.FromRefunded))...)
	if err != nil {
		return fmt.Errorf("update order %s: %w", u.ID, err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("update order %s: not %s with %s refunded: %w", u.ID, u.FromStatus, u.FromRefunded, tollgate.ErrNotFound)
	}
	return nil
}

func (t *tx) OrderSetReceipt(ctx context.Context, id, receiptURL, invoiceURL string) error {
	r, err := t.exec(ctx, sqlq.OrderSetReceipt.Lite, receiptURL, invoiceURL, id)
	if err != nil {
		return fmt.Errorf("set receipt of order %s: %w", id, err)
	}
	if rowsAffected(r) != 1 {
		return fmt.Errorf("set receipt of order %s: not paid: %w", id, tollgate.ErrNotFound)
	}
	return nil
}

func (t *tx) SettingGet(ctx context.Context, key string) (string, error) {
	var v string
	err := t.q.QueryRowContext(ctx, sqlq.SettingGet.Lite, key).Scan(&v)
	return v, mapErr(err)
}

func (t *tx) SettingPut(ctx context.Context, key, value string) (string, error) {
	if _, err := t.exec(ctx, sqlq.SettingPut.Lite, key, value); err != nil {
		return "", fmt.Errorf("put setting: %w", err)
	}
	return t.SettingGet(ctx, key)
}

func (t *tx) PriceRuleInsert(ctx context.Context, r tollgate.PriceRule) error {
	_, err := t.exec(ctx, sqlq.PriceRuleInsert.Lite,
		r.ID, string(r.Product), r.Meter, r.Tier, r.Resolution, r.Per, int64(r.Credits), micros(r.EffectiveAt), micros(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert price rule: %w", err)
	}
	return nil
}

func (t *tx) PriceRuleList(ctx context.Context) ([]tollgate.PriceRule, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.PriceRuleList.Lite)
	if err != nil {
		return nil, fmt.Errorf("list price rules: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.PriceRule, error) {
		var p tollgate.PriceRule
		var eff, created int64
		err := r.Scan(&p.ID, &p.Product, &p.Meter, &p.Tier, &p.Resolution, &p.Per, &p.Credits, &eff, &created)
		p.EffectiveAt, p.CreatedAt = fromMicros(eff), fromMicros(created)
		return p, err
	})
}

func rowsAffected(r sql.Result) int64 {
	n, _ := r.RowsAffected()
	return n
}

func (t *tx) OrderSetProblem(ctx context.Context, id, problem string) error {
	if _, err := t.exec(ctx, sqlq.OrderSetProblem.Lite, problem, id); err != nil {
		return fmt.Errorf("record payment problem: %w", err)
	}
	return nil
}
