// Package sqlite implements store.Store on an embedded SQLite file through the
// pure-Go modernc.org/sqlite driver. Writes go through one connection that
// opens every transaction with BEGIN IMMEDIATE, so writers never meet
// SQLITE_BUSY; reads use a pool of their own. The journal is in WAL mode with
// synchronous=FULL: a committed transaction survives a power cut.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite store. It is safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // one connection, BEGIN IMMEDIATE
	r    *sql.DB // readers

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared on w
	lock  *os.File             // held by LockExclusive
}

var _ store.Store = (*DB)(nil)

// Options tune Open. The zero value is the default.
type Options struct {
	// Driver is the database/sql driver name, default "sqlite" (modernc's).
	// A driver registered under another name that wraps it can inject
	// faults, as the fault tests do.
	Driver string
}

// Open opens (creating if needed) the SQLite database at path. It does not
// migrate; call Migrate.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenOptions(ctx, path, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, path string, opt Options) (*DB, error) {
	if opt.Driver == "" {
		opt.Driver = "sqlite"
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(OFF)&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(10000)"
	u := "file:" + url.PathEscape(path) + "?"
	w, err := sql.Open(opt.Driver, u+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open(opt.Driver, u+pragmas+"&_txlock=deferred&_pragma=query_only(1)")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite: %w", err), w.Close())
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := w.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite %s: %w", path, err), w.Close(), r.Close())
	}
	return &DB{path: path, w: w, r: r, stmts: map[string]*sql.Stmt{}}, nil
}

// Kind returns "sqlite".
func (db *DB) Kind() string { return "sqlite" }

// WriteConcurrency returns 1: SQLite has one writer.
func (db *DB) WriteConcurrency() int { return 1 }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the prepared statements, both pools and the lock file.
func (db *DB) Close() error {
	var errs []error
	db.mu.Lock()
	for _, s := range db.stmts {
		errs = append(errs, s.Close())
	}
	db.stmts = map[string]*sql.Stmt{}
	lock := db.lock
	db.lock = nil
	db.mu.Unlock()
	errs = append(errs, db.w.Close(), db.r.Close())
	if lock != nil {
		errs = append(errs, lock.Close()) // releases the flock
	}
	return errors.Join(errs...)
}

// embedded lists the versions of the embedded migrations, in name order.
func embedded() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(filepath.Base(n), ".sql")
	}
	sort.Strings(out)
	return out, nil
}

// Schema compares the migrations applied with those embedded; a database
// never migrated has applied none.
func (db *DB) Schema(ctx context.Context) (store.SchemaState, error) {
	known, err := embedded()
	if err != nil {
		return store.SchemaState{}, err
	}
	var applied []store.Applied
	rows, err := db.r.QueryContext(ctx, `SELECT * FROM schema_migrations ORDER BY version`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return store.CompareSchema(nil, known), nil
		}
		return store.SchemaState{}, fmt.Errorf("read the schema version: %w", mapErr(err))
	}
	defer func() { _ = rows.Close() }() // read-only; rows.Err is checked below
	cols, err := rows.Columns()         // compat came later: a database migrated before has none
	if err != nil {
		return store.SchemaState{}, err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return store.SchemaState{}, err
		}
		a := store.Applied{Compat: store.Contract}
		for i, c := range cols {
			switch s, _ := vals[i].(string); c {
			case "version":
				a.Version = s
			case "compat":
				a.Compat = s
			}
		}
		applied = append(applied, a)
	}
	if err := rows.Err(); err != nil {
		return store.SchemaState{}, mapErr(err)
	}
	return store.CompareSchema(applied, known), nil
}

// Migrate applies the embedded migrations not yet applied, in name order.
func (db *DB) Migrate(ctx context.Context) error { return db.MigrateTo(ctx, "") }

// MigrateTo applies the embedded migrations up to and including version
// (every one when version is ""), as Migrate does: to build a database as an
// older release left it, for upgrade tests.
func (db *DB) MigrateTo(ctx context.Context, last string) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var hasCompat int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'compat'`).Scan(&hasCompat); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if hasCompat == 0 {
		if _, err := db.w.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN compat TEXT NOT NULL DEFAULT 'contract'`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		if last != "" && version > last {
			break
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = db.write(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if fix, ok := repairs[version]; ok {
				if err := fix(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at, compat) VALUES (?, ?, ?)`,
				version, time.Now().UnixMicro(), store.MigrationCompat(string(body)))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	if last != "" {
		return nil // an older schema: the hot statements are the newest's
	}
	return db.prepareHot(ctx)
}

func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return rollback(tx, err)
	}
	return tx.Commit()
}

// rollback ends tx, whose outcome is err. After a failure err wins, and the
// rollback's own error is joined to it unless the transaction had already
// ended. After a success (a read that has its answer) the rollback cannot
// change the result, so its error is dropped: reporting it would fail a
// read whose rows were all read in one consistent snapshot.
func rollback(tx *sql.Tx, err error) error {
	rbErr := tx.Rollback()
	if err != nil && rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
		return errors.Join(err, rbErr)
	}
	return err
}

// Write runs fn in a write transaction (BEGIN IMMEDIATE on the one writer).
// When COMMIT fails, the transaction is rolled back if it is still open and
// the error wraps record.ErrCommitUnknown: BatchStatus then tells, on a
// reader connection, whether it had taken effect.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", mapErr(err))
	}
	t := &tx{db: db, q: sqlTx, write: true}
	if err := fn(t); err != nil {
		return rollback(sqlTx, err)
	}
	if err := sqlTx.Commit(); err != nil {
		// A COMMIT that failed may leave the transaction open on the one
		// writer connection; end it so that the next one can begin. Its
		// error ("no transaction is active") is expected, and the COMMIT's
		// error below is the one to report.
		_, _ = db.w.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("commit: %w: %w", record.ErrCommitUnknown, mapErr(err))
	}
	return nil
}

// BatchStatus looks the batch up on a reader connection. The writer is in
// this process and Write ends a transaction whose COMMIT failed, so the
// answer is never BatchInProgress.
func (db *DB) BatchStatus(ctx context.Context, id int64) (store.BatchState, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM batches WHERE id = ?) + (SELECT count(*) FROM journal WHERE batch = ?)`,
		id, id).Scan(&n)
	if err != nil {
		return store.BatchNotCommitted, fmt.Errorf("batch status: %w", mapErr(err))
	}
	if n > 0 {
		return store.BatchCommitted, nil
	}
	return store.BatchNotCommitted, nil
}

// Read runs fn in a read transaction on the reader pool.
func (db *DB) Read(ctx context.Context, fn func(store.Tx) error) (err error) {
	sqlTx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", mapErr(err))
	}
	defer func() { err = rollback(sqlTx, err) }() // deferred: ends the transaction even if fn panics
	return fn(&tx{db: db, q: sqlTx})
}

// prepareHot prepares the statements of the write path on the writer
// connection. It must run outside any transaction: the writer pool has one
// connection, and a transaction holds it.
func (db *DB) prepareHot(ctx context.Context) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, q := range hotQueries() {
		if _, ok := db.stmts[q]; ok {
			continue
		}
		s, err := db.w.PrepareContext(ctx, q) //nolint:sqlclosecheck // cached for the DB's life, closed by Close
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		db.stmts[q] = s
	}
	return nil
}

// stmt returns the prepared form of query bound to tx, or nil if query is
// not one of the hot statements.
func (db *DB) stmt(ctx context.Context, t *sql.Tx, query string) *sql.Stmt {
	db.mu.Lock()
	s, ok := db.stmts[query]
	db.mu.Unlock()
	if !ok {
		return nil
	}
	return t.StmtContext(ctx, s)
}

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return tollgate.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			what := se.Error()
			if i := strings.Index(what, "failed: "); i >= 0 {
				what = strings.TrimSuffix(what[i+len("failed: "):], ")")
			}
			return &tollgate.Error{Code: tollgate.CodeConflict, Message: "conflicts with an existing record (" + what + ")"}
		}
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %w: %w", record.ErrUnavailable, record.ErrFull, err)
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
			return fmt.Errorf("%w: %w", record.ErrUnavailable, err)
		}
	}
	return err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// placeholders returns "?,?,?" with n marks.
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// LockExclusive takes an exclusive lock on the database for this process,
// so that a ledger that keeps state in memory can be sure no other process
// writes. The lock (flock, independent of SQLite's own fcntl locks) is on
// the database file itself, so a second process reaching the same file by
// another path, a symbolic or a hard link, is refused too. Close releases
// it. It fails if another process holds it.
func (db *DB) LockExclusive() error {
	f, err := os.Open(db.path)
	if err != nil {
		return fmt.Errorf("lock %s: %w", db.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Join(fmt.Errorf("another process is serving %s (%w): stop it, or use another TOLLGATE_DATA_DIR", db.path, err), f.Close())
	}
	db.mu.Lock()
	db.lock = f
	db.mu.Unlock()
	return nil
}

// Durability says what a commit's durability rests on, as the writer
// connection has it: synchronous (FULL: every commit is synced to disk)
// and the journal mode.
func (db *DB) Durability(ctx context.Context) (string, error) {
	var sync int
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return "", fmt.Errorf("read synchronous: %w", err)
	}
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return "", fmt.Errorf("read journal_mode: %w", err)
	}
	name := map[int]string{0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[sync]
	return fmt.Sprintf("SQLite synchronous=%s, journal_mode=%s", name, mode), nil
}
