package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
)

func testJournalTotals(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := func(txn, acct string, book tollgate.Book, grant string, amt tollgate.Credits) tollgate.Entry {
		return tollgate.Entry{TxnID: txn, Kind: tollgate.TxnGrant, AccountID: acct, Book: book, GrantID: grant, Amount: amt, CreatedAt: T0}
	}
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Entries: []tollgate.Entry{
			e("t1", "a", tollgate.BookAvailable, "g1", 10),
			e("t1", "", tollgate.BookIssuance, "", -10),
			e("t2", "a", tollgate.BookAvailable, "g1", 5),
			e("t2", "", tollgate.BookIssuance, "", -4),
		}})
	})
	read(t, s, func(tx store.Tx) error {
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

// testEntryFilters: EntryList returns one account's entries one by one, in
// entry id order, filtered by kind, book, grant, hold, transaction and
// creation time, and pages by entry id, also through the middle of one
// transaction's entries (SQLite packs a transaction's entries of one
// account in one row; the contract is the same).
func testEntryFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	var es []tollgate.Entry
	// A transaction of 40 entries for a (20 grants, each moved out and
	// back), one for b, and a hold's two entries later.
	for i := range 20 {
		g := fmt.Sprintf("g%02d", i)
		es = append(es,
			tollgate.Entry{TxnID: "t1", Kind: tollgate.TxnGrant, AccountID: "a", Book: tollgate.BookAvailable, GrantID: g, Amount: 1, CreatedAt: T0},
			tollgate.Entry{TxnID: "t1", Kind: tollgate.TxnGrant, AccountID: "a", Book: tollgate.BookAvailable, GrantID: g, Amount: -1, CreatedAt: T0})
	}
	es = append(es, tollgate.Entry{TxnID: "t2", Kind: tollgate.TxnGrant, AccountID: "b", Book: tollgate.BookAvailable, GrantID: "gb", Amount: 3, CreatedAt: T0},
		tollgate.Entry{TxnID: "t2", Kind: tollgate.TxnGrant, Book: tollgate.BookIssuance, Amount: -3, CreatedAt: T0},
		tollgate.Entry{TxnID: "t3", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookAvailable, GrantID: "g00", HoldID: "h1", Amount: -1, CreatedAt: T0.Add(time.Minute)},
		tollgate.Entry{TxnID: "t3", Kind: tollgate.TxnHold, AccountID: "a", Book: tollgate.BookHeld, GrantID: "g00", HoldID: "h1", Amount: 1, CreatedAt: T0.Add(time.Minute)})
	write(t, s, func(tx store.Tx) error { return tx.Apply(ctx, &store.Writes{Entries: es}) })
	read(t, s, func(tx store.Tx) error {
		all, err := tx.EntryList(ctx, store.EntryListParams{AccountID: "a"})
		if err != nil {
			return err
		}
		if len(all) != 42 {
			t.Fatalf("EntryList a: got %d entries, want 42", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("EntryList a: entry %d has id %d after %d; want ids rising", i, all[i].ID, all[i-1].ID)
			}
		}
		// Paging 7 at a time, through the middle of t1, gives the same.
		var paged []tollgate.Entry
		for after := int64(0); ; {
			page, err := tx.EntryList(ctx, store.EntryListParams{AccountID: "a", After: after, Limit: 7})
			if err != nil {
				return err
			}
			paged = append(paged, page...)
			if len(page) < 7 {
				break
			}
			after = page[len(page)-1].ID
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("EntryList paged 7 at a time (-whole +paged):\n%s", diff)
		}
		for _, c := range []struct {
			name string
			p    store.EntryListParams
			want int
		}{
			{"kind", store.EntryListParams{AccountID: "a", Kind: tollgate.TxnHold}, 2},
			{"book", store.EntryListParams{AccountID: "a", Book: tollgate.BookHeld}, 1},
			{"grant", store.EntryListParams{AccountID: "a", GrantID: "g00"}, 4},
			{"hold", store.EntryListParams{AccountID: "a", HoldID: "h1"}, 2},
			{"txn", store.EntryListParams{AccountID: "a", TxnID: "t1"}, 40},
			{"created", store.EntryListParams{AccountID: "a", CreatedFrom: T0.Add(time.Second)}, 2},
			{"created before", store.EntryListParams{AccountID: "a", CreatedTo: T0.Add(time.Minute)}, 40},
			{"other account", store.EntryListParams{AccountID: "b"}, 1},
			{"grant page", store.EntryListParams{AccountID: "a", GrantID: "g00", Limit: 3}, 3},
		} {
			got, err := tx.EntryList(ctx, c.p)
			if err != nil {
				return err
			}
			if len(got) != c.want {
				t.Errorf("EntryList %s: got %d entries, want %d", c.name, len(got), c.want)
			}
			for _, e := range got {
				if !c.p.Match(&e) || e.AccountID != c.p.AccountID {
					t.Errorf("EntryList %s: got %+v, which the filter does not match", c.name, e)
				}
			}
		}
		return nil
	})
}
