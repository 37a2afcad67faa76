package sqlite

import (
	"context"
	"fmt"
	"tollgate/store/record"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) PaymentEventPut(ctx context.Context, e tollgate.PaymentEvent) error {
	_, err := t.exec(ctx, `INSERT INTO payment_events (`+sqlq.PaymentEventCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (provider, event_id) DO UPDATE SET order_id = excluded.order_id, matched = excluded.matched,
		outcome = excluded.outcome, received_at = excluded.received_at`,
		e.ID, e.Provider, e.EventID, e.Type, e.ObjectID, e.OrderID, e.Matched, e.Outcome, micros(e.CreatedAt), micros(e.ReceivedAt))
	if err != nil {
		return fmt.Errorf("record payment event: %w", err)
	}
	return nil
}

func (t *tx) PaymentEventList(ctx context.Context, p record.PaymentEventListParams) ([]tollgate.PaymentEvent, error) {
	q, args := `SELECT `+sqlq.PaymentEventCols+` FROM payment_events WHERE id > ?`, []any{p.After}
	if p.Matched != nil {
		q, args = q+` AND matched = ?`, append(args, *p.Matched)
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list payment events: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.PaymentEvent, error) {
		var e tollgate.PaymentEvent
		var created, received int64
		err := r.Scan(&e.ID, &e.Provider, &e.EventID, &e.Type, &e.ObjectID, &e.OrderID, &e.Matched, &e.Outcome, &created, &received)
		e.CreatedAt, e.ReceivedAt = fromMicros(created), fromMicros(received)
		return e, err
	})
}
