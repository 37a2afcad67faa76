package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"syscall"
)

// Backup copies the database at path into dst, a file that must not exist,
// as one consistent snapshot, while the server keeps writing: VACUUM INTO
// reads inside one read transaction, which in WAL mode neither waits for
// the writer nor holds it up, and sees every transaction committed before
// it began. The copy is compacted and complete in itself (no -wal beside
// it). Backup takes no lock of Tollgate's own, so it runs beside serve.
func Backup(ctx context.Context, path, dst string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("backup: %s already exists; give a new file", dst)
	}
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, dst)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("backup %s: %w", path, mapErr(err)), removeIfExists(dst))
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// LimitSize caps the database file at about bytes (0: SQLite's own
// maximum): a write that would grow it further fails with record.ErrFull,
// and reads go on. It applies to this DB's writer connection, which is
// the only one that writes.
func (db *DB) LimitSize(ctx context.Context, bytes int64) error {
	var pageSize int64
	if err := db.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return fmt.Errorf("limit size: %w", mapErr(err))
	}
	pages := bytes / pageSize
	if bytes <= 0 {
		pages = 4294967294 // SQLite's largest
	}
	var got int64
	if err := db.w.QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)).Scan(&got); err != nil {
		return fmt.Errorf("limit size: %w", mapErr(err))
	}
	if got < pages && bytes > 0 {
		return fmt.Errorf("limit size: the database already holds %d bytes, more than %d", got*pageSize, bytes)
	}
	return nil
}

// Check opens the database at path read-only and runs SQLite's
// integrity_check; it returns the newest migration applied.
func Check(ctx context.Context, path string) (schema string, err error) {
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return "", fmt.Errorf("integrity check of %s: %w", path, err)
	}
	if res != "ok" {
		return "", fmt.Errorf("integrity check of %s: %s", path, res)
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), '') FROM schema_migrations`).Scan(&schema); err != nil {
		return "", fmt.Errorf("%s is not a Tollgate database: %w", path, err)
	}
	return schema, nil
}

// InUse reports whether a process holds the lock LockExclusive takes on the
// database at path: a serve running on it.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }() // read-only; closing releases our probe
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
