package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/store"
)

// A migration whose SQL has the line "-- tollgate: outside-transaction" runs
// its statements one by one outside a transaction, as CREATE INDEX
// CONCURRENTLY requires: the index is built while reads and writes go on.
// Its statements are one per line-ending semicolon, each safe to run again
// (IF NOT EXISTS): if the process stops part way, the next start runs the
// migration again, and an index a stopped concurrent build left invalid is
// dropped and built anew.

func outsideTransaction(sql string) bool {
	for _, line := range strings.Split(sql, "\n") {
		if strings.TrimSpace(line) == "-- tollgate: outside-transaction" {
			return true
		}
	}
	return false
}

// statements splits a migration into its statements: each ends with a
// semicolon at the end of a line; comments are dropped.
func statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

var concurrentIndex = regexp.MustCompile(`(?i)^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+("?[A-Za-z_][A-Za-z0-9_]*"?)`)

// applyOutside runs an outside-transaction migration on one connection
// holding the migration lock for the session, then records it.
func (db *DB) applyOutside(ctx context.Context, version, body string) (err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	c := conn.Conn()
	key := `$1, hashtext(coalesce(current_schema(), ''))`
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, int32(migrateLockKey)); err != nil {
		return err
	}
	defer func() {
		if _, uerr := c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, int32(migrateLockKey)); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	var done bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	for _, stmt := range statements(body) {
		if m := concurrentIndex.FindStringSubmatch(stmt); m != nil {
			name := strings.Trim(m[1], `"`)
			var invalid bool
			err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
				JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.relname = $1 AND n.nspname = current_schema() AND NOT i.indisvalid)`, name).Scan(&invalid)
			if err != nil {
				return err
			}
			if invalid { // left by a build that stopped part way
				if _, err := c.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
					return fmt.Errorf("drop the invalid index %s: %w", name, err)
				}
			}
		}
		if _, err := c.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	_, err = c.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compat) VALUES ($1, $2, $3)`,
		version, time.Now(), store.MigrationCompat(body))
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
