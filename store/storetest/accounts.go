package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
)

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Times keep microseconds, in UTC, whatever the zone they came in.
	a := account("b")
	a.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	a.Currency = "idr"
	write(t, s, func(tx store.Tx) error {
		for _, acc := range []tollgate.Account{a, account("a"), account("B")} {
			if err := tx.AccountInsert(ctx, acc); err != nil {
				return err
			}
		}
		return nil
	})

	err := s.Write(ctx, func(tx store.Tx) error { return tx.AccountInsert(ctx, account("a")) })
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("insert duplicate: got %v, want conflict", err)
	}
	err = s.Write(ctx, func(tx store.Tx) error { return tx.AccountUpdate(ctx, account("zz")) })
	if !errors.Is(err, tollgate.ErrNotFound) {
		t.Errorf("update missing: got %v, want not found", err)
	}

	write(t, s, func(tx store.Tx) error {
		want := a
		want.CreatedAt = time.Date(2026, 1, 2, 2, 4, 5, 123456000, time.UTC)
		if err := byID(t, "AccountByID", func(id string) (tollgate.Account, error) { return tx.AccountByID(ctx, id) }, "b", want, "zz"); err != nil {
			return err
		}
		locked, err := tx.AccountsLock(ctx, []string{"b", "zz", "a", "B"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"B", "a", "b"}, ids(locked, func(a tollgate.Account) string { return a.ID })); diff != "" {
			t.Errorf("AccountsLock ids, byte order (-want +got):\n%s", diff)
		}
		u := account("a")
		u.Name, u.Status = "renamed", tollgate.AccountSuspended
		return tx.AccountUpdate(ctx, u)
	})

	read(t, s, func(tx store.Tx) error {
		page, err := tx.AccountList(ctx, store.AccountListParams{After: "B", Limit: 1})
		if err != nil {
			return err
		}
		if len(page) != 1 || page[0].ID != "a" || page[0].Name != "renamed" || page[0].Status != tollgate.AccountSuspended {
			t.Errorf("AccountList after B: got %+v, want the renamed, suspended a", page)
		}
		all, err := tx.AccountList(ctx, store.AccountListParams{})
		if err != nil {
			return err
		}
		if len(all) != 3 {
			t.Errorf("AccountList no limit: got %d accounts, want 3", len(all))
		}
		locked, err := tx.AccountsLock(ctx, []string{"a"})
		if err != nil || len(locked) != 1 {
			t.Errorf("AccountsLock in Read: got %v, %v, want a and no error", locked, err)
		}
		return nil
	})
}

func testReadRejectsWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	read(t, s, func(tx store.Tx) error {
		if err := tx.AccountInsert(ctx, account("a")); err == nil {
			t.Error("AccountInsert in Read: got nil, want an error")
		}
		if err := tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{grant("g", "a", 1)}}); err == nil {
			t.Error("Apply in Read: got nil, want an error")
		}
		if _, err := tx.IdempotencyPurge(ctx, T0); err == nil {
			t.Error("IdempotencyPurge in Read: got nil, want an error")
		}
		return nil
	})
}

func testKeysAndPlans(t *testing.T, s store.Store) {
	ctx := t.Context()
	read(t, s, func(tx store.Tx) error {
		ok, err := tx.APIKeyAdminExists(ctx)
		if err != nil || ok {
			t.Errorf("APIKeyAdminExists on empty store: got %v, %v, want false", ok, err)
		}
		return nil
	})
	k := tollgate.APIKey{ID: "k1", Hash: []byte{1, 2, 3}, CreatedAt: T0}
	v := tollgate.PlanVersion{Plan: "free", Version: 1, EffectiveAt: T0,
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)}, CreatedAt: T0}
	write(t, s, func(tx store.Tx) error {
		if err := tx.APIKeyInsert(ctx, k); err != nil {
			return err
		}
		return tx.PlanVersionInsert(ctx, v)
	})
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.APIKeyInsert(ctx, tollgate.APIKey{ID: "k2", Hash: k.Hash, CreatedAt: T0})
	})
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("insert key with a duplicate hash: got %v, want conflict", err)
	}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.APIKeyByHash(ctx, []byte{1, 2, 3})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(k, got); diff != "" {
			t.Errorf("APIKeyByHash (-want +got):\n%s", diff)
		}
		if ok, err := tx.APIKeyAdminExists(ctx); err != nil || !ok {
			t.Errorf("APIKeyAdminExists: got %v, %v, want true", ok, err)
		}
		vs, err := tx.PlanVersionList(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.PlanVersion{v}, vs); diff != "" {
			t.Errorf("PlanVersionList (-want +got):\n%s", diff)
		}
		return nil
	})
}
