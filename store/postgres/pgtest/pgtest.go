// Package pgtest opens PostgreSQL stores for tests: each in a schema of its
// own, migrated, so that tests running at once never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/store/postgres"
)

// OpenSchema opens the database at dbURL in a new schema with a random
// name, migrated. The returned cleanup closes the store and drops the
// schema with everything in it; it is safe to call once.
func OpenSchema(ctx context.Context, dbURL string) (*postgres.DB, func(), error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, fmt.Errorf("open test schema: %w", err)
	}
	schema := "tollgate_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if err := execOnce(ctx, dbURL, `CREATE SCHEMA `+ident); err != nil {
		return nil, nil, fmt.Errorf("open test schema: %w", err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return execOnce(ctx, dbURL, `DROP SCHEMA IF EXISTS `+ident+` CASCADE`)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("open test schema: %w", err), drop())
	}
	q := u.Query()
	q.Set("search_path", schema) // a run-time parameter of every connection
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		return nil, nil, errors.Join(err, drop())
	}
	if err := db.Migrate(ctx); err != nil {
		return nil, nil, errors.Join(err, db.Close(), drop())
	}
	cleanup := func() {
		// A cleanup has no caller to report to: Close always returns nil,
		// and a schema that could not be dropped holds only test rows,
		// under a random name no other test uses.
		_ = db.Close()
		_ = drop()
	}
	return db, cleanup, nil
}

// execOnce runs sql on a connection of its own.
func execOnce(ctx context.Context, dbURL, sql string) (err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close(context.WithoutCancel(ctx))) }()
	_, err = conn.Exec(ctx, sql)
	return err
}
