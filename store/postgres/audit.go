package postgres

import (
	"context"
	"fmt"
	"tollgate/store/record"

	"tollgate"
	"tollgate/store/internal/sqlq"
)

func (t *tx) AuditAppend(ctx context.Context, es []tollgate.AuditEntry) error {
	for _, e := range es {
		if _, err := t.exec(ctx, `INSERT INTO audit_log (`+sqlq.AuditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.ID, e.CreatedAt, e.ActorKey, e.ActorKind, e.AccountID, e.Action, e.Target, e.RequestID, e.Detail); err != nil {
			return fmt.Errorf("append to the audit log: %w", err)
		}
	}
	return nil
}

func (t *tx) AuditList(ctx context.Context, p record.AuditListParams) ([]tollgate.AuditEntry, error) {
	q, args := `SELECT `+sqlq.AuditCols+` FROM audit_log WHERE id > $1`, []any{p.After}
	for _, f := range []struct{ col, v string }{{"account_id", p.AccountID}, {"actor_key", p.ActorKey}, {"action", p.Action}} {
		if f.v != "" {
			args = append(args, f.v)
			q += fmt.Sprintf(` AND %s = $%d`, f.col, len(args))
		}
	}
	if !p.CreatedFrom.IsZero() {
		args = append(args, p.CreatedFrom)
		q += fmt.Sprintf(` AND created_at >= $%d`, len(args))
	}
	if !p.CreatedTo.IsZero() {
		args = append(args, p.CreatedTo)
		q += fmt.Sprintf(` AND created_at < $%d`, len(args))
	}
	args = append(args, limit(p.Limit))
	es, err := query(ctx, t, func(r row) (tollgate.AuditEntry, error) {
		var e tollgate.AuditEntry
		err := r.Scan(&e.ID, &e.CreatedAt, &e.ActorKey, &e.ActorKind, &e.AccountID, &e.Action, &e.Target, &e.RequestID, &e.Detail)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	}, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list the audit log: %w", err)
	}
	return es, nil
}
