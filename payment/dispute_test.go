package payment

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/record"
)

func disputeOf(pi, id, status string, amount int64) map[string]any {
	return map[string]any{"id": id, "object": "dispute", "amount": amount, "currency": "usd", "charge": "ch_" + pi,
		"payment_intent": pi, "status": status, "reason": "fraudulent"}
}

// paid buys pack_10 (10 credits for 400 cents) and has Stripe pay it.
func (f *fixture) paid(t *testing.T, pi string) tollgate.Order {
	t.Helper()
	o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.deliver(t, "evt_paid_"+pi, "checkout.session.completed", paidSession(o, pi)); err != nil {
		t.Fatal(err)
	}
	return o
}

func (f *fixture) order(t *testing.T, id string) tollgate.Order {
	t.Helper()
	o, err := f.svc.Order(f.ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDisputes: a dispute freezes what is left of the order's credits (a
// running job still captures, and what it returns stays frozen); won frees
// them; lost takes back the amount disputed as a refund would. Repeated,
// late and out-of-order events change nothing more.
func TestDisputes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		// Won: frozen, then free again.
		o := f.paid(t, "pi_won")
		h, err := f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(3)})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_dc", "charge.dispute.created", disputeOf("pi_won", "dp_1", "needs_response", 400)); err != nil {
			t.Fatal(err)
		}
		b, _ := f.l.Balance(f.ctx, "buyer")
		if f.available(t) != 0 || b.Frozen != tollgate.WholeCredits(7) || f.order(t, o.ID).DisputeStatus != tollgate.DisputeOpen {
			t.Fatalf("disputed: %s available, %s frozen, order %+v; want 0 and 7", f.available(t), b.Frozen, f.order(t, o.ID))
		}
		_, err = f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(1)})
		if tollgate.ErrorCode(err) != tollgate.CodeInsufficientCredits {
			t.Fatalf("a hold on frozen credits: %v, want insufficient_credits", err)
		}
		if _, err := f.l.Capture(f.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.WholeCredits(1))}); err != nil {
			t.Fatalf("the running job's capture: %v", err)
		}
		if b, _ := f.l.Balance(f.ctx, "buyer"); b.Frozen != tollgate.WholeCredits(9) {
			t.Fatalf("after the capture: %s frozen, want 9 (2 returned to the frozen grant)", b.Frozen)
		}
		for _, id := range []string{"evt_dw", "evt_dw"} { // delivered twice
			if err := f.deliver(t, id, "charge.dispute.closed", disputeOf("pi_won", "dp_1", "won", 400)); err != nil {
				t.Fatal(err)
			}
		}
		// A late "created" of the same dispute does not freeze again.
		if err := f.deliver(t, "evt_dc_late", "charge.dispute.created", disputeOf("pi_won", "dp_1", "needs_response", 400)); err != nil {
			t.Fatal(err)
		}
		if f.available(t) != tollgate.WholeCredits(9) || f.order(t, o.ID).DisputeStatus != tollgate.DisputeWon {
			t.Fatalf("won: %s available, order %+v; want 9", f.available(t), f.order(t, o.ID))
		}

		// Lost: the amount disputed is taken back; the hold's part is owed.
		o2 := f.paid(t, "pi_lost")
		h2, err := f.l.Hold(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(12)})
		if err != nil { // 9 of the first order, 3 of the second: burn-down takes the first grant first
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_dc2", "charge.dispute.created", disputeOf("pi_lost", "dp_2", "needs_response", 400)); err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_dl2", "charge.dispute.closed", disputeOf("pi_lost", "dp_2", "lost", 400)); err != nil {
			t.Fatal(err)
		}
		got := f.order(t, o2.ID)
		if got.Status != tollgate.OrderRefunded || got.RefundedCredits != tollgate.WholeCredits(10) || got.DisputeStatus != tollgate.DisputeLost {
			t.Fatalf("lost: order %+v; want refunded, 10 credits covered", got)
		}
		if books := f.books(t); books[tollgate.BookRefunds] != tollgate.WholeCredits(7) {
			t.Fatalf("lost: refunds book %s, want the 7 unspent (3 owed by the hold)", books[tollgate.BookRefunds])
		}
		if _, err := f.l.Release(f.ctx, ledger.ReleaseParams{HoldID: h2.ID}); err != nil {
			t.Fatal(err)
		}
		if books := f.books(t); books[tollgate.BookRefunds] != tollgate.WholeCredits(10) || f.available(t) != tollgate.WholeCredits(9) {
			t.Fatalf("after the hold's release: refunds %s, available %s; want 10 and the first order's 9", books[tollgate.BookRefunds], f.available(t))
		}
		if err := f.deliver(t, "evt_dl2_again", "charge.dispute.closed", disputeOf("pi_lost", "dp_2", "lost", 400)); err != nil {
			t.Fatal(err)
		}
		if books := f.books(t); books[tollgate.BookRefunds] != tollgate.WholeCredits(10) {
			t.Fatalf("a repeated loss took back more: refunds %s", books[tollgate.BookRefunds])
		}

		// Closed before created (events out of order), and a loss after a
		// partial refund takes back only the rest.
		o3 := f.paid(t, "pi_ooo")
		if err := f.deliver(t, "evt_r3", "charge.refunded", refundOf(o3, "pi_ooo", 100)); err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_dl3", "charge.dispute.closed", disputeOf("pi_ooo", "dp_3", "lost", 300)); err != nil {
			t.Fatal(err)
		}
		if err := f.deliver(t, "evt_dc3", "charge.dispute.created", disputeOf("pi_ooo", "dp_3", "needs_response", 300)); err != nil {
			t.Fatal(err)
		}
		if got := f.order(t, o3.ID); got.Status != tollgate.OrderRefunded || got.DisputeStatus != tollgate.DisputeLost {
			t.Fatalf("out of order: %+v", got)
		}
		if f.available(t) != tollgate.WholeCredits(9) {
			t.Fatalf("after the third order's loss: %s available, want 9", f.available(t))
		}
		// Malformed and unknown.
		if err := f.deliver(t, "evt_bad", "charge.dispute.closed", disputeOf("pi_ooo", "dp_3", "needs_response", 300)); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Fatalf("closed while needing a response: %v, want invalid_field", err)
		}
		if err := f.deliver(t, "evt_neg", "charge.dispute.created", disputeOf("pi_ooo", "dp_4", "needs_response", -1)); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Fatalf("a negative dispute: %v, want invalid_field", err)
		}
		body, sig := event(t, "evt_unk", "charge.dispute.created", disputeOf("pi_nobody", "dp_5", "needs_response", 300), start, whsec, time.Now())
		if did, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil || !strings.HasPrefix(did, "UNMATCHED") {
			t.Fatalf("a dispute of a payment no order has, made long ago: %q %v; want it received as unmatched", did, err)
		}
		if es, err := f.l.AuditLog(f.ctx, record.AuditListParams{Action: "order.dispute"}); err != nil || len(es) != 5 {
			t.Fatalf("dispute audit entries: %d %v, want 5 (open and won; open and lost; lost, and nothing for the late open)", len(es), err)
		}
	})
}

// TestDisputeRace: a dispute's open and close delivered together, many
// times, on several instances' worth of goroutines: it ends lost, once.
func TestDisputeRace(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o := f.paid(t, "pi_race")
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				errs <- f.deliver(t, fmt.Sprint("evt_o", i), "charge.dispute.created", disputeOf("pi_race", "dp_r", "needs_response", 400))
			}()
			go func() {
				defer wg.Done()
				errs <- f.deliver(t, fmt.Sprint("evt_c", i), "charge.dispute.closed", disputeOf("pi_race", "dp_r", "lost", 400))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := f.order(t, o.ID)
		if got.DisputeStatus != tollgate.DisputeLost || got.Status != tollgate.OrderRefunded || f.available(t) != 0 {
			t.Fatalf("after the race: %+v, %s available", got, f.available(t))
		}
		if books := f.books(t); books[tollgate.BookRefunds] != tollgate.WholeCredits(10) {
			t.Fatalf("refunds book %s, want 10 taken back once", books[tollgate.BookRefunds])
		}
	})
}

// TestPaymentEventsRecorded: every event of a type Tollgate acts on is
// recorded with what was done; those that concerned no order (a refund of
// a charge Tollgate never sold, past the hour it is retried) or are not
// applied yet are unmatched; a repeat updates its record.
func TestPaymentEventsRecorded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o := f.paid(t, "pi_ev")
		if err := f.deliver(t, "evt_paid_pi_ev", "checkout.session.completed", paidSession(o, "pi_ev")); err != nil {
			t.Fatal(err) // the same event again
		}
		stranger := tollgate.Order{ID: "order_stranger"}
		if err := f.deliver(t, "evt_stranger", "charge.refunded", refundOf(stranger, "pi_stranger", 400)); err != nil {
			t.Fatal(err)
		}
		body, sig := event(t, "evt_fresh", "charge.dispute.created", disputeOf("pi_fresh", "dp_f", "needs_response", 400), time.Now(), whsec, time.Now())
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); err == nil {
			t.Fatal("a fresh dispute of an unknown payment was accepted, want a retry")
		}
		body, sig = event(t, "evt_other", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}, start, whsec, time.Now())
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil {
			t.Fatal(err)
		}
		list := func(matched *bool) []tollgate.PaymentEvent {
			var es []tollgate.PaymentEvent
			if err := f.s.Read(f.ctx, func(tx store.Tx) (err error) {
				es, err = tx.PaymentEventList(f.ctx, record.PaymentEventListParams{Matched: matched})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return es
		}
		all := list(nil)
		if len(all) != 3 {
			t.Fatalf("%d events recorded, want 3 (the payment once, the stranger's refund, the fresh dispute): %+v", len(all), all)
		}
		unmatched := list(ptr(false))
		if len(unmatched) != 2 || unmatched[0].EventID != "evt_stranger" || !strings.HasPrefix(unmatched[0].Outcome, "UNMATCHED") ||
			unmatched[1].EventID != "evt_fresh" || !strings.Contains(unmatched[1].Outcome, "retries") {
			t.Fatalf("unmatched: %+v", unmatched)
		}
		if m := list(ptr(true)); len(m) != 1 || m[0].OrderID != o.ID || m[0].ObjectID != o.ProviderRef || m[0].Type != "checkout.session.completed" {
			t.Fatalf("matched: %+v", m)
		}
	})
}

// TestReconcile: an order whose session was paid but whose webhook never
// came is completed by the reconciliation, once; a later webhook changes
// nothing; orders too young, unpaid or too old are left alone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o1, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		o2, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(paidSession(o1, "pi_rec_"+o1.ID))
		paidSessions.Store(o1.ProviderRef, body)
		if looked, done, err := f.svc.Reconcile(f.ctx); err != nil || looked != 0 || done != 0 {
			t.Fatalf("orders a minute old: looked at %d, completed %d (%v); want none, their webhooks have time", looked, done, err)
		}
		f.clock.Advance(ReconcileAfter + time.Minute)
		o3, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil) // too young
		if err != nil {
			t.Fatal(err)
		}
		if looked, done, err := f.svc.Reconcile(f.ctx); err != nil || looked != 2 || done != 1 {
			t.Fatalf("reconcile: looked at %d, completed %d (%v); want 2 and 1", looked, done, err)
		}
		if got := f.order(t, o1.ID); got.Status != tollgate.OrderCompleted || got.PaymentRef != "pi_rec_"+o1.ID {
			t.Fatalf("the paid order: %+v", got)
		}
		if f.order(t, o2.ID).Status != tollgate.OrderPending || f.order(t, o3.ID).Status != tollgate.OrderPending {
			t.Fatal("an unpaid or young order was completed")
		}
		if looked, done, err := f.svc.Reconcile(f.ctx); err != nil || looked != 1 || done != 0 {
			t.Fatalf("again: looked at %d, completed %d (%v); want 1 (the unpaid one) and 0", looked, done, err)
		}
		if err := f.deliver(t, "evt_late", "checkout.session.completed", paidSession(o1, "pi_rec_"+o1.ID)); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("after the reconciliation and the late webhook: %s credits, want 10", got)
		}
		f.clock.Advance(26 * time.Hour)
		if looked, _, err := f.svc.Reconcile(f.ctx); err != nil || looked != 0 {
			t.Fatalf("a day later: looked at %d (%v); want none, their sessions expired", looked, err)
		}
	})
}
