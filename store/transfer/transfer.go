// Package transfer moves an installation from SQLite to PostgreSQL when it
// outgrows one machine: every table of a stopped SQLite database into an
// empty, migrated PostgreSQL database, in one transaction, then a count of
// both sides. Tables have the same names and columns in both stores but
// the journal, which SQLite packs a transaction to a row and PostgreSQL
// keeps an entry to a row (entries); a table transfer does not know fails
// the copy, so a migration that adds one must teach it here.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"tollgate"
	"tollgate/store/postgres"
	"tollgate/store/sqlite"
)

// journal is SQLite's journal table; entries is PostgreSQL's.
const (
	journal = "journal"
	entries = "entries"
)

// skipped are tables each store fills itself: the migrations applied.
var skipped = map[string]bool{"schema_migrations": true}

// Table is what was copied of one table.
type Table struct {
	Name       string // as SQLite names it
	Source     int64  // rows read (for the journal, entries)
	Target     int64  // rows in PostgreSQL after the copy
	Copied     int64
	TargetName string
}

// Plan checks that the two databases can be copied one into the other and
// returns the tables to copy: the same tables (the journal as entries)
// with the same columns, and an empty target.
func Plan(ctx context.Context, src *sqlite.DB, dst *postgres.DB) ([]Table, error) {
	st, err := src.Schema(ctx)
	if err != nil {
		return nil, err
	}
	if len(st.Pending) > 0 || len(st.Unknown) > 0 {
		return nil, fmt.Errorf("the SQLite database is not at this binary's schema (%d migrations to apply, %d unknown): "+
			"run tollgate migrate on it with this version first", len(st.Pending), len(st.Unknown))
	}
	from, err := src.Tables(ctx)
	if err != nil {
		return nil, err
	}
	to, err := dst.Tables(ctx)
	if err != nil {
		return nil, err
	}
	var plan []Table
	for _, t := range from {
		if skipped[t] {
			continue
		}
		target := t
		if t == journal {
			target = entries
		}
		if !slices.Contains(to, target) {
			return nil, fmt.Errorf("copy does not know where SQLite's table %s goes: PostgreSQL has no %s (teach store/transfer)", t, target)
		}
		plan = append(plan, Table{Name: t, TargetName: target})
	}
	for _, t := range to {
		if skipped[t] {
			continue
		}
		if !slices.ContainsFunc(plan, func(p Table) bool { return p.TargetName == t }) {
			return nil, fmt.Errorf("copy does not know where PostgreSQL's table %s comes from: SQLite has none of that name (teach store/transfer)", t)
		}
		n, err := dst.CountRows(ctx, t)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("the PostgreSQL database is not empty: %s has %d rows; copy into a new database", t, n)
		}
	}
	for _, p := range plan {
		if p.Name == journal {
			continue
		}
		a, err := src.Columns(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		b, err := dst.Columns(ctx, p.TargetName)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, c := range b {
			names = append(names, c.Name)
		}
		sa, sb := slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(names))
		if !slices.Equal(sa, sb) {
			return nil, fmt.Errorf("table %s has columns %v in SQLite and %v in PostgreSQL (teach store/transfer)", p.Name, a, names)
		}
	}
	return plan, nil
}

// Copy copies every table of plan from src into dst in one transaction,
// calling progress after each table, then counts the rows on both sides.
// The target has nothing of the copy unless Copy returns nil.
func Copy(ctx context.Context, src *sqlite.DB, dst *postgres.DB, plan []Table, progress func(Table)) ([]Table, error) {
	err := dst.Import(ctx, func(im *postgres.Importer) error {
		for i := range plan {
			t := &plan[i]
			var err error
			if t.Name == journal {
				t.Copied, err = copyJournal(ctx, src, im)
			} else {
				t.Copied, err = copyTable(ctx, src, dst, im, t.Name)
			}
			if err != nil {
				return err
			}
			if progress != nil {
				progress(*t)
			}
		}
		return nil
	})
	if err != nil {
		return plan, err
	}
	for i := range plan {
		t := &plan[i]
		if t.Source, err = src.CountRows(ctx, t.Name); err != nil {
			return plan, err
		}
		if t.Target, err = dst.CountRows(ctx, t.TargetName); err != nil {
			return plan, err
		}
		if t.Source != t.Target || t.Copied != t.Source {
			return plan, fmt.Errorf("table %s: %d rows in SQLite, %d copied, %d in PostgreSQL", t.Name, t.Source, t.Copied, t.Target)
		}
	}
	return plan, nil
}

// stream bridges rows read with a callback to COPY, which pulls them.
func stream(ctx context.Context, read func(send func([]any) error) error, write func(pgx.CopyFromSource) (int64, error)) (int64, error) {
	rows := make(chan []any, 1024)
	readErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(rows)
		readErr <- read(func(r []any) error {
			select {
			case rows <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	n, err := write(pgx.CopyFromFunc(func() ([]any, error) {
		r, ok := <-rows
		if !ok {
			return nil, nil
		}
		return r, nil
	}))
	cancel()
	for range rows { // let the reader finish
	}
	return n, errors.Join(err, ignoreCanceled(<-readErr, err))
}

// ignoreCanceled drops the reader's error when it only stopped because
// the writer failed first.
func ignoreCanceled(readErr, writeErr error) error {
	if writeErr != nil && errors.Is(readErr, context.Canceled) {
		return nil
	}
	return readErr
}

func copyTable(ctx context.Context, src *sqlite.DB, dst *postgres.DB, im *postgres.Importer, table string) (int64, error) {
	cols, err := dst.Columns(ctx, table)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return stream(ctx, func(send func([]any) error) error {
		return src.EachRow(ctx, table, names, func(vals []any) error {
			row := make([]any, len(vals))
			for i, v := range vals {
				c, err := convert(v, cols[i].Type)
				if err != nil {
					return fmt.Errorf("%s.%s: %w", table, cols[i].Name, err)
				}
				row[i] = c
			}
			return send(row)
		})
	}, func(s pgx.CopyFromSource) (int64, error) { return im.Copy(ctx, table, names, s) })
}

// convert turns a value as SQLite stores it into the PostgreSQL column
// type's: times from Unix microseconds, booleans from 0 and 1.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "timestamp with time zone":
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("a time stored as %T, not Unix microseconds", v)
		}
		return postgres.Micros(n), nil
	case "boolean":
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("a boolean stored as %T", v)
		}
		return n != 0, nil
	case "text", "jsonb", "json":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
		return v, nil
	}
	return v, nil
}

func copyJournal(ctx context.Context, src *sqlite.DB, im *postgres.Importer) (int64, error) {
	cols := []string{"id", "txn_id", "kind", "account_id", "book", "grant_id", "hold_id", "amount", "created_at"}
	return stream(ctx, func(send func([]any) error) error {
		return src.EachEntry(ctx, func(e tollgate.Entry) error {
			return send([]any{e.ID, e.TxnID, string(e.Kind), e.AccountID, string(e.Book), e.GrantID, e.HoldID, int64(e.Amount), e.CreatedAt})
		})
	}, func(s pgx.CopyFromSource) (int64, error) { return im.Copy(ctx, entries, cols, s) })
}
