package payment

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"

	"tollgate"
	"tollgate/ledger"
	"tollgate/payment/stripetest"
	"tollgate/store/fault"
	"tollgate/store/record"
)

// subFixture is a fixture selling plans through the stateful Stripe fake,
// with Stripe Tax on (prices in eur and idr include tax) and a three-day
// grace period, and a webhook endpoint taking every event so that the
// events sent can be counted.
func subFixture(t *testing.T, f *fixture) *stripetest.Fake {
	t.Helper()
	fake := stripetest.New(f.clock)
	st := NewStripeAPI(fake, whsec, "https://tollgate.test")
	st.Tax = TaxPolicy{Automatic: true, Inclusive: []string{"eur", "idr"}, Invoices: true}
	st.Grace = 72 * time.Hour
	f.svc.Provider = st
	if _, err := f.svc.PutPlanPrice(f.ctx, tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalMonth, Active: true,
		Prices: []tollgate.Money{{Amount: 2000, Currency: "usd"}, {Amount: 1900, Currency: "eur"}, {Amount: 30000000, Currency: "idr"}}}, nil); err != nil {
		t.Fatal(err)
	}
	f.takeEvents(t)
	return fake
}

// takeEvents registers a webhook endpoint taking every event, so that
// sent can count them.
func (f *fixture) takeEvents(t *testing.T) {
	t.Helper()
	err := f.l.WriteRecords(f.ctx, func(tx record.Tx) error {
		return tx.EndpointInsert(f.ctx, tollgate.Endpoint{ID: "we_all", URL: "https://hooks.example.com/x", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: f.clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sent counts the events of type typ sent so far.
func (f *fixture) sent(t *testing.T, typ string) int {
	t.Helper()
	var ds []tollgate.Delivery
	err := f.l.ReadRecords(f.ctx, func(tx record.Tx) error {
		var err error
		ds, err = tx.DeliveriesDue(f.ctx, f.clock.Now().Add(1000*24*time.Hour), 10000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.Event.Type == typ {
			n++
		}
	}
	return n
}

func (f *fixture) account(t *testing.T) tollgate.Account {
	t.Helper()
	a, err := f.l.Account(f.ctx, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// videoAllowance is the buyer's daily video allowance in force now.
func (f *fixture) videoAllowance(t *testing.T) tollgate.Credits {
	t.Helper()
	b, err := f.l.Balance(f.ctx, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.DailyAllowances {
		if d.Product == tollgate.ProductVideo {
			return d.Limit
		}
	}
	return 0
}

func (f *fixture) subscription(t *testing.T, id string) (tollgate.Subscription, []tollgate.Invoice) {
	t.Helper()
	sub, invs, err := f.svc.Subscription(f.ctx, id, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	return sub, invs
}

// subscribe starts a checkout of pro for the buyer and pays it; it
// returns the subscription's id and the events Stripe sent.
func subscribe(t *testing.T, f *fixture, fake *stripetest.Fake, currency string) (string, []stripetest.Event) {
	t.Helper()
	st, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro", Currency: currency}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := fake.Pay(t, st.SessionID)
	return fake.SubscriptionOf(st.SessionID), evs
}

var (
	free = tollgate.WholeCredits(30)
	pro  = tollgate.WholeCredits(100)
)

// TestSubscriptionLifecycle: a buyer subscribes to Pro and has its
// allowance at once, whatever order Stripe's events come in and however
// often; a renewal records its invoice with tax; a cancellation keeps Pro
// to the period's end, then the account goes back to free from the next
// local day. Every event is applied once.
func TestSubscriptionLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		if got := f.videoAllowance(t); got != free {
			t.Fatalf("before subscribing the allowance is %s, want %s", got, free)
		}
		id, evs := subscribe(t, f, fake, "")
		// Out of order and twice: the invoice first, the session last.
		slices.Reverse(evs)
		deliver(t, f.svc, evs...)
		deliver(t, f.svc, evs...)
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("after paying the plan is %s, want pro", a.Plan)
		}
		if got := f.videoAllowance(t); got != pro {
			t.Fatalf("an upgrade applies at once: allowance %s, want %s", got, pro)
		}
		sub, invs := f.subscription(t, id)
		if !sub.Entitled || sub.Status != tollgate.SubscriptionActive || sub.FallbackPlan != "free" || sub.Currency != "usd" {
			t.Fatalf("subscription %+v", sub)
		}
		if len(invs) != 1 || invs[0].Reason != "subscription_create" || invs[0].Status != "paid" {
			t.Fatalf("invoices %+v", invs)
		}
		// US sales tax is added to the price: 7.25% of 20.00 is 1.45.
		if p := invs[0].Paid; p.Net != 2000 || p.Tax != 145 || p.Gross != 2145 || p.ReceiptURL == "" || p.InvoiceURL == "" {
			t.Fatalf("first invoice paid %+v, want net 2000 + tax 145 = 2145 with a receipt and an invoice page", p)
		}
		if sub.PaidThrough == nil || !sub.PaidThrough.Equal(sub.PeriodEnd) {
			t.Fatalf("paid through %v, want the period's end %v", sub.PaidThrough, sub.PeriodEnd)
		}
		if n := f.sent(t, tollgate.EventSubscriptionStarted); n != 1 {
			t.Fatalf("subscription.started sent %d times, want once", n)
		}

		// A month later it renews, and the renewal is replayed.
		f.clock.Set(sub.PeriodEnd.Add(time.Minute))
		evs = fake.Renew(t, id, true)
		deliver(t, f.svc, evs...)
		deliver(t, f.svc, evs[0])
		sub2, invs := f.subscription(t, id)
		if len(invs) != 2 || invs[1].Reason != "subscription_cycle" || !sub2.PaidThrough.Equal(sub2.PeriodEnd) || !sub2.PeriodEnd.After(sub.PeriodEnd) {
			t.Fatalf("after the renewal: %+v, invoices %+v", sub2, invs)
		}
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("after the renewal the plan is %s", a.Plan)
		}

		// The buyer cancels: Pro stays to the period's end.
		evs = fake.Cancel(id)
		deliver(t, f.svc, evs...)
		deliver(t, f.svc, evs...)
		if a := f.account(t); a.Plan != "pro" || f.sent(t, tollgate.EventSubscriptionCancelScheduled) != 1 {
			t.Fatalf("after cancelling: plan %s, cancel_scheduled sent %d times; want pro, once", a.Plan, f.sent(t, tollgate.EventSubscriptionCancelScheduled))
		}
		// The period ends mid-day (UTC, the buyer's zone): the account is
		// free from the next day, and keeps Pro's allowance today.
		f.clock.Set(sub2.PeriodEnd.Add(2 * time.Hour))
		evs = fake.End(id)
		deliver(t, f.svc, evs...)
		deliver(t, f.svc, evs...)
		a := f.account(t)
		if a.Plan != "free" || a.PlanBefore != "pro" || a.PlanFrom == nil {
			t.Fatalf("after the end: plan %s (before %s from %v), want free after pro", a.Plan, a.PlanBefore, a.PlanFrom)
		}
		if got := f.videoAllowance(t); got != pro {
			t.Fatalf("a downgrade applies from the next local day: allowance today %s, want %s", got, pro)
		}
		f.clock.Set(*a.PlanFrom)
		if got := f.videoAllowance(t); got != free {
			t.Fatalf("the next day the allowance is %s, want %s", got, free)
		}
		if n := f.sent(t, tollgate.EventSubscriptionEnded); n != 1 {
			t.Fatalf("subscription.ended sent %d times, want once", n)
		}
		// A late, stale event of the subscription (its renewal's update)
		// cannot bring it back: Stripe says it is cancelled.
		deliver(t, f.svc, fake.Event("customer.subscription.updated", map[string]any{"id": id, "object": "subscription", "status": "active"}))
		if a := f.account(t); a.Plan != "free" {
			t.Fatalf("a stale event put the account back on %s", a.Plan)
		}
		sub3, _ := f.subscription(t, id)
		if sub3.Entitled || sub3.EndedAt == nil || sub3.Status != tollgate.SubscriptionCanceled {
			t.Fatalf("ended subscription %+v", sub3)
		}
		// It may subscribe again, as the same Stripe customer.
		if _, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, nil); err != nil {
			t.Fatalf("subscribing again: %v", err)
		}
		var again int
		for _, p := range fake.Sessions() {
			if p.Customer != nil && *p.Customer == sub.Customer {
				again++
			}
		}
		if again != 1 {
			t.Fatalf("the new checkout names the buyer's Stripe customer %d times, want once", again)
		}
	})
}

// TestSubscriptionFailedRenewal: an unpaid renewal keeps the plan through
// the grace period, announced with the day it ends; paid within it,
// nothing changes; unpaid past it, the sweep moves the account back, even
// when Stripe cannot be reached then.
func TestSubscriptionFailedRenewal(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		id, evs := subscribe(t, f, fake, "")
		deliver(t, f.svc, evs...)
		sub, _ := f.subscription(t, id)

		f.clock.Set(sub.PeriodEnd.Add(time.Minute))
		evs = fake.Renew(t, id, false)
		deliver(t, f.svc, evs...)
		wantGrace := f.clock.Now().Add(72 * time.Hour) // from when it is first seen past due
		f.clock.Advance(time.Hour)
		deliver(t, f.svc, evs...)
		sub, _ = f.subscription(t, id)
		if sub.Status != tollgate.SubscriptionPastDue || !sub.Entitled || sub.GraceUntil == nil || !sub.GraceUntil.Equal(wantGrace) {
			t.Fatalf("past due: %+v, want entitled until %s", sub, wantGrace)
		}
		if a := f.account(t); a.Plan != "pro" || f.sent(t, tollgate.EventSubscriptionPaymentFailed) != 1 {
			t.Fatalf("plan %s, payment_failed sent %d times; want pro, once", a.Plan, f.sent(t, tollgate.EventSubscriptionPaymentFailed))
		}
		// Within the grace period the sweep changes nothing.
		f.clock.Set(wantGrace.Add(-time.Hour))
		if _, changed, err := f.svc.SweepSubscriptions(f.ctx); err != nil || changed != 0 {
			t.Fatalf("sweep within the grace period: %d changed, %v", changed, err)
		}
		// Paid with a new card: back to active, the plan never left.
		deliver(t, f.svc, fake.PayLatest(t, id)...)
		sub, invs := f.subscription(t, id)
		if sub.Status != tollgate.SubscriptionActive || !sub.PaidThrough.Equal(sub.PeriodEnd) || invs[len(invs)-1].Status != "paid" {
			t.Fatalf("after paying: %+v %+v", sub, invs)
		}
		if f.sent(t, tollgate.EventSubscriptionEnded) != 0 {
			t.Fatal("subscription.ended sent for a renewal paid in time")
		}

		// The next renewal fails and stays unpaid past the grace period;
		// Stripe's own retries have not ended it yet.
		f.clock.Set(sub.PeriodEnd.Add(time.Minute))
		deliver(t, f.svc, fake.Renew(t, id, false)...)
		sub, _ = f.subscription(t, id)
		f.clock.Set(sub.GraceUntil.Add(time.Minute))
		fake.SetDown(true) // and Stripe cannot be reached
		looked, changed, err := f.svc.SweepSubscriptions(f.ctx)
		if err != nil || looked != 1 || changed != 1 {
			t.Fatalf("sweep past the grace period: looked %d, changed %d, %v; want 1, 1", looked, changed, err)
		}
		if a := f.account(t); a.Plan != "free" || f.sent(t, tollgate.EventSubscriptionEnded) != 1 {
			t.Fatalf("past the grace period: plan %s, ended sent %d times", a.Plan, f.sent(t, tollgate.EventSubscriptionEnded))
		}
		if _, changed, _ := f.svc.SweepSubscriptions(f.ctx); changed != 0 {
			t.Fatal("a second sweep changed the plan again")
		}
		// Paid late after all: the account is on Pro again.
		fake.SetDown(false)
		deliver(t, f.svc, fake.PayLatest(t, id)...)
		if a := f.account(t); a.Plan != "pro" || f.sent(t, tollgate.EventSubscriptionStarted) != 2 {
			t.Fatalf("paid late: plan %s, started sent %d times; want pro, twice", a.Plan, f.sent(t, tollgate.EventSubscriptionStarted))
		}
	})
}

// TestSubscriptionProration: switching to a dearer plan in the portal
// applies at once with its prorated invoice; a French buyer pays in euros
// with VAT included.
func TestSubscriptionProration(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		if _, err := f.l.AddPlanVersion(f.ctx, ledger.PlanVersionParams{Plan: "max",
			Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(300)}}); err != nil {
			t.Fatal(err)
		}
		fake.AddPrice("price_max_month", stripetest.Price{Interval: "month", Plan: "max", Amounts: map[string]int64{"eur": 4900, "usd": 5000}})
		if _, err := f.svc.PutPlanPrice(f.ctx, tollgate.PlanPrice{Plan: "max", Interval: tollgate.IntervalMonth, Active: true, StripePrice: "price_max_month",
			Prices: []tollgate.Money{{Amount: 5000, Currency: "usd"}, {Amount: 4900, Currency: "eur"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.UpdateAccount(f.ctx, "buyer", ledger.AccountChanges{Currency: ptr("eur")}); err != nil {
			t.Fatal(err)
		}
		id, evs := subscribe(t, f, fake, "")
		deliver(t, f.svc, evs...)
		sub, invs := f.subscription(t, id)
		// 19.00 EUR with 20% VAT included: 3.17 of it is tax.
		if sub.Currency != "eur" || invs[0].Paid != (tollgate.Paid{Currency: "eur", Net: 1583, Tax: 317, Gross: 1900,
			ReceiptURL: invs[0].Paid.ReceiptURL, InvoiceURL: invs[0].Paid.InvoiceURL}) {
			t.Fatalf("a French buyer's first invoice: %+v in %s", invs[0].Paid, sub.Currency)
		}
		if u, err := f.svc.Portal(f.ctx, "buyer", "https://app.example.com/"); err != nil || !strings.Contains(u, sub.Customer) {
			t.Fatalf("portal: %q, %v", u, err)
		}
		// Ten days in, the buyer moves to max in the portal.
		f.clock.Set(sub.PeriodStart.Add(10 * 24 * time.Hour))
		evs = fake.ChangePrice(t, id, "price_max_month")
		slices.Reverse(evs)
		deliver(t, f.svc, evs...)
		deliver(t, f.svc, evs...)
		if a := f.account(t); a.Plan != "max" {
			t.Fatalf("after the switch the plan is %s, want max", a.Plan)
		}
		if got := f.videoAllowance(t); got != tollgate.WholeCredits(300) {
			t.Fatalf("an upgrade applies at once: %s", got)
		}
		sub, invs = f.subscription(t, id)
		last := invs[len(invs)-1]
		if sub.Plan != "max" || last.Reason != "subscription_update" || last.Paid.Gross <= 0 || last.Paid.Net+last.Paid.Tax != last.Paid.Gross {
			t.Fatalf("after the switch: %+v, proration %+v", sub, last)
		}
		if n := f.sent(t, tollgate.EventSubscriptionPlanChanged); n != 1 {
			t.Fatalf("plan_changed sent %d times, want once", n)
		}
		// Cancelled through the API: Stripe is asked, its answer applied
		// at once, twice is once; another account's is not found.
		if _, err := f.svc.CancelSubscription(f.ctx, id, "someone-else"); tollgate.ErrorCode(err) != tollgate.CodeNotFound {
			t.Fatalf("another account cancelling: %v", err)
		}
		for range 2 {
			got, err := f.svc.CancelSubscription(f.ctx, id, "buyer")
			if err != nil || !got.CancelAtPeriodEnd || !got.Entitled {
				t.Fatalf("cancel: %+v, %v", got, err)
			}
		}
		if a := f.account(t); a.Plan != "max" || f.sent(t, tollgate.EventSubscriptionCancelScheduled) != 1 {
			t.Fatalf("after cancelling: plan %s, cancel_scheduled sent %d times", a.Plan, f.sent(t, tollgate.EventSubscriptionCancelScheduled))
		}
	})
}

// TestSubscriptionMismatch: a subscription that does not pay a plan's
// price (another amount naming the account), or names no account, changes
// nothing and is recorded as unmatched.
func TestSubscriptionMismatch(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		id, evs := subscribe(t, f, fake, "")
		fake.Update(id, func(s *stripe.Subscription) { s.Items.Data[0].Price.UnitAmount = 1 }) // not Pro's 20.00
		did := deliver(t, f.svc, evs...)
		if a := f.account(t); a.Plan != "free" {
			t.Fatalf("a subscription paying 0.01 put the account on %s", a.Plan)
		}
		if !strings.Contains(did[1], "UNMATCHED") || !strings.Contains(did[1], "20.00 USD") {
			t.Fatalf("outcome %q, want UNMATCHED naming the plan's price", did[1])
		}
		fake.Update(id, func(s *stripe.Subscription) { s.Items.Data[0].Price.UnitAmount, s.Metadata = 2000, nil })
		did = deliver(t, f.svc, evs[1])
		if a := f.account(t); a.Plan != "free" || !strings.Contains(did[0], "names no account") {
			t.Fatalf("a subscription naming no account: plan %s, outcome %q", a.Plan, did[0])
		}
		var pes []tollgate.PaymentEvent
		err := f.l.ReadRecords(f.ctx, func(tx record.Tx) error {
			var err error
			pes, err = tx.PaymentEventList(f.ctx, record.PaymentEventListParams{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pes {
			if e.Type == "customer.subscription.created" && e.Matched {
				t.Fatalf("unmatched subscription event recorded as matched: %+v", e)
			}
		}
	})
}

// TestSubscribeRefusals: clear errors that change nothing.
func TestSubscribeRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		for _, c := range []struct {
			p    SubscribeParams
			code tollgate.Code
		}{
			{SubscribeParams{AccountID: "buyer", Plan: "gold"}, tollgate.CodeInvalidField},
			{SubscribeParams{AccountID: "buyer", Plan: "pro", Interval: "year"}, tollgate.CodeInvalidField},
			{SubscribeParams{AccountID: "buyer", Plan: "pro", Currency: "jpy"}, tollgate.CodeInvalidField},
			{SubscribeParams{AccountID: "nobody", Plan: "pro"}, tollgate.CodeNotFound},
		} {
			if _, err := f.svc.Subscribe(f.ctx, c.p, nil); tollgate.ErrorCode(err) != c.code {
				t.Errorf("%+v: %v, want %s", c.p, err, c.code)
			}
		}
		id, evs := subscribe(t, f, fake, "idr")
		deliver(t, f.svc, evs...)
		if _, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, nil); tollgate.ErrorCode(err) != tollgate.CodeConflict ||
			!strings.Contains(err.Error(), "portal") {
			t.Fatalf("subscribing twice: %v, want conflict pointing at the portal", err)
		}
		// Rp 300,000 with PPN (11%) included: Rp 29,729.73 of it is tax.
		sub, invs := f.subscription(t, id)
		if sub.Currency != "idr" || invs[0].Paid.Gross != 30000000 || invs[0].Paid.Tax != 2972973 {
			t.Fatalf("an Indonesian buyer's invoice: %+v", invs[0].Paid)
		}
		// Without Stripe (and not in demo mode), subscriptions are not
		// sold, and say why.
		f.svc.Provider = nil
		if _, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, nil); tollgate.ErrorCode(err) != tollgate.CodeForbidden {
			t.Fatalf("without Stripe: %v", err)
		}
		for _, p := range []tollgate.PlanPrice{
			{Plan: "pro", Interval: "week", Prices: []tollgate.Money{{Amount: 1, Currency: "usd"}}},
			{Plan: "pro", Interval: "month"},
			{Plan: "pro", Interval: "month", Prices: []tollgate.Money{{Amount: 1, Currency: "usd"}, {Amount: 2, Currency: "usd"}}},
			{Plan: "pro", Interval: "month", Prices: []tollgate.Money{{Amount: 0, Currency: "usd"}}},
			{Plan: "pro", Interval: "month", Prices: []tollgate.Money{{Amount: 1, Currency: "USD"}}},
			{Plan: "pro", Interval: "month", Prices: []tollgate.Money{{Amount: 1, Currency: "usd"}}, StripePrice: "prod_x"},
		} {
			if _, err := f.svc.PutPlanPrice(f.ctx, p, nil); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
				t.Errorf("%+v: %v, want invalid_field", p, err)
			}
		}
		if _, err := f.svc.PutPlanPrice(f.ctx, tollgate.PlanPrice{Plan: "gold", Interval: "month", Prices: []tollgate.Money{{Amount: 1, Currency: "usd"}}}, nil); tollgate.ErrorCode(err) != tollgate.CodeNotFound {
			t.Errorf("a price of an unknown plan: %v", err)
		}
		ps, _ := f.svc.PlanPrices(f.ctx)
		if len(ps) != 1 || ps[0].Prices[0].Amount != 2000 {
			t.Fatalf("refused prices changed the stored ones: %+v", ps)
		}
	})
}

// TestTaxedPackCheckout: a pack bought with Stripe Tax records net, tax
// and gross as Stripe computed them, the tax behavior of its currency,
// and the receipt and invoice; payment matching compares the subtotal
// before tax.
func TestTaxedPackCheckout(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		if _, err := f.svc.PutPack(f.ctx, tollgate.Pack{ID: "pack_10", Credits: tollgate.WholeCredits(10), Price: tollgate.Money{Amount: 400, Currency: "usd"},
			Prices: []tollgate.Money{{Amount: 380, Currency: "eur"}, {Amount: 6500000, Currency: "idr"}}, ValidForDays: 365, Active: true}, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			currency string
			behavior tollgate.TaxBehavior
			want     tollgate.Paid
		}{
			{"usd", tollgate.TaxExclusive, tollgate.Paid{Currency: "usd", Net: 400, Tax: 29, Gross: 429}},
			{"eur", tollgate.TaxInclusive, tollgate.Paid{Currency: "eur", Net: 317, Tax: 63, Gross: 380}},
			{"idr", tollgate.TaxInclusive, tollgate.Paid{Currency: "idr", Net: 5855856, Tax: 644144, Gross: 6500000}},
		} {
			o, _, err := f.svc.CheckoutIn(f.ctx, "buyer", "pack_10", c.currency, nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.TaxBehavior != c.behavior {
				t.Fatalf("%s order's tax behavior %q, want %q", c.currency, o.TaxBehavior, c.behavior)
			}
			p := fake.Params(o.ProviderRef)
			if p.AutomaticTax == nil || !*p.AutomaticTax.Enabled || *p.LineItems[0].PriceData.TaxBehavior != string(c.behavior) {
				t.Fatalf("%s checkout did not ask Stripe Tax for %s prices", c.currency, c.behavior)
			}
			evs := fake.Pay(t, o.ProviderRef)
			deliver(t, f.svc, evs...)
			deliver(t, f.svc, evs...)
			got, err := f.svc.Order(f.ctx, o.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tollgate.OrderCompleted || got.Paid == nil {
				t.Fatalf("%s order %+v", c.currency, got)
			}
			want := c.want
			want.ReceiptURL, want.InvoiceURL = got.Paid.ReceiptURL, got.Paid.InvoiceURL
			if *got.Paid != want || !strings.HasPrefix(want.ReceiptURL, "https://pay.stripe.test/receipts/") || !strings.HasPrefix(want.InvoiceURL, "https://invoice.stripe.test/") {
				t.Fatalf("%s order paid %+v, want %+v with a receipt and an invoice", c.currency, *got.Paid, c.want)
			}
		}
	})
}

// TestStripeMockSubscriptionCalls makes every call subscriptions and
// receipts make on stripe-mock, which checks them against Stripe's
// OpenAPI description: a subscription-mode Checkout Session with inline
// recurring prices and Stripe Tax, one with a Stripe Price in another
// currency, the customer portal, and the fetches with their expansions.
func TestStripeMockSubscriptionCalls(t *testing.T) {
	url := os.Getenv("TOLLGATE_TEST_STRIPE_URL")
	if url == "" {
		t.Skip("TOLLGATE_TEST_STRIPE_URL not set (stripe-mock, e.g. http://127.0.0.1:12111): skipping")
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		st := NewStripe("sk_test_123", whsec, url, "https://tollgate.test")
		st.Tax = TaxPolicy{Automatic: true, Inclusive: []string{"eur"}, Invoices: true}
		f.svc.Provider = st
		for _, p := range []tollgate.PlanPrice{
			{Plan: "pro", Interval: tollgate.IntervalMonth, Active: true, Prices: []tollgate.Money{{Amount: 2000, Currency: "usd"}, {Amount: 1900, Currency: "eur"}}},
			{Plan: "pro", Interval: tollgate.IntervalYear, Active: true, StripePrice: "price_pro_year", Prices: []tollgate.Money{{Amount: 20000, Currency: "usd"}, {Amount: 19000, Currency: "eur"}}},
		} {
			if _, err := f.svc.PutPlanPrice(f.ctx, p, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []SubscribeParams{{AccountID: "buyer", Plan: "pro"}, {AccountID: "buyer", Plan: "pro", Interval: "year", Currency: "eur"}} {
			s, err := f.svc.Subscribe(f.ctx, p, nil)
			if err != nil || !strings.HasPrefix(s.SessionID, "cs_") || s.URL == "" {
				t.Fatalf("%+v: stripe-mock refused the subscription checkout: %+v, %v", p, s, err)
			}
		}
		o, _, err := f.svc.CheckoutIn(f.ctx, "buyer", "pack_10", "", nil)
		if err != nil || o.TaxBehavior != tollgate.TaxExclusive {
			t.Fatalf("a taxed pack checkout on stripe-mock: %+v, %v", o, err)
		}
		ctx := f.ctx
		if pi, err := st.api.PaymentIntent(ctx, "pi_123"); err != nil || pi.ID == "" {
			t.Fatalf("payment intent with its charge: %v", err)
		}
		if sub, err := st.api.Subscription(ctx, "sub_123"); err != nil || sub.ID == "" {
			t.Fatalf("subscription: %v", err)
		}
		if inv, err := st.api.Invoice(ctx, "in_123"); err != nil || inv.ID == "" {
			t.Fatalf("invoice with its payments: %v", err)
		}
		if sub, err := st.api.CancelAtPeriodEnd(ctx, "sub_123"); err != nil || sub.ID == "" {
			t.Fatalf("cancel at the period's end: %v", err)
		}
		if _, err := st.api.CreatePortalSession(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String("cus_123"),
			ReturnURL: stripe.String("https://tollgate.test/")}); err != nil {
			t.Fatalf("portal session: %v", err)
		}
	})
}

// TestSubscriptionEventsUnderFaults delivers a subscription's events all
// at once, each retried as Stripe retries until it is acknowledged, while
// commits fail before the database or lose their answer after it: the
// account ends on Pro with its allowance, the start announced once, the
// invoice recorded once, and the books verify (the fixture checks).
func TestSubscriptionEventsUnderFaults(t *testing.T) {
	eachFaultyStore(t, func(t *testing.T, f *fixture, plan *fault.Plan) {
		fake := subFixture(t, f)
		id, evs := subscribe(t, f, fake, "eur")
		f.clock.Advance(time.Hour)
		plan.Rates(250, 250)
		var wg sync.WaitGroup
		var tries atomic.Int64
		for round := range 2 { // the second round replays every event
			for _, e := range evs {
				wg.Go(func() {
					for i := 0; i < 50; i++ {
						tries.Add(1)
						body, sig := stripetest.Signed(e, whsec, time.Now())
						if _, err := f.svc.HandleStripe(f.ctx, body, sig); err == nil {
							return
						}
					}
					t.Errorf("round %d: event %s %s never acknowledged in 50 tries", round, e.ID, e.Type)
				})
			}
			wg.Wait()
		}
		plan.Clear()
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("plan %s after the events, want pro", a.Plan)
		}
		if n := f.sent(t, tollgate.EventSubscriptionStarted); n != 1 {
			t.Fatalf("subscription.started sent %d times, want once", n)
		}
		sub, invs := f.subscription(t, id)
		if len(invs) != 1 || !sub.Entitled || sub.PaidThrough == nil {
			t.Fatalf("subscription %+v with %d invoices, want one", sub, len(invs))
		}
		t.Logf("%d deliveries; commits %d, answers lost %d, failed %d", tries.Load(), plan.Commits.Load(), plan.Lost.Load(), plan.Failed.Load())
	})
}

var _ StripeAPI = (*stripetest.Fake)(nil)

// deliver sends events to the service signed, as Stripe would, and
// fails the test on an error.
func deliver(t *testing.T, svc *Service, evs ...stripetest.Event) []string {
	t.Helper()
	var did []string
	for _, e := range evs {
		body, sig := stripetest.Signed(e, whsec, time.Now())
		d, err := svc.HandleStripe(context.Background(), body, sig)
		if err != nil {
			t.Fatalf("event %s %s: %v", e.ID, e.Type, err)
		}
		did = append(did, d)
	}
	return did
}

// TestTwoSubscriptionsPaid: two checkouts started before either was paid
// both paid; the account stays on the plan until the last one ends.
func TestTwoSubscriptionsPaid(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		var sessions []string
		for range 2 {
			st, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, st.SessionID)
		}
		var ids []string
		var did []string
		for _, s := range sessions {
			did = append(did, deliver(t, f.svc, fake.Pay(t, s)...)...)
			ids = append(ids, fake.SubscriptionOf(s))
		}
		if !strings.Contains(strings.Join(did, "\n"), "TWO SUBSCRIPTIONS: account buyer pays for "+ids[0]+" and "+ids[1]) {
			t.Fatalf("the second paid subscription was not flagged: %q", did)
		}
		deliver(t, f.svc, fake.End(ids[0])...)
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("one of two subscriptions ended: plan %s, want pro", a.Plan)
		}
		deliver(t, f.svc, fake.End(ids[1])...)
		if a := f.account(t); a.Plan != "free" {
			t.Fatalf("both ended: plan %s, want free", a.Plan)
		}
	})
}

// TestSubscriptionStateOrder: a state read from Stripe before the one
// recorded (two instances applying events of one subscription at once) is
// not applied over it; a plan's price changed later does not unmatch those
// who pay the old one; a subscription Stripe no longer knows is recorded
// as unmatched, not retried for days.
func TestSubscriptionStateOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		id, evs := subscribe(t, f, fake, "")
		deliver(t, f.svc, evs...)
		sub, _ := f.subscription(t, id)
		older := sub
		older.Status, older.StateAt = tollgate.SubscriptionCanceled, sub.StateAt.Add(-time.Second)
		res, err := f.l.ApplySubscription(f.ctx, ledger.SubscriptionParams{Sub: older, Grace: time.Hour})
		if err != nil || !res.Stale || res.Sub.Status != tollgate.SubscriptionActive {
			t.Fatalf("an older read: %+v, %v; want it kept out", res, err)
		}
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("an older read moved the plan to %s", a.Plan)
		}
		// The operator raises Pro's price: the subscriber's cancellation
		// still applies.
		if _, err := f.svc.PutPlanPrice(f.ctx, tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalMonth, Active: true,
			Prices: []tollgate.Money{{Amount: 2500, Currency: "usd"}}}, nil); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		deliver(t, f.svc, fake.End(id)...)
		if a := f.account(t); a.Plan != "free" {
			t.Fatalf("after a price change, a cancellation left the plan %s", a.Plan)
		}
		did := deliver(t, f.svc, fake.Event("customer.subscription.updated", map[string]any{"id": "sub_unknown", "object": "subscription"}))
		if !strings.HasPrefix(did[0], "UNMATCHED: Stripe refuses subscription sub_unknown") {
			t.Fatalf("a subscription Stripe does not know: %q", did[0])
		}
	})
}

// TestReceiptLater: a receipt Stripe cannot give when the payment's event
// is applied does not hold up the credits; the event is answered so that
// Stripe sends it again, and its replay records the receipt.
func TestReceiptLater(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fake := subFixture(t, f)
		o, _, err := f.svc.CheckoutIn(f.ctx, "buyer", "pack_10", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		evs := fake.Pay(t, o.ProviderRef)
		fake.SetDown(true)
		body, sig := stripetest.Signed(evs[0], whsec, time.Now())
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); !errors.Is(err, ErrNotReady) {
			t.Fatalf("receipt unavailable: %v, want ErrNotReady so that Stripe retries", err)
		}
		got, _ := f.svc.Order(f.ctx, o.ID, "")
		if got.Status != tollgate.OrderCompleted || got.Paid == nil || got.Paid.ReceiptURL != "" {
			t.Fatalf("order %+v: want it completed without a receipt yet", got)
		}
		fake.SetDown(false)
		did := deliver(t, f.svc, evs[0])
		got, _ = f.svc.Order(f.ctx, o.ID, "")
		if got.Paid == nil || got.Paid.ReceiptURL == "" || !strings.Contains(did[0], "receipt recorded") {
			t.Fatalf("after the replay: %+v (%q)", got.Paid, did[0])
		}
		if b := f.available(t); b != tollgate.WholeCredits(10) {
			t.Fatalf("available %s, want the pack's 10 once", b)
		}
	})
}

// TestDemoSubscriptions: in demo mode a subscription starts at once, with
// no money and no page, renews at each period's end, and a cancelled one
// ends at its period's end; a retry with the same Idempotency-Key makes
// one subscription.
func TestDemoSubscriptions(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.svc.Provider = Dev{}
		f.takeEvents(t)
		if _, err := f.svc.PutPlanPrice(f.ctx, tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalMonth, Active: true,
			Prices: []tollgate.Money{{Amount: 2000, Currency: "usd"}}}, nil); err != nil {
			t.Fatal(err)
		}
		k := &ledger.Idempotency{Scope: "key_test", Key: "sub-1"}
		for range 2 {
			st, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, k)
			if err != nil || st.URL == "" || st.TaxBehavior != tollgate.TaxNone {
				t.Fatalf("demo subscribe: %+v, %v", st, err)
			}
		}
		subs, err := f.svc.Subscriptions(f.ctx, "buyer", "", 0)
		if err != nil || len(subs) != 1 || subs[0].Provider != "dev" || !subs[0].Entitled {
			t.Fatalf("subscriptions %+v, %v; want one demo subscription", subs, err)
		}
		if a := f.account(t); a.Plan != "pro" || f.videoAllowance(t) != pro {
			t.Fatalf("demo subscription: plan %s, allowance %s", a.Plan, f.videoAllowance(t))
		}
		if _, err := f.svc.Portal(f.ctx, "buyer", "https://x.example/"); tollgate.ErrorCode(err) != tollgate.CodeForbidden {
			t.Fatalf("portal in demo mode: %v", err)
		}
		// Two periods pass: it renews, paid through the new period.
		first := subs[0]
		f.clock.Set(nextPeriod(first.PeriodEnd, first.Interval).Add(time.Minute))
		if _, _, err := f.svc.SweepSubscriptions(f.ctx); err != nil {
			t.Fatal(err)
		}
		sub, _ := f.subscription(t, first.ID)
		if !sub.PeriodEnd.After(f.clock.Now()) || !sub.PaidThrough.Equal(sub.PeriodEnd) || !sub.Entitled {
			t.Fatalf("renewed: %+v", sub)
		}
		if a := f.account(t); a.Plan != "pro" {
			t.Fatalf("after renewing, plan %s", a.Plan)
		}
		// Cancelled, it ends at the period's end.
		if got, err := f.svc.CancelSubscription(f.ctx, first.ID, "buyer"); err != nil || !got.CancelAtPeriodEnd {
			t.Fatalf("cancel: %+v, %v", got, err)
		}
		if _, changed, _ := f.svc.SweepSubscriptions(f.ctx); changed != 0 {
			t.Fatal("a cancelled subscription ended before its period's end")
		}
		f.clock.Set(sub.PeriodEnd.Add(time.Minute))
		if _, changed, err := f.svc.SweepSubscriptions(f.ctx); err != nil || changed != 1 {
			t.Fatalf("sweep at the period's end: %d changed, %v", changed, err)
		}
		sub, _ = f.subscription(t, first.ID)
		if a := f.account(t); a.Plan != "free" || sub.Status != tollgate.SubscriptionCanceled || sub.EndedAt == nil {
			t.Fatalf("ended: plan %s, %+v", a.Plan, sub)
		}
		if _, err := f.svc.CancelSubscription(f.ctx, first.ID, "buyer"); tollgate.ErrorCode(err) != tollgate.CodeConflict {
			t.Fatalf("cancelling an ended subscription: %v", err)
		}
		if n := f.sent(t, tollgate.EventSubscriptionStarted); n != 1 {
			t.Fatalf("started sent %d times, want once", n)
		}
		// A demo subscription left on a server that sells through Stripe
		// now ends at its period's end instead of renewing for free.
		if _, err := f.svc.Subscribe(f.ctx, SubscribeParams{AccountID: "buyer", Plan: "pro"}, nil); err != nil {
			t.Fatal(err)
		}
		subFixtureProvider(f)
		f.clock.Advance(32 * 24 * time.Hour)
		if _, _, err := f.svc.SweepSubscriptions(f.ctx); err != nil {
			t.Fatal(err)
		}
		if a := f.account(t); a.Plan != "free" {
			t.Fatalf("a demo subscription renewed on a Stripe server: plan %s", a.Plan)
		}
	})
}

// subFixtureProvider puts the stateful Stripe fake behind the service.
func subFixtureProvider(f *fixture) *stripetest.Fake {
	fake := stripetest.New(f.clock)
	f.svc.Provider = NewStripeAPI(fake, whsec, "https://tollgate.test")
	return fake
}
