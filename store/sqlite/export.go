package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"tollgate"
)

// This file reads a database whole, table by table, for tollgate copy,
// which moves an installation to PostgreSQL.

// Tables lists the database's tables, schema_migrations included, by name.
func (db *DB) Tables(ctx context.Context) (out []string, err error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", mapErr(err))
	}
	defer closeRows(rows, &err)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// Columns lists a table's columns in order.
func (db *DB) Columns(ctx context.Context, table string) (out []string, err error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, mapErr(err))
	}
	defer closeRows(rows, &err)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// EachRow calls fn with every row of table, its values in the order of
// cols, as SQLite stores them (times as Unix microseconds). fn must not
// keep vals.
func (db *DB) EachRow(ctx context.Context, table string, cols []string, fn func(vals []any) error) (err error) {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+strings.ReplaceAll(table, `"`, `""`)+`" ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("read %s: %w", table, mapErr(err))
	}
	defer closeRows(rows, &err)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachEntry calls fn with every journal entry, unpacked, in id order: the
// ids are those the API has shown (a row's id times linesPerRow, plus the
// entry's place in it).
func (db *DB) EachEntry(ctx context.Context, fn func(tollgate.Entry) error) (err error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+journalCols+` FROM journal ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read journal: %w", mapErr(err))
	}
	defer closeRows(rows, &err)
	var r journalRow
	for rows.Next() {
		if err := rows.Scan(&r.id, &r.txnID, &r.kind, &r.acct, &r.lines, &r.created); err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		var ferr error
		if err := r.each(func(e tollgate.Entry) {
			if ferr == nil {
				ferr = fn(e)
			}
		}); err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
	}
	return rows.Err()
}

// CountRows counts a table's rows; for the journal, its entries.
func (db *DB) CountRows(ctx context.Context, table string) (int64, error) {
	var n int64
	if table == "journal" {
		err := db.EachEntry(ctx, func(tollgate.Entry) error { n++; return nil })
		return n, err
	}
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`).Scan(&n)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("count %s: %w", table, mapErr(err))
	}
	return n, nil
}
