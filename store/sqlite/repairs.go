package sqlite

import (
	"context"
	"database/sql"
)

// repairs are Go steps run in a migration's transaction before its SQL,
// for what SQLite's SQL cannot say conditionally (add a column only where
// it is missing).
var repairs = map[string]func(ctx context.Context, tx *sql.Tx) error{
	"0017_repair_released_schemas": addPendingHolds,
}

// addPendingHolds gives accounts the pending_holds count that migration
// 0012 gained after it was released, where it is missing.
func addPendingHolds(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'pending_holds'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE accounts ADD COLUMN pending_holds INTEGER NOT NULL DEFAULT 0`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE accounts SET pending_holds = (SELECT count(*) FROM holds
		WHERE holds.account_id = accounts.id AND holds.status = 'pending')`)
	return err
}
