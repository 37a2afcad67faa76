package ledger_test

import (
	"context"
	"testing"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/record"
)

// TestRecordsCannotReachTheCommitter: the transaction the ledger lends to
// other packages answers record.Tx's methods and no others, so no type
// assertion turns it into a transaction that writes accounts, grants,
// holds or the journal.
func TestRecordsCannotReachTheCommitter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openSQLite(t)
	l := ledger.New(db, ledger.Options{})
	check := func(name string, tx record.Tx) {
		if _, ok := tx.(store.Tx); ok {
			t.Errorf("%s: the records transaction is a store.Tx", name)
		}
		if _, ok := tx.(interface {
			Apply(context.Context, *store.Writes) error
		}); ok {
			t.Errorf("%s: the records transaction has Apply", name)
		}
		if _, ok := tx.(interface {
			AccountUpdate(context.Context, tollgate.Account) error
		}); ok {
			t.Errorf("%s: the records transaction has AccountUpdate", name)
		}
	}
	if err := l.ReadRecords(ctx, func(tx record.Tx) error { check("ReadRecords", tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteRecords(ctx, func(tx record.Tx) error { check("WriteRecords", tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WriteIdempotent(ctx, nil, func(tx record.Tx) (any, error) { check("WriteIdempotent", tx); return nil, nil }); err != nil {
		t.Fatal(err)
	}
	// CheckIdempotent takes only the ledger's own transactions.
	err := db.Write(ctx, func(tx store.Tx) error {
		return l.CheckIdempotent(ctx, tx, &ledger.Idempotency{Scope: "admin", Key: "k"})
	})
	if err == nil {
		t.Error("CheckIdempotent accepted a transaction that is not the ledger's")
	}
	err = l.WriteRecords(ctx, func(tx record.Tx) error {
		return l.CheckIdempotent(ctx, tx, &ledger.Idempotency{Scope: "admin", Key: "k"})
	})
	if err != nil {
		t.Errorf("CheckIdempotent in the ledger's transaction: %v", err)
	}
}
