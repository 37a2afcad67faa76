package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) EndpointInsert(ctx context.Context, e tollgate.Endpoint) error {
	_, err := t.exec(ctx, sqlq.EndpointInsert.PG,
		e.ID, e.URL, e.Secret, strings.Join(e.Types, ","), e.CreatedAt, e.Disabled, e.OldSecret, e.OldSecretUntil, e.AccountID)
	if err != nil {
		return fmt.Errorf("insert endpoint: %w", err)
	}
	return nil
}

func scanEndpoint(r row) (tollgate.Endpoint, error) {
	var e tollgate.Endpoint
	var types string
	err := r.Scan(&e.ID, &e.URL, &e.Secret, &types, &e.CreatedAt, &e.Disabled, &e.OldSecret, &e.OldSecretUntil, &e.AccountID)
	if types != "" {
		e.Types = strings.Split(types, ",")
	}
	e.CreatedAt, e.OldSecretUntil = e.CreatedAt.UTC(), utc(e.OldSecretUntil)
	return e, mapErr(err)
}

func (t *tx) EndpointList(ctx context.Context) ([]tollgate.Endpoint, error) {
	es, err := query(ctx, t, scanEndpoint, sqlq.EndpointList.PG)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return es, nil
}

func (t *tx) EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error) {
	return scanEndpoint(t.q.QueryRow(ctx, sqlq.EndpointByID.PG, id))
}

func (t *tx) EndpointUpdate(ctx context.Context, e tollgate.Endpoint) error {
	ct, err := t.exec(ctx, sqlq.EndpointUpdate.PG,
		strings.Join(e.Types, ","), e.Disabled, e.Secret, e.OldSecret, e.OldSecretUntil, e.ID)
	if err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	if ct.RowsAffected() != 1 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) EndpointDelete(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, sqlq.EndpointDeleteDeliveries.PG, id); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	ct, err := t.exec(ctx, sqlq.EndpointDelete.PG, id)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if ct.RowsAffected() != 1 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) DeliveriesResend(ctx context.Context, endpointID, eventID string, since, now time.Time) (int64, error) {
	cond, arg := "e.created_at >= $3", any(since)
	if eventID != "" {
		cond, arg = "e.id = $3", eventID
	}
	ct, err := t.exec(ctx, `INSERT INTO deliveries (event_id, endpoint_id, status, next_at, updated_at)
		SELECT e.id, w.id, 'pending', $1, $1 FROM events e JOIN webhook_endpoints w ON w.id = $2
		WHERE `+cond+` AND (w.account_id = '' OR w.account_id = e.account_id) AND (w.types = '' OR e.type = ANY(string_to_array(w.types, ',')))
		ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0, next_at = excluded.next_at,
		last_error = '', updated_at = excluded.updated_at`, now, endpointID, arg)
	if err != nil {
		return 0, fmt.Errorf("resend deliveries: %w", err)
	}
	return ct.RowsAffected(), nil
}

func (t *tx) EventEnqueue(ctx context.Context, e tollgate.Event) error {
	if _, err := t.exec(ctx, `INSERT INTO events (id, type, account_id, payload, created_at) VALUES ($1,$2,$3,$4,$5)`,
		e.ID, e.Type, e.AccountID, e.Payload, e.CreatedAt); err != nil {
		return fmt.Errorf("enqueue event: %w", err)
	}
	_, err := t.exec(ctx, `INSERT INTO deliveries (event_id, endpoint_id, status, next_at, updated_at)
		SELECT $1, id, 'pending', $2, $2 FROM webhook_endpoints
		WHERE NOT disabled AND (account_id = '' OR account_id = $4) AND (types = '' OR $3 = ANY(string_to_array(types, ',')))`,
		e.ID, e.CreatedAt, e.Type, e.AccountID)
	if err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
	}
	return nil
}

func (t *tx) DeliveriesDue(ctx context.Context, now time.Time, n int) ([]tollgate.Delivery, error) {
	ds, err := query(ctx, t, func(r row) (tollgate.Delivery, error) {
		var d tollgate.Delivery
		err := r.Scan(&d.Event.ID, &d.Event.Type, &d.Event.AccountID, &d.Event.Payload, &d.Event.CreatedAt, &d.EndpointID, &d.URL, &d.Secret, &d.OldSecret, &d.Attempts, &d.NextAt)
		d.Event.CreatedAt, d.NextAt = d.Event.CreatedAt.UTC(), d.NextAt.UTC()
		return d, err
	}, sqlq.DeliveriesDue.PG, now, now, limit(n))
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return ds, nil
}

func (t *tx) DeliveryClaim(ctx context.Context, d tollgate.Delivery, until time.Time) (bool, error) {
	ct, err := t.exec(ctx, sqlq.DeliveryClaim.PG,
		until, d.Event.ID, d.EndpointID, d.NextAt)
	if err != nil {
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	return ct.RowsAffected() == 1, nil
}

func (t *tx) DeliveryDone(ctx context.Context, d tollgate.Delivery, delivered bool, next time.Time, lastErr string) error {
	status := "pending"
	switch {
	case delivered:
		status, lastErr = "delivered", ""
	case next.IsZero():
		status = "failed"
	}
	_, err := t.exec(ctx, `UPDATE deliveries SET status = $1, attempts = attempts + 1, next_at = $2, last_error = $3, updated_at = now()
		WHERE event_id = $4 AND endpoint_id = $5`, status, next, lastErr, d.Event.ID, d.EndpointID)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

func (t *tx) GrantsExpiringUnnoticed(ctx context.Context, from, to time.Time, n int) ([]tollgate.Grant, error) {
	gs, err := query(ctx, t, scanGrant, sqlq.GrantsExpiringUnnoticed.PG, from, to, limit(n))
	if err != nil {
		return nil, fmt.Errorf("expiring grants: %w", err)
	}
	return gs, nil
}

func (t *tx) EventLastAt(ctx context.Context, accountID, typ string) (time.Time, bool, error) {
	var at *time.Time
	err := t.q.QueryRow(ctx, sqlq.EventLastAt.PG, accountID, typ).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last event: %w", mapErr(err))
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return at.UTC(), true, nil
}
