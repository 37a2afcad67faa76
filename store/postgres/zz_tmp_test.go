package postgres

import (
	"fmt"
	"path/filepath"
	"testing"

	"tollgate/store"
	"tollgate/store/sqlite"
)

func TestTmpCompare(t *testing.T) {
	ctx := t.Context()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("migrate", sq.Migrate(ctx))
	pg := openTest(t)
	for _, s := range []store.Store{sq, pg} {
		err := s.Write(ctx, func(tx store.Tx) error {
			return tx.Apply(ctx, &store.Writes{Idempotency: []store.Idempotency{{Scope: "a", Key: "nil", CreatedAt: t0}, {Scope: "a", Key: "empty", RequestHash: []byte{}, Body: []byte{}, CreatedAt: t0}}})
		})
		fmt.Println(s.Kind(), "apply", err)
		s.Read(ctx, func(tx store.Tx) error {
			for _, k := range []string{"nil", "empty"} {
				i, err := tx.IdempotencyByKey(ctx, "a", k)
				fmt.Printf("%s %s: %v hash=%#v body=%#v\n", s.Kind(), k, err, i.RequestHash, i.Body)
			}
			return nil
		})
	}
}
