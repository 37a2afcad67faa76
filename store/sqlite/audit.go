package sqlite

import (
	"context"
	"fmt"
	"tollgate/store/record"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) AuditAppend(ctx context.Context, es []tollgate.AuditEntry) error {
	for _, e := range es {
		if _, err := t.exec(ctx, `INSERT INTO audit_log (`+sqlq.AuditCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
			e.ID, micros(e.CreatedAt), e.ActorKey, e.ActorKind, e.AccountID, e.Action, e.Target, e.RequestID, e.Detail); err != nil {
			return fmt.Errorf("append to the audit log: %w", err)
		}
	}
	return nil
}

func (t *tx) AuditList(ctx context.Context, p record.AuditListParams) ([]tollgate.AuditEntry, error) {
	q, args := `SELECT `+sqlq.AuditCols+` FROM audit_log WHERE id > ?`, []any{p.After}
	for _, f := range []struct{ col, v string }{{"account_id", p.AccountID}, {"actor_key", p.ActorKey}, {"action", p.Action}} {
		if f.v != "" {
			q, args = q+` AND `+f.col+` = ?`, append(args, f.v)
		}
	}
	if !p.CreatedFrom.IsZero() {
		q, args = q+` AND created_at >= ?`, append(args, micros(p.CreatedFrom))
	}
	if !p.CreatedTo.IsZero() {
		q, args = q+` AND created_at < ?`, append(args, micros(p.CreatedTo))
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list the audit log: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.AuditEntry, error) {
		var e tollgate.AuditEntry
		var at int64
		err := r.Scan(&e.ID, &at, &e.ActorKey, &e.ActorKind, &e.AccountID, &e.Action, &e.Target, &e.RequestID, &e.Detail)
		e.CreatedAt = fromMicros(at)
		return e, err
	})
}
