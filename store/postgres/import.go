package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file writes a database whole, table by table, for tollgate copy,
// which moves an installation from SQLite: in one transaction, so that a
// copy that fails leaves the database as empty as it found it.

// Column is a table's column and its PostgreSQL type.
type Column struct {
	Name, Type string // Type as information_schema names it: bigint, text, boolean, timestamp with time zone...
}

// Tables lists the tables of the schema the connection uses, schema_migrations
// included, by name.
func (db *DB) Tables(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", mapErr(err))
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Columns lists a table's columns in order.
func (db *DB) Columns(ctx context.Context, table string) ([]Column, error) {
	rows, err := db.pool.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, mapErr(err))
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type)
		return c, err
	})
}

// CountRows counts a table's rows.
func (db *DB) CountRows(ctx context.Context, table string) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, mapErr(err))
	}
	return n, nil
}

// Importer writes rows in the transaction of Import.
type Importer struct {
	tx pgx.Tx
}

// Import runs fn in one transaction and commits it if fn returns nil,
// then moves every identity column's sequence past the largest id copied.
func (db *DB) Import(ctx context.Context, fn func(*Importer) error) error {
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := fn(&Importer{tx: tx}); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND is_identity = 'YES'`)
		if err != nil {
			return err
		}
		type ident struct{ table, col string }
		ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ident, error) {
			var i ident
			err := r.Scan(&i.table, &i.col)
			return i, err
		})
		if err != nil {
			return err
		}
		for _, i := range ids {
			t, c := pgx.Identifier{i.table}.Sanitize(), pgx.Identifier{i.col}.Sanitize()
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(`+c+`) FROM `+t+`), 0) + 1, false)`,
				i.table, i.col); err != nil {
				return fmt.Errorf("move the sequence of %s.%s: %w", i.table, i.col, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import: %w", mapErr(err))
	}
	return nil
}

// Copy writes rows into table's cols with COPY; it returns how many. Each
// row's values must already be of the columns' types.
func (im *Importer) Copy(ctx context.Context, table string, cols []string, rows pgx.CopyFromSource) (int64, error) {
	n, err := im.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, rows)
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", table, err)
	}
	return n, nil
}

// Micros is a SQLite time, Unix microseconds, as PostgreSQL stores it.
func Micros(v int64) time.Time { return time.UnixMicro(v).UTC() }
