package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) EndpointInsert(ctx context.Context, e tollgate.Endpoint) error {
	_, err := t.exec(ctx, sqlq.EndpointInsert.Lite,
		e.ID, e.URL, e.Secret, strings.Join(e.Types, ","), micros(e.CreatedAt), e.Disabled, e.OldSecret, nullMicros(e.OldSecretUntil), e.AccountID)
	if err != nil {
		return fmt.Errorf("insert endpoint: %w", err)
	}
	return nil
}

func scanEndpoint(r interface{ Scan(...any) error }) (tollgate.Endpoint, error) {
	var e tollgate.Endpoint
	var types string
	var created int64
	var until sql.NullInt64
	err := r.Scan(&e.ID, &e.URL, &e.Secret, &types, &created, &e.Disabled, &e.OldSecret, &until, &e.AccountID)
	if types != "" {
		e.Types = strings.Split(types, ",")
	}
	e.CreatedAt, e.OldSecretUntil = fromMicros(created), fromNullMicros(until)
	return e, mapErr(err)
}

func (t *tx) EndpointList(ctx context.Context) ([]tollgate.Endpoint, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.EndpointList.Lite)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return collect(rows, scanEndpoint)
}

func (t *tx) EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error) {
	return scanEndpoint(t.q.QueryRowContext(ctx, sqlq.EndpointByID.Lite, id))
}

func (t *tx) EndpointUpdate(ctx context.Context, e tollgate.Endpoint) error {
	r, err := t.exec(ctx, sqlq.EndpointUpdate.Lite,
		strings.Join(e.Types, ","), e.Disabled, e.Secret, e.OldSecret, nullMicros(e.OldSecretUntil), e.ID)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) EndpointDelete(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, sqlq.EndpointDeleteDeliveries.Lite, id); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	r, err := t.exec(ctx, sqlq.EndpointDelete.Lite, id)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) DeliveriesResend(ctx context.Context, endpointID, eventID string, since, now time.Time) (int64, error) {
	q := `INSERT INTO deliveries (event_id, endpoint_id, status, next_at, updated_at)
		SELECT e.id, w.id, 'pending', ?, ? FROM events e JOIN webhook_endpoints w ON w.id = ?
		WHERE ` + "%s" + ` AND (w.account_id = '' OR w.account_id = e.account_id) AND (w.types = '' OR instr(',' || w.types || ',', ',' || e.type || ',') > 0)
		ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0, next_at = excluded.next_at,
		last_error = '', updated_at = excluded.updated_at`
	var r sql.Result
	var err error
	if eventID != "" {
		r, err = t.exec(ctx, fmt.Sprintf(q, "e.id = ?"), micros(now), micros(now), endpointID, eventID)
	} else {
		r, err = t.exec(ctx, fmt.Sprintf(q, "e.created_at >= ?"), micros(now), micros(now), endpointID, micros(since))
	}
	if err != nil {
		return 0, fmt.Errorf("resend deliveries: %w", err)
	}
	return r.RowsAffected()
}

func (t *tx) EventEnqueue(ctx context.Context, e tollgate.Event) error {
	if _, err := t.exec(ctx, `INSERT INTO events (id, type, account_id, payload, created_at) VALUES (?,?,?,?,?)`,
		e.ID, e.Type, e.AccountID, e.Payload, micros(e.CreatedAt)); err != nil {
		return fmt.Errorf("enqueue event: %w", err)
	}
	_, err := t.exec(ctx, `INSERT INTO deliveries (event_id, endpoint_id, status, next_at, updated_at)
		SELECT ?, id, 'pending', ?, ? FROM webhook_endpoints
		WHERE NOT disabled AND (account_id = '' OR account_id = ?) AND (types = '' OR instr(',' || types || ',', ',' || ? || ',') > 0)`,
		e.ID, micros(e.CreatedAt), micros(e.CreatedAt), e.AccountID, e.Type)
	if err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
	}
	return nil
}

func (t *tx) DeliveriesDue(ctx context.Context, now time.Time, n int) ([]tollgate.Delivery, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.DeliveriesDue.Lite, micros(now), micros(now), limit(n))
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.Delivery, error) {
		var d tollgate.Delivery
		var created, next int64
		err := r.Scan(&d.Event.ID, &d.Event.Type, &d.Event.AccountID, &d.Event.Payload, &created, &d.EndpointID, &d.URL, &d.Secret, &d.OldSecret, &d.Attempts, &next)
		d.Event.CreatedAt, d.NextAt = fromMicros(created), fromMicros(next)
		return d, err
	})
}

func (t *tx) DeliveryClaim(ctx context.Context, d tollgate.Delivery, until time.Time) (bool, error) {
	r, err := t.exec(ctx, sqlq.DeliveryClaim.Lite,
		micros(until), d.Event.ID, d.EndpointID, micros(d.NextAt))
	if err != nil {
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

func (t *tx) DeliveryDone(ctx context.Context, d tollgate.Delivery, delivered bool, next time.Time, lastErr string) error {
	status, nextAt := "pending", micros(next)
	switch {
	case delivered:
		status, lastErr = "delivered", ""
	case next.IsZero():
		status = "failed"
	}
	_, err := t.exec(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_at = ?, last_error = ?, updated_at = ?
		WHERE event_id = ? AND endpoint_id = ?`, status, nextAt, lastErr, time.Now().UnixMicro(), d.Event.ID, d.EndpointID)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

func (t *tx) GrantsExpiringUnnoticed(ctx context.Context, from, to time.Time, n int) ([]tollgate.Grant, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.GrantsExpiringUnnoticed.Lite, micros(from), micros(to), limit(n))
	if err != nil {
		return nil, fmt.Errorf("expiring grants: %w", err)
	}
	return collect(rows, scanGrant)
}

func (t *tx) EventLastAt(ctx context.Context, accountID, typ string) (time.Time, bool, error) {
	var at sql.NullInt64
	err := t.q.QueryRowContext(ctx, sqlq.EventLastAt.Lite, accountID, typ).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last event: %w", mapErr(err))
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(at.Int64), true, nil
}
