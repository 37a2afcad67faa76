package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

func testApply(t *testing.T, s store.Store) {
	ctx := t.Context()
	g1 := grant("g1", "a", tollgate.WholeCredits(10))
	g1.Products, g1.Priority, g1.ExpiresAt, g1.ExternalRef = []tollgate.Product{tollgate.ProductVideo, tollgate.ProductStitch}, 3, ptr(T0.Add(time.Hour)), "pay_1"
	g1.Held = tollgate.WholeCredits(1)
	g2 := grant("g2", "a", tollgate.WholeCredits(10))
	g2.Held = tollgate.WholeCredits(2)
	h1 := hold("h1", "a", T0.Add(time.Minute))
	h1.Metadata, h1.QuoteID = map[string]string{"job": "j1"}, "q1"
	h2 := hold("h2", "a", T0.Add(time.Minute))
	entries := []tollgate.Entry{
		{TxnID: "t1", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookAvailable, GrantID: "g1", Amount: -tollgate.WholeCredits(1), CreatedAt: T0},
		{TxnID: "t1", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookHeld, GrantID: "g1", HoldID: "h1", Amount: tollgate.WholeCredits(1), CreatedAt: T0},
	}
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{
			Grants:      []tollgate.Grant{g1, g2},
			Holds:       []tollgate.Hold{h1, h2},
			Entries:     entries,
			Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{9}, Status: 201, CreatedAt: T0}},
		})
	})
	read(t, s, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(ctx, []string{"g1", "g2"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Grant{g1, g2}, gs); diff != "" {
			t.Errorf("GrantsByID as inserted (-want +got):\n%s", diff)
		}
		return nil
	})
	settled := T0.Add(30 * time.Second)
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{
			GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: tollgate.WholeCredits(9)}, {ID: "g2", Remaining: 0, Held: tollgate.WholeCredits(5), ExpiredAt: &settled}},
			HoldUpdates:  []store.HoldUpdate{{ID: "h1", Status: tollgate.HoldCaptured, Captured: tollgate.WholeCredits(1), SettledAt: &settled}},
		})
	})

	read(t, s, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(ctx, []string{"g2", "g1", "nope"})
		if err != nil {
			return err
		}
		g1.Remaining, g1.Held = tollgate.WholeCredits(9), 0
		g2.Remaining, g2.Held, g2.ExpiredAt = 0, tollgate.WholeCredits(5), &settled
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
		{"duplicate idempotency key", store.Writes{Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: T0}}}, tollgate.ErrConflict},
		{"missing grant", store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: 1}, {ID: "nope", Remaining: 1}}}, tollgate.ErrNotFound},
		{"missing hold", store.Writes{HoldUpdates: []store.HoldUpdate{{ID: "nope", Status: tollgate.HoldReleased}}}, tollgate.ErrNotFound},
	}
	for _, c := range cases {
		err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &c.w) })
		if !errors.Is(err, c.want) {
			t.Errorf("Apply %s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A taken key is named, so the ledger can drop the operation that made it.
	var conflict *store.ConflictError
	err := s.Write(ctx, func(tx store.Tx) error {
		g := grant("g9", "a", 1)
		g.ExternalRef = "pay_1"
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{grant("g8", "a", 1), g},
			Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: T0},
				{Scope: "a", Key: "k2", RequestHash: []byte{1}, Body: []byte("{}"), CreatedAt: T0}}})
	})
	if !errors.As(err, &conflict) || !slices.Equal(conflict.Grants, []string{"g9"}) ||
		!slices.Equal(conflict.Idempotency, []store.IdempotencyKey{{Scope: "a", Key: "k"}}) {
		t.Errorf("Apply with taken keys: got %v, want a conflict naming grant g9 and key a/k", err)
	}
	// A failed Apply wrote nothing.
	read(t, s, func(tx store.Tx) error {
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
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: -1}}})
	})
	if err == nil {
		t.Error("Apply negative remaining: got nil, want an error")
	}
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: 1, Held: -1}}})
	})
	if err == nil {
		t.Error("Apply negative held: got nil, want an error")
	}
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := record.Idempotency{Scope: "a", Key: "old", RequestHash: []byte{1}, Status: 200, Body: []byte(`{"x":1}`), CreatedAt: T0}
	recent := record.Idempotency{Scope: "admin", Key: "new", RequestHash: []byte{2}, Status: 201, Body: []byte(`{}`), CreatedAt: T0.Add(time.Hour)}
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Idempotency: []record.Idempotency{old, recent,
			{Scope: "a", Key: "empty", RequestHash: []byte{}, Status: 204, CreatedAt: T0}}})
	})
	read(t, s, func(tx store.Tx) error {
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
	write(t, s, func(tx store.Tx) error {
		n, err := tx.IdempotencyPurge(ctx, T0.Add(time.Minute))
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

// testApplyCoalescesUpdates: a Writes updates each grant, hold and order
// at most once (the ledger coalesces them). One that names a row twice is
// refused whole on every store, writing nothing: the stores would
// otherwise disagree on which update wins.
func testApplyCoalescesUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	write(t, s, func(tx store.Tx) error {
		if err := tx.AccountInsert(ctx, account("a")); err != nil {
			return err
		}
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{grant("g1", "a", tollgate.WholeCredits(10))},
			Holds: []tollgate.Hold{hold("h1", "a", T0.Add(time.Hour))}})
	})
	for _, c := range []struct {
		name string
		w    store.Writes
	}{
		{"grant", store.Writes{GrantUpdates: []store.GrantUpdate{{ID: "g1", Remaining: 5}, {ID: "g1", Remaining: 7}}}},
		{"hold", store.Writes{HoldUpdates: []store.HoldUpdate{{ID: "h1", Status: tollgate.HoldReleased, SettledAt: &T0},
			{ID: "h1", Status: tollgate.HoldCaptured, SettledAt: &T0}}}},
		{"account count", store.Writes{AccountPending: []store.AccountPending{{ID: "a", N: 1}, {ID: "a", N: 2}}}},
	} {
		err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &c.w) })
		if err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("Apply updating one %s twice: got %v, want it refused as updating a row twice", c.name, err)
		}
	}
	read(t, s, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(ctx, []string{"g1"})
		if err != nil {
			return err
		}
		hs, err := tx.HoldsByID(ctx, []string{"h1"})
		if err != nil {
			return err
		}
		a, err := tx.AccountByID(ctx, "a")
		if err != nil {
			return err
		}
		if gs[0].Remaining != tollgate.WholeCredits(10) || hs[0].Status != tollgate.HoldPending || a.PendingHolds != 0 {
			t.Errorf("after the refused Applies: grant %s, hold %s, %d pending; want them as written", gs[0].Remaining, hs[0].Status, a.PendingHolds)
		}
		return nil
	})
}

// testBatches: a batch id written by Apply tells BatchStatus that its
// transaction committed, with or without journal entries; an id never
// committed (rolled back, never written, purged) is never said to have
// committed: not committed, or an error when the store cannot tell (a
// PostgreSQL store tells only of transactions it ran); an id taken is a
// conflict naming the batch; BatchPurge forgets ids by age.
func testBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	withEntries := store.BatchID(T0, 1)
	without := store.BatchID(T0, 2)
	rolledBack := store.BatchID(T0, 3)
	later := store.BatchID(T0.Add(time.Hour), 4)
	e := func(txn string, amt tollgate.Credits, book tollgate.Book, acct string) tollgate.Entry {
		return tollgate.Entry{TxnID: txn, Kind: tollgate.TxnGrant, AccountID: acct, Book: book, Amount: amt, CreatedAt: T0}
	}
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Batch: withEntries, Entries: []tollgate.Entry{
			e("t1", 5, tollgate.BookAvailable, "a"), e("t1", -5, tollgate.BookIssuance, "")}})
	})
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Batch: without, Idempotency: []record.Idempotency{{Scope: "a", Key: "k", RequestHash: []byte{1}, CreatedAt: T0}}})
	})
	write(t, s, func(tx store.Tx) error { return tx.Apply(ctx, &store.Writes{Batch: later}) })
	errRollback := errors.New("roll back")
	if err := s.Write(ctx, func(tx store.Tx) error {
		if err := tx.Apply(ctx, &store.Writes{Batch: rolledBack, Entries: []tollgate.Entry{e("t2", 1, tollgate.BookAvailable, "a"), e("t2", -1, tollgate.BookIssuance, "")}}); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatalf("rolled back write: got %v, want %v", err, errRollback)
	}
	committed := func(when string, ids ...int64) {
		for _, id := range ids {
			if got, err := s.BatchStatus(ctx, id); err != nil || got != store.BatchCommitted {
				t.Errorf("%s, BatchStatus(%d): got %v, %v, want committed", when, id, got, err)
			}
		}
	}
	notCommitted := func(when string, ids ...int64) {
		for _, id := range ids {
			if got, err := s.BatchStatus(ctx, id); got == store.BatchCommitted || (err == nil && got != store.BatchNotCommitted) {
				t.Errorf("%s, BatchStatus(%d): got %v, %v, want not committed or an error", when, id, got, err)
			}
		}
	}
	committed("before purging", withEntries, without, later)
	notCommitted("before purging", rolledBack, store.BatchID(T0, 9))
	for _, id := range []int64{withEntries, without} {
		for _, entries := range [][]tollgate.Entry{nil, {e("t3", 1, tollgate.BookAvailable, "a"), e("t3", -1, tollgate.BookIssuance, "")}} {
			var conflict *store.ConflictError
			err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Writes{Batch: id, Entries: entries}) })
			if !errors.As(err, &conflict) || !conflict.Batch {
				t.Errorf("Apply with batch id %d again, %d entries: got %v, want a conflict naming the batch", id, len(entries), err)
			}
		}
	}
	write(t, s, func(tx store.Tx) error {
		_, err := tx.BatchPurge(ctx, T0.Add(time.Minute))
		return err
	})
	committed("after purging", later)
	notCommitted("after purging", withEntries, without)
}
