package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

func (t *tx) GrantByRef(ctx context.Context, accountID, ref string) (tollgate.Grant, error) {
	return scanGrant(t.q.QueryRow(ctx, sqlq.GrantByRef.PG, accountID, ref))
}

func (t *tx) PackPut(ctx context.Context, p tollgate.Pack) error {
	_, err := t.exec(ctx, `INSERT INTO packs (`+sqlq.PackCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (id) DO UPDATE SET credits = EXCLUDED.credits, price_amount = EXCLUDED.price_amount,
		currency = EXCLUDED.currency, valid_for_days = EXCLUDED.valid_for_days, products = EXCLUDED.products, active = EXCLUDED.active,
		prices = EXCLUDED.prices`,
		p.ID, int64(p.Credits), p.Price.Amount, p.Price.Currency, p.ValidForDays, store.JoinProducts(p.Products), p.Active, p.CreatedAt,
		store.JoinPrices(p.Prices))
	if err != nil {
		return fmt.Errorf("put pack: %w", err)
	}
	return nil
}

func (t *tx) PackList(ctx context.Context) ([]tollgate.Pack, error) {
	ps, err := query(ctx, t, func(r row) (tollgate.Pack, error) {
		var p tollgate.Pack
		var products, prices string
		err := r.Scan(&p.ID, &p.Credits, &p.Price.Amount, &p.Price.Currency, &p.ValidForDays, &products, &p.Active, &p.CreatedAt, &prices)
		p.Products, p.CreatedAt = store.SplitProducts(products), p.CreatedAt.UTC()
		if err == nil {
			p.Prices, err = store.SplitPrices(prices)
		}
		return p, err
	}, sqlq.PackList.PG)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return ps, nil
}

func scanOrder(r row) (tollgate.Order, error) {
	var o tollgate.Order
	var products string
	var paid tollgate.Paid
	var net, tax, gross *int64
	err := r.Scan(&o.ID, &o.AccountID, &o.PackID, &o.Credits, &o.Price.Amount, &o.Price.Currency, &o.ValidForDays, &products,
		&o.Status, &o.Provider, &o.ProviderRef, &o.RefundedCredits, &o.GrantID, &o.CreatedAt, &o.CompletedAt, &o.RefundedAt, &o.PaymentRef, &o.PaymentProblem,
		&o.DisputeID, &o.DisputeStatus, &o.TaxBehavior, &paid.Currency, &net, &tax, &gross, &paid.ReceiptURL, &paid.InvoiceURL)
	o.Products = store.SplitProducts(products)
	o.CreatedAt, o.CompletedAt, o.RefundedAt = o.CreatedAt.UTC(), utc(o.CompletedAt), utc(o.RefundedAt)
	if gross != nil {
		paid.Net, paid.Tax, paid.Gross = deref(net), deref(tax), *gross
		o.Paid = &paid
	}
	return o, mapErr(err)
}

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
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
	r, err := t.exec(ctx, sqlq.OrderInsert.PG, append([]any{
		o.ID, o.AccountID, o.PackID, int64(o.Credits), o.Price.Amount, o.Price.Currency, o.ValidForDays, store.JoinProducts(o.Products),
		string(o.Status), o.Provider, o.ProviderRef, int64(o.RefundedCredits), o.GrantID, o.CreatedAt, o.CompletedAt, o.RefundedAt, o.PaymentRef, o.PaymentProblem,
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
	return scanOrder(t.q.QueryRow(ctx, sqlq.OrderByID.PG, id))
}

func (t *tx) OrderByProviderRef(ctx context.Context, provider, ref string) (tollgate.Order, error) {
	return scanOrder(t.q.QueryRow(ctx, sqlq.OrderByProviderRef.PG, provider, ref, ref))
}

func (t *tx) OrderList(ctx context.Context, p record.OrderListParams) ([]tollgate.Order, error) {
	q := `SELECT ` + sqlq.OrderCols + ` FROM orders WHERE id > $1`
	args := []any{p.After}
	if p.AccountID != "" {
		args = append(args, p.AccountID)
		q += fmt.Sprintf(` AND account_id = $%d`, len(args))
	}
	if p.Status != "" {
		args = append(args, string(p.Status))
		q += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	args = append(args, limit(p.Limit))
	orders, err := query(ctx, t, scanOrder, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return orders, nil
}

func (t *tx) OrderSetRef(ctx context.Context, id, ref string) (bool, error) {
	ct, err := t.exec(ctx, sqlq.OrderSetRef.PG, ref, id)
	if err != nil {
		return false, fmt.Errorf("set order ref: %w", err)
	}
	return ct.RowsAffected() == 1, nil
}

func (t *tx) orderUpdate(ctx context.Context, u store.OrderUpdate) error {
	args := append([]any{string(u.Status), u.GrantID, int64(u.RefundedCredits), u.CompletedAt, u.RefundedAt,
		u.PaymentRef, u.PaymentRef, u.DisputeID, string(u.DisputeStatus)}, paidUpdateArgs(u.Paid)...)
	ct, err := t.exec(ctx, sqlq.OrderUpdate.PG, append(args, u.ID, string(u.FromStatus), int64(u.FromRefunded))...)
	if err != nil {
		return fmt.Errorf("update order %s: %w", u.ID, err)
	}
	if ct.RowsAffected() != 1 {
		return fmt.Errorf("update order %s: not %s with %s refunded: %w", u.ID, u.FromStatus, u.FromRefunded, tollgate.ErrNotFound)
	}
	return nil
}

func (t *tx) OrderSetReceipt(ctx context.Context, id, receiptURL, invoiceURL string) error {
	ct, err := t.exec(ctx, sqlq.OrderSetReceipt.PG, receiptURL, invoiceURL, id)
	if err != nil {
		return fmt.Errorf("set receipt of order %s: %w", id, err)
	}
	if ct.RowsAffected() != 1 {
		return fmt.Errorf("set receipt of order %s: not paid: %w", id, tollgate.ErrNotFound)
	}
	return nil
}

func (t *tx) SettingGet(ctx context.Context, key string) (string, error) {
	var v string
	err := t.q.QueryRow(ctx, sqlq.SettingGet.PG, key).Scan(&v)
	return v, mapErr(err)
}

func (t *tx) SettingPut(ctx context.Context, key, value string) (string, error) {
	if _, err := t.exec(ctx, sqlq.SettingPut.PG, key, value); err != nil {
		return "", fmt.Errorf("put setting: %w", err)
	}
	return t.SettingGet(ctx, key)
}

func (t *tx) PriceRuleInsert(ctx context.Context, r tollgate.PriceRule) error {
	_, err := t.exec(ctx, sqlq.PriceRuleInsert.PG,
		r.ID, string(r.Product), r.Meter, r.Tier, r.Resolution, r.Per, int64(r.Credits), r.EffectiveAt, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert price rule: %w", err)
	}
	return nil
}

func (t *tx) PriceRuleList(ctx context.Context) ([]tollgate.PriceRule, error) {
	rs, err := query(ctx, t, func(r row) (tollgate.PriceRule, error) {
		var p tollgate.PriceRule
		err := r.Scan(&p.ID, &p.Product, &p.Meter, &p.Tier, &p.Resolution, &p.Per, &p.Credits, &p.EffectiveAt, &p.CreatedAt)
		p.EffectiveAt, p.CreatedAt = p.EffectiveAt.UTC(), p.CreatedAt.UTC()
		return p, err
	}, sqlq.PriceRuleList.PG)
	if err != nil {
		return nil, fmt.Errorf("list price rules: %w", err)
	}
	return rs, nil
}

func rowsAffected(ct pgconn.CommandTag) int64 { return ct.RowsAffected() }

func (t *tx) OrderSetProblem(ctx context.Context, id, problem string) error {
	if _, err := t.exec(ctx, sqlq.OrderSetProblem.PG, problem, id); err != nil {
		return fmt.Errorf("record payment problem: %w", err)
	}
	return nil
}
