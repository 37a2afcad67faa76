package fault

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	msqlite "modernc.org/sqlite"

	"tollgate/store/sqlite"
)

// ErrInjected is the error of every injected failure.
var ErrInjected = errors.New("fault: connection lost (injected)")

var drivers atomic.Int64

// OpenSQLite opens a fresh, migrated SQLite store in a temporary directory
// through a driver that wraps modernc's and follows plan at each COMMIT:
// LoseAnswer commits and then fails, FailBefore rolls back and fails. The
// store is closed when tb ends.
func OpenSQLite(tb testing.TB, plan *Plan) *sqlite.DB {
	tb.Helper()
	name := fmt.Sprintf("sqlite-fault-%d", drivers.Add(1))
	sql.Register(name, &wrapDriver{d: &msqlite.Driver{}, plan: plan})
	db, err := sqlite.OpenOptions(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"), sqlite.Options{Driver: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

type wrapDriver struct {
	d    driver.Driver
	plan *Plan
}

func (w *wrapDriver) Open(name string) (driver.Conn, error) {
	c, err := w.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &wrapConn{Conn: c, plan: w.plan}, nil
}

// wrapConn passes everything to modernc's connection, and wraps its
// transactions.
type wrapConn struct {
	driver.Conn
	plan *Plan
}

func (c *wrapConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		return t, nil
	}
	return &wrapTx{Tx: t, plan: c.plan}, nil
}

func (c *wrapConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *wrapConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *wrapConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *wrapConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *wrapConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

type wrapTx struct {
	driver.Tx
	plan *Plan
}

func (t *wrapTx) Commit() error {
	switch t.plan.Commit() {
	case LoseAnswer:
		if err := t.Tx.Commit(); err != nil {
			return err
		}
		return fmt.Errorf("commit: %w (after the commit took effect)", ErrInjected)
	case FailBefore:
		err := fmt.Errorf("commit: %w (before the commit)", ErrInjected)
		if rbErr := t.Rollback(); rbErr != nil { // modernc's own: faults are injected at Commit only
			err = errors.Join(err, rbErr)
		}
		return err
	}
	return t.Tx.Commit()
}
