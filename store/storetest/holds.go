package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
)

func testHoldsPendingAndDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	settled := hold("h_settled", "a", T0)
	settled.Status = tollgate.HoldReleased
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Holds: []tollgate.Hold{
			hold("h_soon", "a", T0), hold("h_late", "a", T0.Add(time.Hour)), settled, hold("h_b", "b", T0),
		}})
	})
	read(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			dueBy time.Time
			want  []string
		}{
			{time.Time{}, []string{"h_late", "h_soon"}},
			{T0, []string{"h_soon"}},
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
		due, err := tx.HoldsDue(ctx, T0, 0)
		if err != nil {
			return err
		}
		if len(due) != 2 {
			t.Errorf("HoldsDue: got %v, want a and b", due)
		}
		return nil
	})
}

// testHoldLists: HoldsByQuote finds holds by quote; HoldsPendingCount counts
// the pending holds
// by key; HoldList filters by account, status (a pending hold past its
// expiry counting as expired when Now is set), product and creation time,
// and pages by id.
func testHoldLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1 := hold("h1", "a", T0.Add(time.Hour))
	h1.QuoteID, h1.KeyID = "q1", "k1"
	h2 := hold("h2", "a", T0.Add(time.Minute))
	h2.Product, h2.Amount, h2.KeyID, h2.CreatedAt = tollgate.ProductAssistant, tollgate.WholeCredits(2), "k1", T0.Add(time.Second)
	h3 := hold("h3", "a", T0.Add(time.Hour))
	h3.Status, h3.QuoteID, h3.SettledAt, h3.CreatedAt = tollgate.HoldCaptured, "q3", ptr(T0), T0.Add(2*time.Second)
	h4 := hold("h4", "a", T0.Add(time.Hour))
	h4.Amount, h4.CreatedAt = tollgate.WholeCredits(4), T0.Add(3*time.Second)
	h5 := hold("h5", "b", T0.Add(time.Hour))
	h5.Status, h5.SettledAt = tollgate.HoldExpired, ptr(T0)
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Holds: []tollgate.Hold{h1, h2, h3, h4, h5}})
	})
	holdID := func(h tollgate.Hold) string { return h.ID }
	read(t, s, func(tx store.Tx) error {
		hs, err := tx.HoldsByQuote(ctx, []string{"q3", "q1", "q9"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"h1", "h3"}, ids(hs, holdID)); diff != "" {
			t.Errorf("HoldsByQuote (-want +got):\n%s", diff)
		}
		if hs, err := tx.HoldsByQuote(ctx, []string{""}); err != nil || len(hs) != 0 {
			t.Errorf("HoldsByQuote of the empty quote: got %v, %v, want none: holds without a quote have none", ids(hs, holdID), err)
		}
		counts, err := tx.HoldsPendingCount(ctx, []string{"b", "a"})
		if err != nil {
			return err
		}
		want := []store.PendingCount{{AccountID: "a", KeyID: "", N: 1}, {AccountID: "a", KeyID: "k1", N: 2}}
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("HoldsPendingCount (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			name string
			p    store.HoldListParams
			want []string
		}{
			{"all", store.HoldListParams{}, []string{"h1", "h2", "h3", "h4", "h5"}},
			{"account", store.HoldListParams{AccountID: "b"}, []string{"h5"}},
			{"pending", store.HoldListParams{AccountID: "a", Status: tollgate.HoldPending}, []string{"h1", "h2", "h4"}},
			{"pending now", store.HoldListParams{AccountID: "a", Status: tollgate.HoldPending, Now: T0.Add(time.Minute)}, []string{"h1", "h4"}},
			{"expired now", store.HoldListParams{Status: tollgate.HoldExpired, Now: T0.Add(time.Minute)}, []string{"h2", "h5"}},
			{"captured", store.HoldListParams{Status: tollgate.HoldCaptured}, []string{"h3"}},
			{"product", store.HoldListParams{Product: tollgate.ProductAssistant}, []string{"h2"}},
			{"created", store.HoldListParams{AccountID: "a", CreatedFrom: T0.Add(time.Second), CreatedTo: T0.Add(3 * time.Second)}, []string{"h2", "h3"}},
			{"page", store.HoldListParams{After: "h1", Limit: 2}, []string{"h2", "h3"}},
		} {
			hs, err := tx.HoldList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(hs, holdID)); diff != "" {
				t.Errorf("HoldList %s (-want +got):\n%s", c.name, diff)
			}
		}
		return nil
	})
}
