// Package postgres implements store.Store on PostgreSQL through a pgx
// connection pool, for many Tollgate instances sharing one database.
//
// Writes run in READ COMMITTED transactions; the row locks taken by
// AccountsLock, always in id order, serialise writers across instances.
// Reads run in REPEATABLE READ READ ONLY transactions, so each sees one
// snapshot. Commits are synchronous (synchronous_commit on, the server
// default): a committed transaction survives a crash of the server.
//
// Apply, the hot path of the ledger's group commit, inserts rows with COPY
// and updates them with one statement per table over unnested arrays.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	// reads holds a slot per read transaction in flight: readers may take
	// every connection but WriteReserve, so that reads, however many,
	// never keep the committers waiting for a connection.
	reads chan struct{}

	mu   sync.Mutex
	xids map[int64]int64 // batch id -> transaction id, for commits whose answer was lost
}

var _ store.Store = (*DB)(nil)

// Open connects to the PostgreSQL database at url, a postgres:// URL or a
// key=value connection string as pgx accepts them. A search_path parameter
// in url (postgres://host/db?search_path=name) selects the schema of every
// connection. Open does not migrate; call Migrate.
//
// The pool has DefaultMaxConns connections unless url sets pool_max_conns;
// WriteReserve of them are kept for writes.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	return openConfig(ctx, cfg)
}

// DefaultMaxConns is the pool's size when the URL does not set it.
const DefaultMaxConns = 16

// WriteReserve is how many of the pool's connections reads may not take:
// the ledger's committers (WriteConcurrency), and two for the other
// writes (the sweeper, webhook deliveries, keys and the like).
const WriteReserve = 2 + 2

func openConfig(ctx context.Context, cfg *pgxpool.Config) (*DB, error) {
	// A generic plan compares each row with every element of an id = ANY($1)
	// array, 25ms for 500 ids on 2,000 rows; a custom plan hashes the array
	// (1ms). Planning these small queries each time costs far less.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	if cfg.MaxConns <= WriteReserve {
		pool.Close()
		return nil, fmt.Errorf("open postgres: pool_max_conns is %d; it must be more than %d, the connections kept for writes", cfg.MaxConns, WriteReserve)
	}
	return &DB{pool: pool, xids: map[int64]int64{}, reads: make(chan struct{}, cfg.MaxConns-WriteReserve)}, nil
}

// Kind returns "postgres".
func (db *DB) Kind() string { return "postgres" }

// WriteConcurrency returns 2: concurrent transactions overlap their round
// trips and let the server use every core, while batches stay large.
func (db *DB) WriteConcurrency() int { return 2 }

// Pool returns the connection pool, for tools that need plain SQL.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool, waiting for connections in use to be released. It
// always returns nil.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrateLockKey is the first key of the advisory lock Migrate takes; the
// second is a hash of the schema, so schemas migrate independently.
const migrateLockKey = 0x746f6c6c // "toll"

// Schema compares the migrations applied with those embedded; a database
// never migrated has applied none.
func (db *DB) Schema(ctx context.Context) (store.SchemaState, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return store.SchemaState{}, err
	}
	known := make([]string, len(names))
	for i, n := range names {
		known[i] = strings.TrimSuffix(path.Base(n), ".sql")
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return store.SchemaState{}, fmt.Errorf("read the schema version: %w", mapErr(err))
	}
	if !exists {
		return store.CompareSchema(nil, known), nil
	}
	// compat came later: a database migrated before has none.
	rows, err := db.pool.Query(ctx, `SELECT version, coalesce(to_jsonb(m)->>'compat', 'contract') FROM schema_migrations m ORDER BY version`)
	if err != nil {
		return store.SchemaState{}, fmt.Errorf("read the schema version: %w", mapErr(err))
	}
	applied, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Applied, error) {
		var a store.Applied
		err := r.Scan(&a.Version, &a.Compat)
		return a, err
	})
	if err != nil {
		return store.SchemaState{}, fmt.Errorf("read the schema version: %w", mapErr(err))
	}
	return store.CompareSchema(applied, known), nil
}

// addCompat gives schema_migrations the compat column where it lacks it,
// looking first so as not to lock the table when it has it.
func addCompat(ctx context.Context, tx pgx.Tx) error {
	var has bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'compat')`).Scan(&has); err != nil {
		return err
	}
	if has {
		return nil
	}
	_, err := tx.Exec(ctx, `ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS compat text NOT NULL DEFAULT 'contract'`)
	return err
}

// Migrate applies the embedded migrations not yet applied, in name order,
// each in its own transaction. Processes migrating the same schema at once
// wait for each other on an advisory lock, so each migration runs once.
func (db *DB) Migrate(ctx context.Context) error { return db.MigrateTo(ctx, "") }

// MigrateTo applies the embedded migrations up to and including version
// (every one when version is ""), as Migrate does: to build a database as an
// older release left it, for upgrade tests.
func (db *DB) MigrateTo(ctx context.Context, last string) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		if last != "" && version > last {
			break
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if outsideTransaction(string(body)) {
			if err := db.applyOutside(ctx, version, string(body)); err != nil {
				return fmt.Errorf("migrate %s: %w", version, mapErr(err))
			}
			continue
		}
		err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			// The lock comes first: CREATE TABLE IF NOT EXISTS itself races.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`, int32(migrateLockKey)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
				return err
			}
			if err := addCompat(ctx, tx); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compat) VALUES ($1, $2, $3)`,
				version, time.Now(), store.MigrationCompat(string(body)))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, mapErr(err))
		}
	}
	return nil
}

// Write runs fn in a READ COMMITTED transaction and commits it if fn returns
// nil. A statement that fails aborts the transaction: fn must return its
// error rather than go on. When the connection is lost before COMMIT, the
// error wraps record.ErrUnavailable; when the answer to COMMIT is lost, it
// wraps record.ErrCommitUnknown. Either way the pool's idle connections are
// dropped, since the server may have gone with them.
func (db *DB) Write(ctx context.Context, fn func(store.Tx) error) (err error) {
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return db.unavailable("begin", err)
	}
	defer func() { err = rollback(ctx, pgTx, err) }() // no-op after Commit
	t := &tx{q: pgTx, write: true}
	if err := fn(t); err != nil {
		if pgTx.Conn().IsClosed() {
			return db.unavailable("write", err)
		}
		return err
	}
	if err := pgTx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && !pgTx.Conn().IsClosed() {
			// The server answered: it did not commit.
			return fmt.Errorf("commit: %w", mapErr(err))
		}
		db.pool.Reset()
		if t.batch != 0 && t.xid != 0 {
			db.mu.Lock()
			if len(db.xids) > 4096 { // bounded: lookups follow at once
				clear(db.xids)
			}
			db.xids[t.batch] = t.xid
			db.mu.Unlock()
		}
		return fmt.Errorf("commit: %w: %w", record.ErrCommitUnknown, err)
	}
	return nil
}

// rollback ends tx, whose outcome is err; it also returns the pool's
// connection. After a failure err wins, and the rollback's own error is
// joined to it unless the transaction had already ended (pgx.ErrTxClosed:
// after a Commit, failed or not). After a success the rollback cannot change
// the result (a write has committed, a read has its answer), so its error is
// dropped; pgx closes a connection whose rollback failed.
func rollback(ctx context.Context, tx pgx.Tx, err error) error {
	rbErr := tx.Rollback(ctx)
	if err != nil && rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
		return errors.Join(err, rbErr)
	}
	return err
}

// unavailable wraps an error that did not come from a statement the server
// refused (it could not be reached, or the connection dropped) with
// record.ErrUnavailable, and drops the pool's idle connections.
func (db *DB) unavailable(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !lostClass(pe.Code) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	db.pool.Reset()
	return fmt.Errorf("%s: %w: %w", what, record.ErrUnavailable, err)
}

// lostClass reports whether a SQLSTATE means the connection or the server
// went away: connection exceptions, the server shutting down or a backend
// terminated, too many connections.
func lostClass(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300"
}

// Read runs fn in a REPEATABLE READ READ ONLY transaction: every query of fn
// sees the same snapshot. A read that loses its connection is tried once
// more on a fresh one.
func (db *DB) Read(ctx context.Context, fn func(store.Tx) error) error {
	select {
	case db.reads <- struct{}{}:
		defer func() { <-db.reads }()
	case <-ctx.Done():
		return ctx.Err()
	}
	for attempt := 0; ; attempt++ {
		lost, err := db.read(ctx, fn)
		if !lost {
			return err
		}
		if attempt > 0 {
			return db.unavailable("read", err)
		}
		db.pool.Reset()
	}
}

func (db *DB) read(ctx context.Context, fn func(store.Tx) error) (lost bool, err error) {
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		var pe *pgconn.PgError
		refused := errors.As(err, &pe) && !lostClass(pe.Code) // the server answered, and is not going away
		lost := !refused && ctx.Err() == nil
		return lost, fmt.Errorf("begin read: %w", mapErr(err))
	}
	defer func() { err = rollback(ctx, pgTx, err) }()
	err = fn(&tx{q: pgTx})
	return err != nil && pgTx.Conn().IsClosed() && ctx.Err() == nil, err
}

// BatchStatus looks for the batch on a new connection of its own (the
// pool's may be dead). Absent, it asks the server about the transaction
// that wrote it: still in progress, or aborted.
func (db *DB) BatchStatus(ctx context.Context, id int64) (store.BatchState, error) {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		return store.BatchNotCommitted, fmt.Errorf("batch status: %w: %w", record.ErrUnavailable, err)
	}
	// The answer does not depend on how this private connection closes, and a
	// failed close leaves nothing behind to undo: its error is dropped.
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var found bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batches WHERE id = $1)`, id).Scan(&found); err != nil {
		return store.BatchNotCommitted, fmt.Errorf("batch status: %w", err)
	}
	db.mu.Lock()
	xid, known := db.xids[id]
	if found {
		delete(db.xids, id)
	}
	db.mu.Unlock()
	if found {
		return store.BatchCommitted, nil
	}
	if !known {
		return store.BatchNotCommitted, fmt.Errorf("batch status: batch %d is not in the database and its transaction id is not known", id)
	}
	var status *string
	if err := conn.QueryRow(ctx, `SELECT pg_xact_status($1::text::xid8)`, strconv.FormatInt(xid, 10)).Scan(&status); err != nil {
		return store.BatchNotCommitted, fmt.Errorf("batch status: %w", err)
	}
	switch {
	case status == nil:
		return store.BatchNotCommitted, fmt.Errorf("batch status: the server no longer knows transaction %d", xid)
	case *status == "in progress":
		return store.BatchInProgress, nil
	case *status == "committed": // committed, its row since purged
		db.forget(id)
		return store.BatchCommitted, nil
	}
	db.forget(id)
	return store.BatchNotCommitted, nil
}

func (db *DB) forget(batch int64) {
	db.mu.Lock()
	delete(db.xids, batch)
	db.mu.Unlock()
}

// SQLSTATEs: a duplicate key; no room left on the server's disk.
const (
	uniqueViolation = "23505"
	diskFull        = "53100"
)

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return tollgate.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return &tollgate.Error{Code: tollgate.CodeConflict, Message: "conflicts with an existing record (" + pe.ConstraintName + ")"}
	}
	if pe != nil && pe.Code == diskFull {
		return fmt.Errorf("%w: %w: %w", record.ErrUnavailable, record.ErrFull, err)
	}
	return err
}

// tsz converts an optional time to a value for COPY and arrays; nil is NULL.
func tsz(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: *t, Valid: true}
}

// utc returns the optional time t in UTC.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// limit returns n as a LIMIT argument: NULL, no limit, when n <= 0.
func limit(n int) any {
	if n <= 0 {
		return nil
	}
	return int64(n)
}

// optTime is t as a query argument, NULL when zero.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Durability says what a commit's durability rests on, as the server has
// it: synchronous_commit, fsync and full_page_writes.
func (db *DB) Durability(ctx context.Context) (string, error) {
	var sc, fs, fpw string
	err := db.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync'), current_setting('full_page_writes')`).Scan(&sc, &fs, &fpw)
	if err != nil {
		return "", fmt.Errorf("read the durability settings: %w", err)
	}
	return fmt.Sprintf("PostgreSQL synchronous_commit=%s, fsync=%s, full_page_writes=%s", sc, fs, fpw), nil
}
