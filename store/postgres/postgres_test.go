package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

// openTest returns a migrated store in a schema of its own.
func openTest(t *testing.T) *DB {
	t.Helper()
	db, cleanup, err := OpenTestSchema(t.Context(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return db
}

func write(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Write(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Read(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func account(id string) tollgate.Account {
	return tollgate.Account{ID: id, Name: "n " + id, Plan: "free", Timezone: "UTC", Status: tollgate.AccountActive, CreatedAt: t0}
}

func grant(id, acct string, remaining tollgate.Credits) tollgate.Grant {
	return tollgate.Grant{ID: id, AccountID: acct, Source: tollgate.SourcePurchase, Amount: tollgate.WholeCredits(10),
		Remaining: remaining, EffectiveAt: t0, CreatedAt: t0}
}

func hold(id, acct string, expires time.Time) tollgate.Hold {
	return tollgate.Hold{ID: id, AccountID: acct, Product: tollgate.ProductVideo, Amount: tollgate.WholeCredits(1),
		Status: tollgate.HoldPending, Allocations: []tollgate.Allocation{{GrantID: "g1", Amount: tollgate.WholeCredits(1)}},
		CreatedAt: t0, ExpiresAt: expires}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	// Times keep microseconds, in UTC, whatever the zone they came in.
	a := account("b")
	a.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	write(t, db, func(tx store.Tx) error {
		for _, acc := range []tollgate.Account{a, account("a"), account("B")} {
			if err := tx.AccountInsert(ctx, acc); err != nil {
				return err
			}
		}
		return nil
	})

	err := db.Write(ctx, func(tx store.Tx) error { return tx.AccountInsert(ctx, account("a")) })
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("insert duplicate: got %v, want conflict", err)
	}
	err = db.Write(ctx, func(tx store.Tx) error { return tx.AccountUpdate(ctx, account("zz")) })
	if !errors.Is(err, tollgate.ErrNotFound) {
		t.Errorf("update missing: got %v, want not found", err)
	}

	write(t, db, func(tx store.Tx) error {
		got, err := tx.AccountByID(ctx, "b")
		if err != nil {
			return err
		}
		want := a
		want.CreatedAt = time.Date(2026, 1, 2, 2, 4, 5, 123456000, time.UTC)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AccountByID (-want +got):\n%s", diff)
		}
		if _, err := tx.AccountByID(ctx, "zz"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("AccountByID missing: got %v, want not found", err)
		}
		locked, err := tx.AccountsLock(ctx, []string{"b", "zz", "a", "B"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"B", "a", "b"}, ids(locked)); diff != "" {
			t.Errorf("AccountsLock ids, byte order (-want +got):\n%s", diff)
		}
		u := account("a")
		u.Name, u.Status = "renamed", tollgate.AccountSuspended
		return tx.AccountUpdate(ctx, u)
	})

	read(t, db, func(tx store.Tx) error {
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

func ids(as []tollgate.Account) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func TestReadRejectsWrites(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	read(t, db, func(tx store.Tx) error {
		if err := tx.AccountInsert(ctx, account("a")); err == nil {
			t.Error("AccountInsert in Read: got nil, want an error")
		}
		if err := tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{grant("g", "a", 1)}}); err == nil {
			t.Error("Apply in Read: got nil, want an error")
		}
		if _, err := tx.IdempotencyPurge(ctx, t0); err == nil {
			t.Error("IdempotencyPurge in Read: got nil, want an error")
		}
		return nil
	})
}

func TestKeysAndPlans(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	read(t, db, func(tx store.Tx) error {
		ok, err := tx.APIKeyAdminExists(ctx)
		if err != nil || ok {
			t.Errorf("APIKeyAdminExists on empty store: got %v, %v, want false", ok, err)
		}
		return nil
	})
	k := tollgate.APIKey{ID: "k1", Hash: []byte{1, 2, 3}, CreatedAt: t0}
	v := tollgate.PlanVersion{Plan: "free", Version: 1, EffectiveAt: t0,
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)}, CreatedAt: t0}
	write(t, db, func(tx store.Tx) error {
		if err := tx.APIKeyInsert(ctx, k); err != nil {
			return err
		}
		return tx.PlanVersionInsert(ctx, v)
	})
	err := db.Write(ctx, func(tx store.Tx) error {
		return tx.APIKeyInsert(ctx, tollgate.APIKey{ID: "k2", Hash: k.Hash, CreatedAt: t0})
	})
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("insert key with a duplicate hash: got %v, want conflict", err)
	}
	read(t, db, func(tx store.Tx) error {
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

func TestApply(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	g1 := grant("g1", "a", tollgate.WholeCredits(10))
	g1.Products, g1.Priority, g1.ExpiresAt, g1.ExternalRef = []tollgate.Product{tollgate.ProductVideo, tollgate.ProductStitch}, 3, ptr(t0.Add(time.Hour)), "pay_1"
	g2 := grant("g2", "a", tollgate.WholeCredits(10))
	h1 := hold("h1", "a", t0.Add(time.Minute))
	h1.Metadata, h1.QuoteID = map[string]string{"job": "j1"}, "q1"
	h2 := hold("h2", "a", t0.Add(time.Minute))
	entries := []tollgate.Entry{
		{TxnID: "t1", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookAvailable, GrantID: "g1", Amount: -tollgate.WholeCredits(1), CreatedAt: t0},
		{TxnID: "t1", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookHeld, GrantID: "g1", HoldID: "h1", Amount: tollgate.WholeCredits(1), CreatedAt: t0},
	}
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{
			Grants:      []tollgate.Grant{g1, g2},
			Holds:       []tollgate.Hold{h1, h2},
			Entries:     entries,
			Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{9}, Status: 201, CreatedAt: t0}},
		})
	})
	settled := t0.Add(30 * time.Second)
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{
			GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: tollgate.WholeCredits(9)}, {ID: "g2", Remaining: 0, ExpiredAt: &settled}},
			HoldUpdates:  []store.HoldUpdate{{ID: "h1", Status: tollgate.HoldCaptured, Captured: tollgate.WholeCredits(1), SettledAt: &settled}},
		})
	})

	read(t, db, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(ctx, []string{"g2", "g1", "nope"})
		if err != nil {
			return err
		}
		g1.Remaining = tollgate.WholeCredits(9)
		g2.Remaining, g2.ExpiredAt = 0, &settled
		if diff := cmp.Diff([]tollgate.Grant{g1, g2}, gs); diff != "" {
			t.Errorf("GrantsByID (-want +got):\n%s", diff)
		}
		hs, err := tx.HoldsByID(ctx, []string{"h1", "h2"})
		if err != nil {
			return err
		}
		h1.Status, h1.Captured, h1.SettledAt = tollgate.HoldCaptured, tollgate.WholeCredits(1), &settled
		if diff := cmp.Diff([]tollgate.Hold{h1, h2}, hs); diff != "" {
			t.Errorf("HoldsByID (-want +got):\n%s", diff)
		}
		es, err := tx.EntryList(ctx, store.EntryListParams{AccountID: "a"})
		if err != nil {
			return err
		}
		if len(es) != 2 || es[0].ID >= es[1].ID {
			t.Fatalf("EntryList: got %+v, want 2 entries in id order", es)
		}
		entries[0].ID, entries[1].ID = es[0].ID, es[1].ID
		if diff := cmp.Diff(entries, es); diff != "" {
			t.Errorf("EntryList (-want +got):\n%s", diff)
		}
		if es, err := tx.EntryList(ctx, store.EntryListParams{AccountID: "a", After: es[0].ID, Limit: 5}); err != nil || len(es) != 1 {
			t.Errorf("EntryList after the first: got %d entries, %v, want 1", len(es), err)
		}
		pending, err := tx.HoldList(ctx, store.HoldListParams{Status: tollgate.HoldPending})
		if err != nil {
			return err
		}
		if len(pending) != 1 || pending[0].ID != "h2" {
			t.Errorf("HoldList pending: got %+v, want h2", pending)
		}
		page, err := tx.GrantList(ctx, store.GrantListParams{AccountID: "a", After: "g1", Limit: 10})
		if err != nil {
			return err
		}
		if len(page) != 1 || page[0].ID != "g2" {
			t.Errorf("GrantList after g1: got %+v, want g2", page)
		}
		return nil
	})

	cases := []struct {
		name string
		w    store.Writes
		want error
	}{
		{"duplicate grant", store.Writes{Grants: []tollgate.Grant{grant("g1", "a", 1)}}, tollgate.ErrConflict},
		{"duplicate external ref", store.Writes{Grants: []tollgate.Grant{func() tollgate.Grant {
			g := grant("g9", "a", 1)
			g.ExternalRef = "pay_1"
			return g
		}()}}, tollgate.ErrConflict},
		{"duplicate idempotency key", store.Writes{Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: t0}}}, tollgate.ErrConflict},
		{"missing grant", store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: 1}, {ID: "nope", Remaining: 1}}}, tollgate.ErrNotFound},
		{"missing hold", store.Writes{HoldUpdates: []store.HoldUpdate{{ID: "nope", Status: tollgate.HoldReleased}}}, tollgate.ErrNotFound},
	}
	for _, c := range cases {
		err := db.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &c.w) })
		if !errors.Is(err, c.want) {
			t.Errorf("Apply %s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A taken key is named, so the ledger can drop the operation that made it.
	var conflict *store.ConflictError
	err := db.Write(ctx, func(tx store.Tx) error {
		g := grant("g9", "a", 1)
		g.ExternalRef = "pay_1"
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{grant("g8", "a", 1), g},
			Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: t0},
				{Scope: "a", Key: "k2", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: t0}}})
	})
	if !errors.As(err, &conflict) || !slices.Equal(conflict.Grants, []string{"g9"}) ||
		!slices.Equal(conflict.Idempotency, []store.IdempotencyKey{{Scope: "a", Key: "k"}}) {
		t.Errorf("Apply with taken keys: got %v, want a conflict naming grant g9 and key a/k", err)
	}
	// A failed Apply wrote nothing.
	read(t, db, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(ctx, []string{"g1"})
		if err != nil {
			return err
		}
		if gs[0].Remaining != tollgate.WholeCredits(9) {
			t.Errorf("g1 remaining after failed Apply: got %v, want 9", gs[0].Remaining)
		}
		return nil
	})
	// A remainder below zero breaks a CHECK and fails the transaction.
	err = db.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: -1}}})
	})
	if err == nil {
		t.Error("Apply negative remaining: got nil, want an error")
	}
}

func TestGrantsOpenAndDue(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	open := grant("g_open", "a", 5)
	open.ExpiresAt = ptr(t0)
	spent := grant("g_spent", "a", 0)
	spent.ExpiresAt = ptr(t0)
	allowance := grant("g_allow", "a", 0)
	allowance.Source, allowance.ExpiresAt = tollgate.SourceAllowance, ptr(t0.Add(time.Hour))
	expired := grant("g_expired", "a", 5)
	expired.ExpiresAt, expired.ExpiredAt = ptr(t0), ptr(t0)
	forever := grant("g_forever", "b", 5)
	other := grant("g_other", "c", 5)
	other.ExpiresAt = ptr(t0.Add(-time.Hour))
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{open, spent, allowance, expired, forever, other}})
	})
	read(t, db, func(tx store.Tx) error {
		gs, err := tx.GrantsOpen(ctx, []string{"b", "a"})
		if err != nil {
			return err
		}
		var got []string
		for _, g := range gs {
			got = append(got, g.ID)
		}
		if diff := cmp.Diff([]string{"g_allow", "g_open", "g_forever"}, got); diff != "" {
			t.Errorf("GrantsOpen (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			now  time.Time
			n    int
			want int
		}{
			{t0.Add(-2 * time.Hour), 0, 0},
			{t0, 0, 2},                // a (g_open), c
			{t0.Add(time.Hour), 0, 2}, // a (g_open and g_allow, once), c
			{t0.Add(time.Hour), 1, 1},
		} {
			due, err := tx.GrantsDue(ctx, c.now, c.n)
			if err != nil {
				return err
			}
			if len(due) != c.want {
				t.Errorf("GrantsDue(%v, %d): got %v, want %d accounts", c.now, c.n, due, c.want)
			}
		}
		return nil
	})
}

func TestHoldsPendingAndDue(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	settled := hold("h_settled", "a", t0)
	settled.Status = tollgate.HoldReleased
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Holds: []tollgate.Hold{
			hold("h_soon", "a", t0), hold("h_late", "a", t0.Add(time.Hour)), settled, hold("h_b", "b", t0),
		}})
	})
	read(t, db, func(tx store.Tx) error {
		for _, c := range []struct {
			dueBy time.Time
			want  []string
		}{
			{time.Time{}, []string{"h_late", "h_soon"}},
			{t0, []string{"h_soon"}},
		} {
			hs, err := tx.HoldsPending(ctx, []string{"a"}, c.dueBy)
			if err != nil {
				return err
			}
			var got []string
			for _, h := range hs {
				got = append(got, h.ID)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("HoldsPending(dueBy %v) (-want +got):\n%s", c.dueBy, diff)
			}
		}
		due, err := tx.HoldsDue(ctx, t0, 0)
		if err != nil {
			return err
		}
		if len(due) != 2 {
			t.Errorf("HoldsDue: got %v, want a and b", due)
		}
		return nil
	})
}

func TestJournalTotals(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	e := func(txn, acct string, book tollgate.Book, grant string, amt tollgate.Credits) tollgate.Entry {
		return tollgate.Entry{TxnID: txn, Kind: tollgate.TxnGrant, AccountID: acct, Book: book, GrantID: grant, Amount: amt, CreatedAt: t0}
	}
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Entries: []tollgate.Entry{
			e("t1", "a", tollgate.BookAvailable, "g1", 10),
			e("t1", "", tollgate.BookIssuance, "", -10),
			e("t2", "a", tollgate.BookAvailable, "g1", 5),
			e("t2", "", tollgate.BookIssuance, "", -4),
		}})
	})
	read(t, db, func(tx store.Tx) error {
		totals, err := tx.EntryTotals(ctx)
		if err != nil {
			return err
		}
		want := []store.EntryTotal{
			{AccountID: "", Book: tollgate.BookIssuance, Sum: -14},
			{AccountID: "a", Book: tollgate.BookAvailable, GrantID: "g1", Sum: 15},
		}
		if diff := cmp.Diff(want, totals); diff != "" {
			t.Errorf("EntryTotals (-want +got):\n%s", diff)
		}
		sums, err := tx.TxnsUnbalanced(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]store.TxnSum{{TxnID: "t2", Sum: 1}}, sums); diff != "" {
			t.Errorf("TxnsUnbalanced (-want +got):\n%s", diff)
		}
		return nil
	})
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := t.Context()
	old := record.Idempotency{Scope: "a", Key: "old", RequestHash: []byte{1}, Status: 200, Body: []byte(`{"x":1}`), CreatedAt: t0}
	recent := record.Idempotency{Scope: "admin", Key: "new", RequestHash: []byte{2}, Status: 201, Body: []byte(`{}`), CreatedAt: t0.Add(time.Hour)}
	write(t, db, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Idempotency: []record.Idempotency{old, recent,
			{Scope: "a", Key: "empty", RequestHash: []byte{}, Status: 204, CreatedAt: t0}}})
	})
	read(t, db, func(tx store.Tx) error {
		got, err := tx.IdempotencyByKey(ctx, "a", "old")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(old, got); diff != "" {
			t.Errorf("IdempotencyByKey (-want +got):\n%s", diff)
		}
		if got, err := tx.IdempotencyByKey(ctx, "a", "empty"); err != nil || got.Body != nil || got.RequestHash != nil {
			t.Errorf("IdempotencyByKey empty body: got %+v, %v, want nil body and hash", got, err)
		}
		if _, err := tx.IdempotencyByKey(ctx, "admin", "old"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("IdempotencyByKey other scope: got %v, want not found", err)
		}
		return nil
	})
	write(t, db, func(tx store.Tx) error {
		n, err := tx.IdempotencyPurge(ctx, t0.Add(time.Minute))
		if err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("IdempotencyPurge: got %d, want 2", n)
		}
		if _, err := tx.IdempotencyByKey(ctx, "a", "old"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("IdempotencyByKey after purge: got %v, want not found", err)
		}
		if _, err := tx.IdempotencyByKey(ctx, "admin", "new"); err != nil {
			t.Errorf("IdempotencyByKey recent after purge: got %v, want it kept", err)
		}
		return nil
	})
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	db := openTest(t) // migrated once
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations rows: got %d, want %d", n, want)
	}
}

// TestMigrateConcurrent starts two stores on one empty schema, named by the
// search_path of the URL, and migrates both at once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	base := testURL(t)
	ctx := t.Context()
	var b [8]byte
	rand.Read(b[:])
	schema := "tollgate_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), `DROP SCHEMA `+ident+` CASCADE`) // after the stores close

	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	var dbs [2]*DB
	for i := range dbs {
		if dbs[i], err = Open(ctx, u.String()); err != nil {
			t.Fatal(err)
		}
		defer dbs[i].Close()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+ident+`.schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations rows: got %d, want %d", n, want)
	}
	// Both stores work in the schema of the URL.
	write(t, dbs[0], func(tx store.Tx) error { return tx.AccountInsert(ctx, account("a")) })
	read(t, dbs[1], func(tx store.Tx) error {
		_, err := tx.AccountByID(ctx, "a")
		return err
	})
}

// migrationCount is the number of embedded migrations.
func migrationCount(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v (%d)", err, len(names))
	}
	return len(names)
}

// TestAuditAppendOnly: the database itself refuses to change, delete or
// truncate audit entries.
func TestAuditAppendOnly(t *testing.T) {
	db := openTest(t)
	e := tollgate.AuditEntry{ID: "aud_1", CreatedAt: t0, ActorKind: "admin", Action: "grant.create", Detail: "{}"}
	write(t, db, func(tx store.Tx) error { return tx.AuditAppend(t.Context(), []tollgate.AuditEntry{e}) })
	for _, q := range []string{`UPDATE audit_log SET action = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := db.pool.Exec(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused", q, err)
		}
	}
	read(t, db, func(tx store.Tx) error {
		es, err := tx.AuditList(t.Context(), record.AuditListParams{})
		if err != nil || len(es) != 1 || es[0] != e {
			t.Errorf("after the attempts: %+v %v, want the entry as written", es, err)
		}
		return nil
	})
}

// TestReadsLeaveRoomForWrites: with every read slot taken by a read that
// does not end, a write still gets a connection and commits.
func TestReadsLeaveRoomForWrites(t *testing.T) {
	db := openTest(t)
	slots := cap(db.reads)
	if slots != DefaultMaxConns-WriteReserve {
		t.Fatalf("%d read slots, want %d", slots, DefaultMaxConns-WriteReserve)
	}
	release := make(chan struct{})
	in := make(chan struct{}, slots+8)
	var wg sync.WaitGroup
	for range slots + 8 { // more readers than slots: the rest wait for one
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.Read(context.Background(), func(store.Tx) error {
				in <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	for range slots {
		<-in
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range WriteReserve {
		if err := db.Write(ctx, func(tx store.Tx) error { return tx.AccountInsert(ctx, account(fmt.Sprint("w", i))) }); err != nil {
			t.Fatalf("write %d with every read slot taken: %v", i, err)
		}
	}
	if n := len(in); n != 0 {
		t.Fatalf("%d readers beyond the slots got in", n)
	}
	close(release)
	wg.Wait()
}
