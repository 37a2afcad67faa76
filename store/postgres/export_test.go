package postgres

import (
	"context"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Internals the external tests look at.

// ReadSlots is how many reads may run at once.
func ReadSlots(db *DB) int { return cap(db.reads) }

// Migrations counts the embedded migrations.
func Migrations() (int, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	return len(names), err
}

// MigrationVersions lists the embedded migrations' versions, in order.
func MigrationVersions() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = strings.TrimSuffix(path.Base(n), ".sql")
	}
	return names, nil
}

// ApplyOutside runs body as an outside-transaction migration named version.
func ApplyOutside(ctx context.Context, db *DB, version, body string) error {
	return db.applyOutside(ctx, version, body)
}
