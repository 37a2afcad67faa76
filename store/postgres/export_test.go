package postgres

import "io/fs"

// Internals the external tests look at.

// ReadSlots is how many reads may run at once.
func ReadSlots(db *DB) int { return cap(db.reads) }

// Migrations counts the embedded migrations.
func Migrations() (int, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	return len(names), err
}
