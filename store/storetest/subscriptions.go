package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// testOrderPaid: an order keeps its tax behavior and what its buyer paid;
// an update without Paid leaves it, one with Paid replaces it, and
// OrderSetReceipt sets the links of a paid order alone.
func testOrderPaid(t *testing.T, s store.Store) {
	ctx := t.Context()
	unpaid := order("ord_1", "a1", tollgate.OrderPending)
	unpaid.TaxBehavior = tollgate.TaxExclusive
	paid := order("ord_2", "a1", tollgate.OrderCompleted)
	paid.TaxBehavior = tollgate.TaxInclusive
	paid.Paid = &tollgate.Paid{Currency: "eur", Net: 750, Tax: 150, Gross: 900, ReceiptURL: "https://pay.example/r/2"}
	write(t, s, func(tx store.Tx) error {
		for _, o := range []tollgate.Order{unpaid, paid} {
			if err := tx.OrderInsert(ctx, o); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(when string, want ...tollgate.Order) {
		t.Helper()
		read(t, s, func(tx store.Tx) error {
			for _, w := range want {
				got, err := tx.OrderByID(ctx, w.ID)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("order %s %s (-want +got):\n%s", w.ID, when, diff)
				}
			}
			return nil
		})
	}
	check("as inserted", unpaid, paid)

	// Paid nil keeps what the order paid; Paid set replaces all of it.
	done := ptr(T0.Add(time.Minute))
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{OrderUpdates: []store.OrderUpdate{
			{ID: "ord_2", FromStatus: tollgate.OrderCompleted, Status: tollgate.OrderRefunded, RefundedCredits: tollgate.WholeCredits(100), RefundedAt: done},
			{ID: "ord_1", FromStatus: tollgate.OrderPending, Status: tollgate.OrderCompleted, CompletedAt: done, PaymentRef: "pi_1",
				Paid: &tollgate.Paid{Currency: "usd", Net: 900, Tax: 74, Gross: 974, InvoiceURL: "https://pay.example/i/1"}},
		}})
	})
	paid.Status, paid.RefundedCredits, paid.RefundedAt = tollgate.OrderRefunded, tollgate.WholeCredits(100), done
	unpaid.Status, unpaid.CompletedAt, unpaid.PaymentRef = tollgate.OrderCompleted, done, "pi_1"
	unpaid.Paid = &tollgate.Paid{Currency: "usd", Net: 900, Tax: 74, Gross: 974, InvoiceURL: "https://pay.example/i/1"}
	check("after OrderUpdate", unpaid, paid)

	// Either link may come alone: "" keeps the one stored. An order not
	// paid (or none) has no receipt to set.
	write(t, s, func(tx store.Tx) error {
		if err := tx.OrderSetReceipt(ctx, "ord_1", "https://pay.example/r/1", ""); err != nil {
			return err
		}
		if err := tx.OrderSetReceipt(ctx, "ord_2", "", "https://pay.example/i/2"); err != nil {
			return err
		}
		if err := tx.OrderInsert(ctx, order("ord_3", "a2", tollgate.OrderPending)); err != nil {
			return err
		}
		for _, id := range []string{"ord_3", "ord_9"} {
			if err := tx.OrderSetReceipt(ctx, id, "https://pay.example/r/x", "https://pay.example/i/x"); !errors.Is(err, tollgate.ErrNotFound) {
				t.Errorf("OrderSetReceipt(%s): got %v, want not found", id, err)
			}
		}
		return nil
	})
	unpaid.Paid.ReceiptURL, paid.Paid.InvoiceURL = "https://pay.example/r/1", "https://pay.example/i/2"
	check("after OrderSetReceipt", unpaid, paid, order("ord_3", "a2", tollgate.OrderPending))
}

func testPlanPrices(t *testing.T, s store.Store) {
	ctx := t.Context()
	proYear := tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalYear, Prices: []tollgate.Money{{Amount: 9000, Currency: "usd"}},
		Active: true, CreatedAt: T0}
	proMonth := tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalMonth, StripePrice: "price_pro_m", Active: true,
		Prices: []tollgate.Money{{Amount: 900, Currency: "usd"}, {Amount: 850, Currency: "eur"}, {Amount: 145_000, Currency: "idr"}}, CreatedAt: T0.Add(time.Microsecond)}
	basic := tollgate.PlanPrice{Plan: "basic", Interval: tollgate.IntervalMonth, Prices: []tollgate.Money{{Amount: 300, Currency: "eur"}},
		CreatedAt: T0.Add(time.Second)}
	write(t, s, func(tx store.Tx) error {
		for _, p := range []tollgate.PlanPrice{proYear, proMonth, basic} {
			if err := tx.PlanPricePut(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	// A put of a known plan and interval replaces all but CreatedAt.
	again := proYear
	again.Prices, again.StripePrice, again.Active = []tollgate.Money{{Amount: 8000, Currency: "gbp"}}, "price_pro_y", false
	again.CreatedAt = T0.Add(time.Hour)
	write(t, s, func(tx store.Tx) error { return tx.PlanPricePut(ctx, again) })
	again.CreatedAt = proYear.CreatedAt

	read(t, s, func(tx store.Tx) error {
		got, err := tx.PlanPrices(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.PlanPrice{basic, proMonth, again}, got); diff != "" {
			t.Errorf("PlanPrices (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testSubscriptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	sub := func(id, acct string) tollgate.Subscription {
		return tollgate.Subscription{ID: id, AccountID: acct, Provider: "stripe", Customer: "cus_" + acct, Plan: "pro",
			Interval: tollgate.IntervalMonth, Currency: "usd", Status: tollgate.SubscriptionActive,
			PeriodStart: T0, PeriodEnd: T0.AddDate(0, 1, 0), FallbackPlan: "free", Entitled: true, CreatedAt: T0, UpdatedAt: T0, StateAt: T0}
	}
	// Every field set, times to the microsecond.
	full := sub("sub_1", "a1")
	full.Interval, full.Currency, full.Status, full.CancelAtPeriodEnd = tollgate.IntervalYear, "eur", tollgate.SubscriptionPastDue, true
	full.PeriodStart, full.PeriodEnd = T0.Add(time.Microsecond), T0.AddDate(1, 0, 0).Add(2*time.Microsecond)
	full.PaidThrough, full.GraceUntil = ptr(T0.Add(3*time.Microsecond)), ptr(T0.Add(72*time.Hour+4*time.Microsecond))
	full.EndedAt, full.Entitled = ptr(T0.Add(96*time.Hour+5*time.Microsecond)), false
	full.CreatedAt, full.UpdatedAt, full.StateAt = T0.Add(6*time.Microsecond), T0.Add(7*time.Microsecond), T0.Add(8*time.Microsecond)
	bare := sub("sub_2", "a2")
	open3, ended4, open5 := sub("sub_3", "a1"), sub("sub_4", "a1"), sub("sub_5", "a1")
	ended4.Status, ended4.EndedAt = tollgate.SubscriptionCanceled, ptr(T0.Add(time.Hour))
	write(t, s, func(tx store.Tx) error {
		for _, x := range []tollgate.Subscription{open5, full, bare, ended4, open3} {
			if err := tx.SubscriptionPut(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		get := func(id string) (tollgate.Subscription, error) { return tx.SubscriptionByID(ctx, id) }
		if err := byID(t, "SubscriptionByID", get, "sub_1", full, "sub_9"); err != nil {
			return err
		}
		return byID(t, "SubscriptionByID", get, "sub_2", bare, "sub_9")
	})

	// A put of a known id replaces every field but CreatedAt: times set
	// become unset, and the other way round.
	renewed := full
	renewed.AccountID, renewed.Customer, renewed.Plan, renewed.Interval, renewed.Currency = "a1", "cus_other", "max", tollgate.IntervalMonth, "usd"
	renewed.Status, renewed.CancelAtPeriodEnd, renewed.Entitled, renewed.FallbackPlan = tollgate.SubscriptionActive, false, true, "basic"
	renewed.PeriodStart, renewed.PeriodEnd = T0.AddDate(1, 0, 0), T0.AddDate(1, 1, 0)
	renewed.PaidThrough, renewed.GraceUntil, renewed.EndedAt = ptr(T0.AddDate(1, 1, 0)), nil, nil
	renewed.CreatedAt, renewed.UpdatedAt, renewed.StateAt = T0.Add(time.Hour), T0.AddDate(1, 0, 0), T0.AddDate(1, 0, 1)
	graced := bare
	graced.Status, graced.GraceUntil = tollgate.SubscriptionPastDue, ptr(T0.Add(48*time.Hour))
	write(t, s, func(tx store.Tx) error {
		if err := tx.SubscriptionPut(ctx, renewed); err != nil {
			return err
		}
		return tx.SubscriptionPut(ctx, graced)
	})
	renewed.CreatedAt = full.CreatedAt
	read(t, s, func(tx store.Tx) error {
		for _, want := range []tollgate.Subscription{renewed, graced} {
			got, err := tx.SubscriptionByID(ctx, want.ID)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SubscriptionByID %s after a second put (-want +got):\n%s", want.ID, diff)
			}
		}
		return nil
	})

	for _, c := range []struct {
		name string
		p    record.SubscriptionListParams
		want []string
	}{
		{"all", record.SubscriptionListParams{}, []string{"sub_1", "sub_2", "sub_3", "sub_4", "sub_5"}},
		{"account", record.SubscriptionListParams{AccountID: "a1"}, []string{"sub_1", "sub_3", "sub_4", "sub_5"}},
		{"open", record.SubscriptionListParams{Open: true}, []string{"sub_1", "sub_2", "sub_3", "sub_5"}},
		{"account open", record.SubscriptionListParams{AccountID: "a1", Open: true}, []string{"sub_1", "sub_3", "sub_5"}},
		{"limit", record.SubscriptionListParams{Limit: 2}, []string{"sub_1", "sub_2"}},
		{"next page", record.SubscriptionListParams{After: "sub_2", Limit: 2}, []string{"sub_3", "sub_4"}},
		{"open next page", record.SubscriptionListParams{Open: true, After: "sub_3", Limit: 2}, []string{"sub_5"}},
		{"account after", record.SubscriptionListParams{AccountID: "a1", After: "sub_3"}, []string{"sub_4", "sub_5"}},
		{"none", record.SubscriptionListParams{AccountID: "a9"}, []string{}},
	} {
		read(t, s, func(tx store.Tx) error {
			got, err := tx.SubscriptionList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(got, func(x tollgate.Subscription) string { return x.ID })); diff != "" {
				t.Errorf("SubscriptionList %s (-want +got):\n%s", c.name, diff)
			}
			return nil
		})
	}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.SubscriptionList(ctx, record.SubscriptionListParams{AccountID: "a2"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Subscription{graced}, got); diff != "" {
			t.Errorf("SubscriptionList a2 (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testInvoices(t *testing.T, s store.Store) {
	ctx := t.Context()
	inv := func(id, sub string, at time.Time) tollgate.Invoice {
		paid := tollgate.Paid{Currency: "usd", Net: 900, Tax: 81, Gross: 981, ReceiptURL: "https://pay.example/r/" + id, InvoiceURL: "https://pay.example/i/" + id}
		return tollgate.Invoice{ID: id, SubscriptionID: sub, AccountID: "a1", Reason: "subscription_cycle", Status: "paid", Paid: paid,
			PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0), PDFURL: "https://pay.example/p/" + id, CreatedAt: at}
	}
	first := inv("in_c", "sub_1", T0)
	first.Reason = "subscription_create"
	// Two at the same time list by id.
	second, third := inv("in_b", "sub_1", T0.AddDate(0, 1, 0).Add(time.Microsecond)), inv("in_a", "sub_1", T0.AddDate(0, 1, 0).Add(time.Microsecond))
	other := inv("in_d", "sub_2", T0)
	write(t, s, func(tx store.Tx) error {
		for _, x := range []tollgate.Invoice{second, other, first, third} {
			if err := tx.InvoicePut(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	// A failed attempt later paid: the put replaces all but CreatedAt.
	paid := second
	paid.SubscriptionID, paid.AccountID, paid.Reason, paid.Status = "sub_1", "a1", "subscription_update", "void"
	paid.Paid = tollgate.Paid{Currency: "eur", Net: 1000, Tax: 200, Gross: 1200}
	paid.PeriodStart, paid.PeriodEnd, paid.PDFURL = T0.Add(time.Hour), T0.Add(2*time.Hour), ""
	paid.CreatedAt = T0.AddDate(2, 0, 0)
	write(t, s, func(tx store.Tx) error { return tx.InvoicePut(ctx, paid) })
	paid.CreatedAt = second.CreatedAt

	read(t, s, func(tx store.Tx) error {
		for sub, want := range map[string][]tollgate.Invoice{"sub_1": {first, third, paid}, "sub_2": {other}, "sub_9": nil} {
			got, err := tx.InvoiceList(ctx, sub)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("InvoiceList(%s) (-want +got):\n%s", sub, diff)
			}
		}
		return nil
	})
}
