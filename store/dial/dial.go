// Package dial opens the store a database URL names, SQLite or PostgreSQL,
// and brings its schema up to date. It is how cmd/tollgate gets a store
// without naming the committer's interface.
package dial

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tollgate/store"
	"tollgate/store/postgres"
	"tollgate/store/sqlite"
)

// Open opens and migrates the store at url: postgres://... or
// postgresql://... for PostgreSQL, sqlite:PATH or a bare path for SQLite.
// It refuses a database migrated by a newer binary. The caller closes it.
func Open(ctx context.Context, url string) (store.Store, error) {
	s, err := OpenOnly(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("migrate: %w", err), s.Close())
	}
	st, err := s.Schema(ctx)
	if err == nil {
		err = st.Compatible()
	}
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// OpenOnly opens the store at url without migrating it.
func OpenOnly(ctx context.Context, url string) (store.Store, error) {
	var s store.Store
	var err error
	if IsPostgres(url) {
		s, err = postgres.Open(ctx, url)
	} else {
		path := strings.TrimPrefix(url, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		s, err = sqlite.Open(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return s, nil
}

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Redact hides the password in a database URL, for logs.
func Redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.Index(u[i+3:], "@"); at >= 0 {
			cred := u[i+3 : i+3+at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				return u[:i+3] + user + ":***" + u[i+3+at:]
			}
		}
	}
	return u
}
