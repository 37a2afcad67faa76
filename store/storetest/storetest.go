// Package storetest is the contract suite of the stores: each method of
// store.Tx and record.Tx, run against every store the same way (what it
// returns for missing ids, its ordering, its errors), so that SQLite and
// PostgreSQL behave alike on the same input. A store package's test calls
// Run with a function that opens a fresh, migrated store; one file holds
// each group of methods. The ledger's own rules, races and property tests,
// which run through the ledger on every store, are in ledger/.
package storetest

import (
	"errors"
	"testing"
	"time"

	"tollgate"
	"tollgate/store"

	"github.com/google/go-cmp/cmp"
)

// Opener returns a fresh, migrated, empty store, closed when tb ends.
type Opener func(tb testing.TB) store.Store

// Run runs every contract test against the stores open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Accounts", testAccounts},
		{"ReadRejectsWrites", testReadRejectsWrites},
		{"KeysAndPlans", testKeysAndPlans},
		{"Apply", testApply},
		{"ApplyCoalescesUpdates", testApplyCoalescesUpdates},
		{"GrantsOpenAndDue", testGrantsOpenAndDue},
		{"GrantLists", testGrantLists},
		{"AccountState", testAccountState},
		{"LockAccounts", testLockAccounts},
		{"HoldsPendingAndDue", testHoldsPendingAndDue},
		{"HoldLists", testHoldLists},
		{"JournalTotals", testJournalTotals},
		{"EntryFilters", testEntryFilters},
		{"Idempotency", testIdempotency},
		{"Batches", testBatches},
	}
	tests = append(tests, recordTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// T0 is the time the suite's rows are made at.
var T0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func write(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Write(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Read(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// byID checks a lookup by id: get(id) returns want, and get(missing)
// tollgate.ErrNotFound. An error other than those is returned.
func byID[T any](t *testing.T, name string, get func(id string) (T, error), id string, want T, missing string) error {
	t.Helper()
	got, err := get(id)
	if err != nil {
		return err
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
	if _, err := get(missing); !errors.Is(err, tollgate.ErrNotFound) {
		t.Errorf("%s missing: got %v, want not found", name, err)
	}
	return nil
}

func account(id string) tollgate.Account {
	return tollgate.Account{ID: id, Name: "n " + id, Plan: "free", Timezone: "UTC", Status: tollgate.AccountActive, CreatedAt: T0}
}

func grant(id, acct string, remaining tollgate.Credits) tollgate.Grant {
	return tollgate.Grant{ID: id, AccountID: acct, Source: tollgate.SourcePurchase, Amount: tollgate.WholeCredits(10),
		Remaining: remaining, EffectiveAt: T0, CreatedAt: T0}
}

func hold(id, acct string, expires time.Time) tollgate.Hold {
	return tollgate.Hold{ID: id, AccountID: acct, Product: tollgate.ProductVideo, Amount: tollgate.WholeCredits(1),
		Status: tollgate.HoldPending, Allocations: []tollgate.Allocation{{GrantID: "g1", Amount: tollgate.WholeCredits(1)}},
		CreatedAt: T0, ExpiresAt: expires}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}
