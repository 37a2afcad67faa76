package payment

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/fault"
	"tollgate/store/record"
)

// eachFaultyStore runs fn on SQLite through a driver that fails commits
// as plan says, and on PostgreSQL through a proxy that does, when
// TOLLGATE_TEST_DATABASE_URL is set.
func eachFaultyStore(t *testing.T, fn func(t *testing.T, f *fixture, plan *fault.Plan)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		plan := &fault.Plan{}
		fn(t, newFixture(t, fault.OpenSQLite(t, plan)), plan)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
		if url == "" {
			t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping PostgreSQL")
		}
		plan := &fault.Plan{}
		db, _ := fault.OpenPostgres(t, url, plan)
		fn(t, newFixture(t, db), plan)
	})
}

func (f *fixture) deliver(t *testing.T, id, typ string, object any) error {
	t.Helper()
	body, sig := event(t, id, typ, object, start, whsec, time.Now())
	_, err := f.svc.HandleStripe(f.ctx, body, sig)
	return err
}

func refundOf(o tollgate.Order, pi string, refunded int64) map[string]any {
	return map[string]any{"id": "ch_" + o.ID, "object": "charge", "payment_intent": pi, "amount": 400, "amount_refunded": refunded,
		"refunded": refunded == 400, "metadata": map[string]string{"order_id": o.ID}}
}

// TestRefundFollowsHeldCredits buys 10 credits, holds 8 and has half the
// payment refunded: the 2 available are taken back at once and 3 of the
// held are owed, none lost. What the hold then does decides the rest.
func TestRefundFollowsHeldCredits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		settle    func(f *fixture, h tollgate.Hold) error
		available tollgate.Credits // afterwards
		lost      tollgate.Credits
	}{
		{"released", func(f *fixture, h tollgate.Hold) error {
			_, err := f.l.Release(f.ctx, ledger.ReleaseParams{HoldID: h.ID})
			return err
		}, tollgate.WholeCredits(5), 0},
		{"timed out", func(f *fixture, h tollgate.Hold) error {
			f.clock.Advance(2 * time.Hour)
			_, err := f.l.Sweep(f.ctx)
			return err
		}, tollgate.WholeCredits(5), 0},
		{"captured in full", func(f *fixture, h tollgate.Hold) error {
			_, err := f.l.Capture(f.ctx, ledger.CaptureParams{HoldID: h.ID})
			return err
		}, 0, tollgate.WholeCredits(3)},
		{"captured 6 of 8", func(f *fixture, h tollgate.Hold) error {
			_, err := f.l.Capture(f.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.WholeCredits(6))})
			return err
		}, 0, tollgate.WholeCredits(1)},
		{"captured 2 of 8", func(f *fixture, h tollgate.Hold) error {
			_, err := f.l.Capture(f.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.WholeCredits(2))})
			return err
		}, tollgate.WholeCredits(3), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			eachStore(t, func(t *testing.T, f *fixture) {
				f.svc.Provider = Dev{}
				o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.Complete(f.ctx, o.ID, start); err != nil {
					t.Fatal(err)
				}
				h, err := f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(8)})
				if err != nil {
					t.Fatal(err)
				}
				r, err := f.svc.Refund(f.ctx, o.ID, 200, 400)
				if err != nil {
					t.Fatal(err)
				}
				if want := (ledger.Refunded{TakenBack: tollgate.WholeCredits(2), Owed: tollgate.WholeCredits(3)}); r != want {
					t.Fatalf("refund of half: got %+v, want %+v", r, want)
				}
				if got := f.available(t); got != 0 {
					t.Fatalf("after the refund, before the hold settles: %s available, want 0", got)
				}
				if err := c.settle(f, h); err != nil {
					t.Fatal(err)
				}
				if got := f.available(t); got != c.available {
					t.Fatalf("after the hold settled: %s available, want %s", got, c.available)
				}
				if got := f.books(t)[tollgate.BookRefundLoss]; got != c.lost {
					t.Fatalf("refund loss %s, want %s", got, c.lost)
				}
			})
		})
	}
}

// TestFullRefundWithHeldCredits: a full refund while 8 of 10 are held
// takes the 2 and is owed the 8; released, they all go to the refund.
func TestFullRefundWithHeldCredits(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		f.svc.Provider = Dev{}
		o, _, _ := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if _, err := f.svc.Complete(f.ctx, o.ID, start); err != nil {
			t.Fatal(err)
		}
		h, err := f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(8)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.Refund(f.ctx, o.ID, 400, 400)
		if err != nil {
			t.Fatal(err)
		}
		if want := (ledger.Refunded{TakenBack: tollgate.WholeCredits(2), Owed: tollgate.WholeCredits(8)}); r != want {
			t.Fatalf("full refund: got %+v, want %+v", r, want)
		}
		if _, err := f.l.Release(f.ctx, ledger.ReleaseParams{HoldID: h.ID}); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != 0 {
			t.Fatalf("after release: %s available, want 0", got)
		}
		_, err = f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: 1})
		if tollgate.ErrorCode(err) != tollgate.CodeInsufficientCredits {
			t.Fatalf("spending refunded credits: got %v, want insufficient_credits", err)
		}
		if got := f.books(t)[tollgate.BookRefunds]; got != tollgate.WholeCredits(10) {
			t.Fatalf("refunds book %s, want 10", got)
		}
	})
}

// books sums the buyer's journal by book.
func (f *fixture) books(t *testing.T) map[tollgate.Book]tollgate.Credits {
	t.Helper()
	es, err := f.l.Entries(f.ctx, ledger.EntryListParams{AccountID: "buyer", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[tollgate.Book]tollgate.Credits{}
	for _, e := range es {
		sums[e.Book] += e.Amount
	}
	return sums
}

func ptr[T any](v T) *T { return &v }

// TestPaymentAndRefundTogether delivers, for 12 orders, the payment and its
// full refund at the same time, each three times: whichever is applied
// first, no order leaves a credit behind.
func TestPaymentAndRefundTogether(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		var orders []tollgate.Order
		for range 12 {
			o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
			if err != nil {
				t.Fatal(err)
			}
			orders = append(orders, o)
		}
		var wg sync.WaitGroup
		for i, o := range orders {
			pi := fmt.Sprintf("pi_t%d", i)
			for n := range 3 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					if err := f.deliver(t, fmt.Sprintf("evt_p%d_%d", i, n), "checkout.session.completed", paidSession(o, pi)); err != nil {
						t.Error(err)
					}
				}()
				go func() {
					defer wg.Done()
					if err := f.deliver(t, fmt.Sprintf("evt_r%d_%d", i, n), "charge.refunded", refundOf(o, pi, 400)); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if got := f.available(t); got != 0 {
			t.Fatalf("after 12 payments refunded in full: %s credits available, want 0", got)
		}
		for _, o := range orders {
			got, _ := f.svc.Order(f.ctx, o.ID, "")
			if got.Status != tollgate.OrderRefunded {
				t.Errorf("order %s is %s, want refunded", o.ID, got.Status)
			}
		}
	})
}

// TestPaymentFaults injects a failure at each step of a purchase and its
// refund (before and after the Stripe call, before a COMMIT and after it
// with its answer lost, a webhook delivered again) and checks that
// replaying ends with the right credits.
func TestPaymentFaults(t *testing.T) {
	t.Parallel()
	eachFaultyStore(t, func(t *testing.T, f *fixture, plan *fault.Plan) {
		key := func(k string) *ledger.Idempotency {
			return &ledger.Idempotency{Scope: "buyer", Key: k, Hash: []byte("pack_10")}
		}
		// Before the Stripe call: the order's commit fails. Nothing was
		// charged; the retry with the same key makes the one order.
		plan.Next(fault.FailBefore)
		if _, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", key("c1")); err == nil {
			t.Fatal("checkout whose order failed to commit: got no error")
		}
		o1, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", key("c1"))
		if err != nil {
			t.Fatal(err)
		}
		// After the Stripe call: the session exists, the answer is lost.
		// Its payment still finds the order; the retry gets the same one.
		plan.Next(fault.Pass, fault.LoseAnswer)
		if _, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", key("c2")); err == nil {
			t.Fatal("checkout whose last commit lost its answer: got no error")
		}
		plan.Next(fault.Pass, fault.FailBefore)
		if _, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", key("c3")); err == nil {
			t.Fatal("checkout whose last commit failed: got no error")
		}
		o3 := tollgate.Order{ID: orderIDFor(key("c3")), ProviderRef: "cs_test_" + orderIDFor(key("c3"))}
		if err := f.deliver(t, "evt_c3", "checkout.session.completed", paidSession(o3, "pi_c3")); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"c2", "c3"} {
			o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", key(k))
			if err != nil && !isReplay(err) {
				t.Fatalf("checkout retried with key %s: %v", k, err)
			}
			if err == nil && o.ID != orderIDFor(key(k)) {
				t.Fatalf("checkout retried with key %s made order %s, want %s", k, o.ID, orderIDFor(key(k)))
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("after the payment of the checkout that failed after Stripe: %s, want 10", got)
		}
		orders := f.orders(t)
		if len(orders) != 3 {
			t.Fatalf("%d orders, want 3 (one per key)", len(orders))
		}
		// The payment's commit: its answer lost, then failing, then
		// delivered again. Granted once.
		for i, a := range []fault.Action{fault.LoseAnswer, fault.FailBefore, fault.Pass} {
			plan.Next(a)
			if err := f.deliver(t, fmt.Sprintf("evt_o1_%d", i), "checkout.session.completed", paidSession(o1, "pi_o1")); err != nil {
				t.Fatalf("payment delivered with %v: %v", a, err)
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(20) {
			t.Fatalf("after the second payment: %s, want 20", got)
		}
		// A refund of half of o1: answer lost, failing, delivered again.
		for i, a := range []fault.Action{fault.LoseAnswer, fault.FailBefore, fault.Pass} {
			plan.Next(a)
			if err := f.deliver(t, fmt.Sprintf("evt_o1r_%d", i), "charge.refunded", refundOf(o1, "pi_o1", 200)); err != nil {
				t.Fatalf("refund delivered with %v: %v", a, err)
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(15) {
			t.Fatalf("after half of one refunded: %s, want 15", got)
		}
		// Payment and full refund of the third order together, while a
		// tenth of commits lose their answer and a tenth fail.
		o2 := tollgate.Order{ID: orderIDFor(key("c2")), ProviderRef: "cs_test_" + orderIDFor(key("c2"))}
		plan.Rates(100, 100)
		var wg sync.WaitGroup
		for n := range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for f.deliver(t, fmt.Sprintf("evt_o2_%d", n), "checkout.session.completed", paidSession(o2, "pi_o2")) != nil {
				}
			}()
			go func() {
				defer wg.Done()
				for f.deliver(t, fmt.Sprintf("evt_o2r_%d", n), "charge.refunded", refundOf(o2, "pi_o2", 400)) != nil {
				}
			}()
		}
		wg.Wait()
		plan.Clear()
		if got := f.available(t); got != tollgate.WholeCredits(15) {
			t.Fatalf("after a payment and its full refund together: %s, want 15", got)
		}
		t.Logf("commits: %d, answers lost: %d, failed: %d; ledger %+v", plan.Commits.Load(), plan.Lost.Load(), plan.Failed.Load(), f.l.Stats())
	})
}

func isReplay(err error) bool {
	_, ok := err.(*ledger.Replayed)
	return ok
}

func (f *fixture) orders(t *testing.T) []tollgate.Order {
	t.Helper()
	var os []tollgate.Order
	err := f.s.Read(f.ctx, func(tx store.Tx) (err error) {
		os, err = tx.OrderList(f.ctx, record.OrderListParams{AccountID: "buyer"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return os
}

// TestPaymentDeliveredManyTimesAtOnce: of eight deliveries of one payment at
// once, one grants and says so; the others say it was a replay. Delivered
// again after a full refund, it says the order was paid and then refunded.
func TestPaymentDeliveredManyTimesAtOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, sig := event(t, "evt_many", "checkout.session.completed", paidSession(o, "pi_many"), start, whsec, time.Now())
		did := make([]string, 8)
		var wg sync.WaitGroup
		for i := range did {
			wg.Go(func() {
				var err error
				if did[i], err = f.svc.HandleStripe(f.ctx, body, sig); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		granted := 0
		for _, d := range did {
			if strings.Contains(d, "credits granted") {
				granted++
			} else if !strings.Contains(d, "replay ignored") {
				t.Errorf("delivery said %q", d)
			}
		}
		if granted != 1 || f.available(t) != tollgate.WholeCredits(10) {
			t.Fatalf("%d deliveries said they granted, %s credits available; want 1 and 10", granted, f.available(t))
		}
		if err := f.deliver(t, "evt_many_r", "charge.refunded", refundOf(o, "pi_many", 400)); err != nil {
			t.Fatal(err)
		}
		if d, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil || !strings.Contains(d, "paid and then refunded") {
			t.Fatalf("payment delivered after its refund: %q, %v", d, err)
		}
	})
}

// TestPaymentMatchedToOrder: a signed payment that names an order but is
// not its session, or pays another amount or currency, grants nothing and
// shows on the order; the order's own session then pays it; Adaptive
// Pricing's conversion is checked against the order's currency.
func TestPaymentMatchedToOrder(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		other := paidSession(o, "pi_other")
		other["id"] = "cs_other_session" // a payment link's session naming our order
		cheap := paidSession(o, "pi_cheap")
		cheap["amount_subtotal"], cheap["amount_total"], cheap["currency"] = 1, 1, "jpy"
		for i, sess := range []map[string]any{other, cheap} {
			if err := f.deliver(t, fmt.Sprintf("evt_bad_%d", i), "checkout.session.completed", sess); err != nil {
				t.Fatal(err)
			}
			if got := f.available(t); got != 0 {
				t.Fatalf("after a payment that is not the order's (%v): %s credits, want 0", sess["id"], got)
			}
		}
		got, _ := f.svc.Order(f.ctx, o.ID, "")
		if got.Status != tollgate.OrderPending || !strings.Contains(got.PaymentProblem, "it paid 1 jpy") {
			t.Fatalf("order %s after bad payments: status %s, problem %q", o.ID, got.Status, got.PaymentProblem)
		}
		// The buyer paid in euros; the session converted from the order's dollars.
		eur := paidSession(o, "pi_eur")
		eur["currency"], eur["amount_subtotal"] = "eur", 372
		eur["currency_conversion"] = map[string]any{"amount_subtotal": 400, "amount_total": 400, "fx_rate": "0.93", "source_currency": "usd"}
		if err := f.deliver(t, "evt_eur", "checkout.session.completed", eur); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("after the order's session paid in euros: %s credits, want 10", got)
		}
		// An order whose session reference was lost is paid by a session
		// carrying its id in the metadata Tollgate sets, and no other.
		lost := tollgate.Order{ID: tollgate.NewID("order"), AccountID: "buyer", PackID: "pack_10", Credits: tollgate.WholeCredits(10),
			Price: tollgate.Money{Amount: 400, Currency: "usd"}, ValidForDays: 365, Status: tollgate.OrderPending, Provider: "stripe", CreatedAt: start}
		if err := f.s.Write(f.ctx, func(tx store.Tx) error { return tx.OrderInsert(f.ctx, lost) }); err != nil {
			t.Fatal(err)
		}
		noMeta := paidSession(tollgate.Order{ID: lost.ID, ProviderRef: "cs_lost"}, "pi_lost")
		delete(noMeta, "metadata")
		if err := f.deliver(t, "evt_lost_1", "checkout.session.completed", noMeta); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("a session without the order's metadata paid it: %s credits", got)
		}
		if err := f.deliver(t, "evt_lost_2", "checkout.session.completed", paidSession(tollgate.Order{ID: lost.ID, ProviderRef: "cs_lost"}, "pi_lost")); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != tollgate.WholeCredits(20) {
			t.Fatalf("after the lost order's session paid: %s credits, want 20", got)
		}
	})
}

// TestStripeEventsEdgeCases: a signature from the future is refused like a
// stale one; an event whose object does not parse, or refunds more than
// its charge, is the sender's error (4xx), not the server's; a refund of a
// payment no order has is retried for an hour, then accepted as unmatched.
// A checkout replayed with its Idempotency-Key does not ask Stripe again.
func TestStripeEventsEdgeCases(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		now := time.Now()
		body, sig := event(t, "evt_future", "checkout.session.completed", map[string]any{"id": "cs_x"}, start, whsec, now.Add(10*time.Minute))
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signed 10 minutes ahead: got %v, want ErrBadSignature", err)
		}
		body, sig = event(t, "evt_bad", "checkout.session.completed", map[string]any{"id": "cs_x", "client_reference_id": 5}, start, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); tollgate.ErrorCode(err) != tollgate.CodeMalformedJSON {
			t.Fatalf("client_reference_id 5: got %v, want malformed_json", err)
		}
		over := map[string]any{"id": "ch_o", "object": "charge", "payment_intent": "pi_o", "amount": 400, "amount_refunded": 500}
		body, sig = event(t, "evt_over", "charge.refunded", over, start, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Fatalf("a refund above its charge: got %v, want invalid_field", err)
		}
		ghost := map[string]any{"id": "ch_g", "object": "charge", "payment_intent": "pi_ghost", "amount": 400, "amount_refunded": 400}
		body, sig = event(t, "evt_ghost_new", "charge.refunded", ghost, now.Add(-time.Minute), whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); !errors.Is(err, ErrNotReady) {
			t.Fatalf("a refund of an unknown payment, a minute old: got %v, want ErrNotReady", err)
		}
		body, sig = event(t, "evt_ghost_old", "charge.refunded", ghost, now.Add(-2*time.Hour), whsec, now)
		if did, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil || !strings.Contains(did, "UNMATCHED") {
			t.Fatalf("a refund of an unknown payment, two hours old: %q, %v; want accepted as unmatched", did, err)
		}

		var calls atomic.Int64
		f.svc.Provider = NewStripe("sk_test_x", whsec, fakeStripeCounting(t, nil, &calls), "https://tollgate.test")
		k := &ledger.Idempotency{Scope: "buyer", Key: "once", Hash: []byte("pack_10")}
		if _, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", k); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", k); !isReplay(err) {
				t.Fatalf("checkout replayed with its key: got %v, want a replay", err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("Stripe was asked for %d sessions, want 1", calls.Load())
		}
	})
}

// TestRefundFromTollgate: the operator refunds part of a Stripe order: Stripe
// is asked once (a retry with the same key is the same refund), and the
// credits follow its charge.refunded event, once; a development order is
// refunded at once; nothing above what is left can be refunded.
func TestRefundFromTollgate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_rt_paid", "checkout.session.completed", paidSession(o, "pi_rt_"+o.ID)); err != nil {
			t.Fatal(err)
		}
		k := &ledger.Idempotency{Scope: "admin", Key: "refund-1", Hash: []byte("200")}
		var started RefundStarted
		for range 2 {
			if started, err = f.svc.RefundPayment(f.ctx, o.ID, ptr(int64(200)), k); err != nil {
				t.Fatal(err)
			}
		}
		refundsMu.Lock()
		var asked []fakeRefund
		for _, r := range refunds {
			if r.paymentIntent == "pi_rt_"+o.ID {
				asked = append(asked, r)
			}
		}
		refundsMu.Unlock()
		if len(asked) != 2 || asked[0].key != asked[1].key || asked[0].amount != "200" || started.Applied {
			t.Fatalf("Stripe was asked %+v; want the same refund of 200 twice (one idempotency key), not applied yet", asked)
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("before Stripe's event: %s credits, want 10", got)
		}
		for i := range 2 {
			if err := f.deliver(t, fmt.Sprintf("evt_rt_r%d", i), "charge.refunded", refundOf(o, "pi_rt_"+o.ID, 200)); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(5) {
			t.Fatalf("after the refund's event, twice: %s credits, want 5", got)
		}
		if es, err := f.l.AuditLog(f.ctx, record.AuditListParams{Action: "order.refund"}); err != nil || len(es) != 1 ||
			es[0].Target != o.ID || es[0].AccountID != "buyer" || !strings.Contains(es[0].Detail, `"taken_back":"5"`) {
			t.Fatalf("the refund's audit entries: %+v %v; want one, for the event applied once", es, err)
		}
		if _, err := f.svc.RefundPayment(f.ctx, o.ID, ptr(int64(201)), nil); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Fatalf("refunding 201 of the 200 left: got %v, want invalid_field", err)
		}
		// A development order: refunded at once, in full.
		f.svc.Provider = Dev{}
		d, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Complete(f.ctx, d.ID, start); err != nil {
			t.Fatal(err)
		}
		rs, err := f.svc.RefundPayment(f.ctx, d.ID, nil, nil)
		if err != nil || !rs.Applied || rs.Amount != 400 || rs.Order.Status != tollgate.OrderRefunded {
			t.Fatalf("refunding a development order: %+v, %v", rs, err)
		}
		if got := f.available(t); got != tollgate.WholeCredits(5) {
			t.Fatalf("after the development order's refund: %s credits, want 5", got)
		}
		if _, err := f.svc.RefundPayment(f.ctx, d.ID, nil, nil); tollgate.ErrorCode(err) != tollgate.CodeConflict {
			t.Fatalf("refunding a refunded order: got %v, want conflict", err)
		}
	})
}
