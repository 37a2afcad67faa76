package postgres

import (
	"context"
	"fmt"
	"tollgate/store/record"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) PaymentEventPut(ctx context.Context, e tollgate.PaymentEvent) error {
	_, err := t.exec(ctx, `INSERT INTO payment_events (`+sqlq.PaymentEventCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (provider, event_id) DO UPDATE SET order_id = excluded.order_id, matched = excluded.matched,
		outcome = excluded.outcome, received_at = excluded.received_at`,
		e.ID, e.Provider, e.EventID, e.Type, e.ObjectID, e.OrderID, e.Matched, e.Outcome, e.CreatedAt, e.ReceivedAt)
	if err != nil {
		return fmt.Errorf("record payment event: %w", err)
	}
	return nil
}

func (t *tx) PaymentEventList(ctx context.Context, p record.PaymentEventListParams) ([]tollgate.PaymentEvent, error) {
	q, args := `SELECT `+sqlq.PaymentEventCols+` FROM payment_events WHERE id > $1`, []any{p.After}
	if p.Matched != nil {
		args = append(args, *p.Matched)
		q += fmt.Sprintf(` AND matched = $%d`, len(args))
	}
	args = append(args, limit(p.Limit))
	es, err := query(ctx, t, func(r row) (tollgate.PaymentEvent, error) {
		var e tollgate.PaymentEvent
		err := r.Scan(&e.ID, &e.Provider, &e.EventID, &e.Type, &e.ObjectID, &e.OrderID, &e.Matched, &e.Outcome, &e.CreatedAt, &e.ReceivedAt)
		e.CreatedAt, e.ReceivedAt = e.CreatedAt.UTC(), e.ReceivedAt.UTC()
		return e, err
	}, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list payment events: %w", err)
	}
	return es, nil
}
