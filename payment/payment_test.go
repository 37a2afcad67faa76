package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"tollgate"
	"tollgate/cameo"
	"tollgate/clocktest"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/sqlite"
)

const whsec = "whsec_test_secret"

var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

type fixture struct {
	ctx   context.Context
	s     store.Store
	l     *ledger.Ledger
	svc   *Service
	clock *clocktest.Clock
}

// eachStore runs fn on SQLite, and on PostgreSQL when
// TOLLGATE_TEST_DATABASE_URL is set.
func eachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		})
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, newFixture(t, db))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
		if url == "" {
			t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping PostgreSQL")
		}
		db, cleanup, err := pgtest.OpenSchema(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup)
		fn(t, newFixture(t, db))
	})
}

// fakeStripe speaks the part of Stripe's API Checkout uses: it creates
// sessions and answers errors when told to.
func fakeStripe(t *testing.T, fail *atomic.Bool) string {
	return fakeStripeCounting(t, fail, nil)
}

// fakeRefund is a refund the fake Stripe was asked for.
type fakeRefund struct{ paymentIntent, amount, key string }

var (
	refundsMu sync.Mutex
	refunds   []fakeRefund
	// paidSessions are the sessions the fake Stripe answers as paid, by id.
	paidSessions sync.Map
)

// fakeStripeCounting is fakeStripe counting the sessions asked for.
func fakeStripeCounting(t *testing.T, fail *atomic.Bool, calls *atomic.Int64) string {
	// answer writes a response's body. Should the write fail, the client
	// under test sees it fail, which is what the tests look at.
	answer := func(w http.ResponseWriter, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
	// parse reads a request's form, answering 400 as Stripe would when it
	// cannot.
	parse := func(w http.ResponseWriter, r *http.Request) bool {
		if err := r.ParseForm(); err != nil {
			t.Errorf("fake Stripe: %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"unreadable form"}}`, 400)
			return false
		}
		return true
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls != nil {
			calls.Add(1)
		}
		if r.Method == "POST" && r.URL.Path == "/v1/refunds" {
			if !parse(w, r) {
				return
			}
			refundsMu.Lock()
			refunds = append(refunds, fakeRefund{r.PostForm.Get("payment_intent"), r.PostForm.Get("amount"), r.Header.Get("Idempotency-Key")})
			refundsMu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			answer(w, `{"id":"re_%s","object":"refund","amount":%s,"payment_intent":%q,"status":"succeeded"}`,
				r.Header.Get("Idempotency-Key"), r.PostForm.Get("amount"), r.PostForm.Get("payment_intent"))
			return
		}
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/checkout/sessions/"); ok && r.Method == "GET" {
			w.Header().Set("Content-Type", "application/json")
			if body, ok := paidSessions.Load(id); ok {
				answer(w, "%s", body.([]byte))
				return
			}
			answer(w, `{"id":%q,"object":"checkout.session","mode":"payment","payment_status":"unpaid"}`, id)
			return
		}
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/payment_intents/"); ok && r.Method == "GET" {
			// As Stripe, with expand[]=latest_charge: the receipt.
			w.Header().Set("Content-Type", "application/json")
			answer(w, `{"id":%q,"object":"payment_intent","latest_charge":{"id":"ch_%s","object":"charge","receipt_url":"https://pay.stripe.test/receipts/%s"}}`, id, id, id)
			return
		}
		if r.Method != "POST" || r.URL.Path != "/v1/checkout/sessions" {
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"unknown path"}}`, 404)
			return
		}
		if fail != nil && fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(402)
			answer(w, "%s", `{"error":{"type":"card_error","code":"account_invalid","message":"The account is not activated."}}`)
			return
		}
		if !parse(w, r) {
			return
		}
		// As Stripe: return URLs must be absolute.
		for _, f := range []string{"success_url", "cancel_url"} {
			if u := r.PostForm.Get(f); !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				answer(w, `{"error":{"type":"invalid_request_error","param":%q,"message":"Not a valid URL"}}`, f)
				return
			}
		}
		ref := r.PostForm.Get("client_reference_id")
		w.Header().Set("Content-Type", "application/json")
		answer(w, `{"id":"cs_test_%s","object":"checkout.session","url":"https://checkout.stripe.test/c/pay/cs_test_%s","client_reference_id":%q,"mode":"payment","payment_status":"unpaid"}`, ref, ref, ref)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newFixture(t *testing.T, s store.Store) *fixture {
	ctx := context.Background()
	clock := clocktest.New(start)
	l := ledger.New(s, ledger.Options{Clock: clock})
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Stop()
		r, err := l.Verify(ctx)
		if err != nil || len(r.Violations) > 0 {
			t.Errorf("verify: %v %v", err, r.Violations)
		}
	})
	f := &fixture{ctx: ctx, s: s, l: l, clock: clock}
	f.svc = &Service{Ledger: l, Clock: clock, Provider: NewStripe("sk_test_x", whsec, fakeStripe(t, nil), "https://tollgate.test"),
		Defaults: []tollgate.Pack{{ID: "pack_10", Credits: tollgate.WholeCredits(10), Price: tollgate.Money{Amount: 400, Currency: "usd"}, ValidForDays: 365, Active: true}}}
	if err := f.svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "buyer", Name: "Buyer", Plan: "free"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// event signs a Stripe event as Stripe would, at the given time.
func event(t *testing.T, id, typ string, object any, created time.Time, secret string, signedAt time.Time) ([]byte, string) {
	raw, _ := json.Marshal(object)
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"api_version": "2025-01-01", "data": map[string]any{"object": json.RawMessage(raw)}})
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: signedAt})
	return body, sp.Header
}

// paidSession is the paid Checkout Session of order o, at the pack's
// price (400 usd when o carries no price).
func paidSession(o tollgate.Order, pi string) map[string]any {
	price := o.Price
	if price.Amount == 0 {
		price = tollgate.Money{Amount: 400, Currency: "usd"}
	}
	return map[string]any{"id": o.ProviderRef, "object": "checkout.session", "client_reference_id": o.ID,
		"payment_status": "paid", "status": "complete", "payment_intent": pi, "metadata": map[string]string{"order_id": o.ID},
		"amount_subtotal": price.Amount, "amount_total": price.Amount, "currency": price.Currency}
}

func (f *fixture) available(t *testing.T) tollgate.Credits {
	t.Helper()
	b, err := f.l.Balance(f.ctx, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	return b.ByProduct[tollgate.ProductAssistant]
}

func TestStripeCheckoutAndWebhooks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, u, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.Provider != "stripe" || o.ProviderRef != "cs_test_"+o.ID || !strings.HasPrefix(u, "https://checkout.stripe.test/") {
			t.Fatalf("order %+v url %s", o, u)
		}
		paidAt := start.Add(10 * time.Minute)
		f.clock.Set(paidAt.Add(time.Minute))
		now := time.Now()

		// Forged and stale signatures change nothing.
		body, sig := event(t, "evt_forged", "checkout.session.completed", paidSession(o, "pi_1"), paidAt, "whsec_wrong", now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged: got %v, want ErrBadSignature", err)
		}
		body, sig = event(t, "evt_stale", "checkout.session.completed", paidSession(o, "pi_1"), paidAt, whsec, now.Add(-10*time.Minute))
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("stale: got %v, want ErrBadSignature", err)
		}
		if _, err := f.svc.HandleStripe(f.ctx, body, "t=1,v1=00"); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("garbage signature: got %v, want ErrBadSignature", err)
		}
		if got := f.available(t); got != 0 {
			t.Fatalf("after refused events: %s credits, want 0", got)
		}
		// An unpaid session grants nothing yet.
		unpaid := paidSession(o, "")
		unpaid["payment_status"] = "unpaid"
		body, sig = event(t, "evt_unpaid", "checkout.session.completed", unpaid, paidAt, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil || f.available(t) != 0 {
			t.Fatalf("unpaid: %v, %s credits", err, f.available(t))
		}
		// Paid: granted once, however often Stripe delivers it.
		body, sig = event(t, "evt_paid", "checkout.session.completed", paidSession(o, "pi_1"), paidAt, whsec, now)
		for range 3 {
			if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(10) {
			t.Fatalf("after payment: %s credits, want 10", got)
		}
		done, _ := f.svc.Order(f.ctx, o.ID, "")
		g, err := grantByID(f, done.GrantID)
		if err != nil || g.ExpiresAt == nil || !g.ExpiresAt.Equal(paidAt.Add(365*24*time.Hour)) || g.Source != tollgate.SourcePurchase {
			t.Fatalf("grant %+v (%v): want a purchase expiring 365 days after payment", g, err)
		}
		// An event for an unknown order is logged, not an error.
		ghost := paidSession(tollgate.Order{ID: "order_ghost", ProviderRef: "cs_ghost"}, "pi_ghost")
		body, sig = event(t, "evt_ghost", "checkout.session.completed", ghost, paidAt, whsec, now)
		if did, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil || !strings.Contains(did, "unknown order") {
			t.Fatalf("ghost: %q, %v", did, err)
		}

		// Spend 7, then a full refund: 3 come back out, 7 are a loss.
		if _, err := f.l.Usage(f.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductAssistant, Credits: tollgate.WholeCredits(7)}); err != nil {
			t.Fatal(err)
		}
		refund := map[string]any{"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 400, "amount_refunded": 400, "refunded": true}
		body, sig = event(t, "evt_refund", "charge.refunded", refund, paidAt.Add(time.Hour), whsec, now)
		for range 2 {
			if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.available(t); got != 0 {
			t.Fatalf("after the refund: %s credits, want 0", got)
		}
		ref, _ := f.svc.Order(f.ctx, o.ID, "")
		if ref.Status != tollgate.OrderRefunded || ref.RefundedCredits != tollgate.WholeCredits(10) {
			t.Fatalf("order %+v, want refunded", ref)
		}
		es, _ := f.l.Entries(f.ctx, ledger.EntryListParams{AccountID: "buyer", Limit: 1000})
		sums := map[tollgate.Book]tollgate.Credits{}
		for _, e := range es {
			sums[e.Book] += e.Amount
		}
		// refunds: +3 taken back, -7 moved to the loss.
		if sums[tollgate.BookRefundLoss] != tollgate.WholeCredits(7) || sums[tollgate.BookRefunds] != tollgate.WholeCredits(3-7) {
			t.Fatalf("journal: refunds %s, refund loss %s; want 3 taken back and 7 lost", sums[tollgate.BookRefunds], sums[tollgate.BookRefundLoss])
		}
	})
}

func TestStripeOutOfOrder(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		// A partial refund arrives before the payment (made just now, as
		// Stripe's events are): Stripe is asked to retry.
		refund := map[string]any{"id": "ch_2", "object": "charge", "payment_intent": "pi_2", "amount": 400, "amount_refunded": 100, "refunded": false}
		rb, rs := event(t, "evt_r", "charge.refunded", refund, now, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, rb, rs); !errors.Is(err, ErrNotReady) {
			t.Fatalf("refund first: got %v, want ErrNotReady", err)
		}
		body, sig := event(t, "evt_p", "checkout.session.completed", paidSession(o, "pi_2"), start, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil {
			t.Fatal(err)
		}
		// The retried refund now applies: a quarter of the credits.
		if _, err := f.svc.HandleStripe(f.ctx, rb, rs); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != tollgate.Credits(7_500_000) {
			t.Fatalf("after a 25%% refund: %s credits, want 7.5", got)
		}
		// The rest refunded later: everything unspent goes.
		refund["amount_refunded"], refund["refunded"] = 400, true
		rb, rs = event(t, "evt_r2", "charge.refunded", refund, start, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, rb, rs); err != nil {
			t.Fatal(err)
		}
		if got := f.available(t); got != 0 {
			t.Fatalf("after the full refund: %s credits, want 0", got)
		}
	})
}

func TestStripeUnavailable(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		var fail atomic.Bool
		fail.Store(true)
		f.svc.Provider = NewStripe("sk_test_x", whsec, fakeStripe(t, &fail), "https://tollgate.test")
		_, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if tollgate.ErrorCode(err) != tollgate.CodeUnavailable || !strings.Contains(err.Error(), "nothing was charged") {
			t.Fatalf("got %v, want unavailable saying nothing was charged", err)
		}
	})
}

// TestStripeMockSession creates a real Checkout Session on stripe-mock,
// which validates the request against Stripe's OpenAPI specification.
func TestStripeMockSession(t *testing.T) {
	url := os.Getenv("TOLLGATE_TEST_STRIPE_URL")
	if url == "" {
		t.Skip("TOLLGATE_TEST_STRIPE_URL not set (stripe-mock, e.g. http://127.0.0.1:12111): skipping")
	}
	p := NewStripe("sk_test_123", whsec, url, "https://tollgate.test")
	u, ref, err := p.Checkout(context.Background(), tollgate.Order{ID: "order_mock", AccountID: "a", PackID: "pack_10",
		Credits: tollgate.WholeCredits(10), Price: tollgate.Money{Amount: 400, Currency: "usd"}, ValidForDays: 365},
		Return{Done: "/checkout/done/order_mock?sig=x", Cancelled: "/checkout/cancelled/order_mock?sig=x"})
	if err != nil {
		t.Fatalf("stripe-mock refused the session: %v", err)
	}
	if !strings.HasPrefix(ref, "cs_") || u == "" {
		t.Fatalf("got session %q at %q, want a cs_ id and a URL", ref, u)
	}
	// What the reconciliation and refunds ask of Stripe, as it specifies.
	if sess, err := p.Session(context.Background(), ref); err != nil || sess.ID == "" {
		t.Fatalf("stripe-mock session %s: %+v, %v", ref, sess, err)
	}
	if id, err := p.Refund(context.Background(), tollgate.Order{ID: "order_mock", PaymentRef: "pi_123"}, 100, "refund-order_mock-1"); err != nil || id == "" {
		t.Fatalf("stripe-mock refund: %q, %v", id, err)
	}
}

func grantByID(f *fixture, id string) (tollgate.Grant, error) {
	var g tollgate.Grant
	err := f.s.Read(f.ctx, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(f.ctx, []string{id})
		if err == nil && len(gs) == 1 {
			g = gs[0]
		}
		return err
	})
	return g, err
}

func TestPartialRefundBeforePayment(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		o, _, err := f.svc.Checkout(f.ctx, "buyer", "pack_10", nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		// This charge names its order, so the refund applies at once.
		refund := map[string]any{"id": "ch_3", "object": "charge", "payment_intent": "pi_3", "amount": 400, "amount_refunded": 100,
			"refunded": false, "metadata": map[string]string{"order_id": o.ID}}
		rb, rs := event(t, "evt_r3", "charge.refunded", refund, start, whsec, now)
		if _, err := f.svc.HandleStripe(f.ctx, rb, rs); err != nil {
			t.Fatal(err)
		}
		body, sig := event(t, "evt_p3", "checkout.session.completed", paidSession(o, "pi_3"), start, whsec, now)
		for range 2 {
			if _, err := f.svc.HandleStripe(f.ctx, body, sig); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.available(t); got != tollgate.Credits(7_500_000) {
			t.Fatalf("after a 25%% refund that came first: %s credits, want 7.5", got)
		}
	})
}

func TestConcurrentPartialRefunds(t *testing.T) {
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
		errs := make(chan error, 20)
		for i := range 20 {
			go func() {
				_, err := f.svc.Refund(f.ctx, o.ID, int64(100*(1+i%2)), 400) // a quarter, or half
				errs <- err
			}()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := f.available(t); got != tollgate.WholeCredits(5) {
			t.Fatalf("after refunds of a quarter and a half, many times over: %s credits, want 5", got)
		}
	})
}

// TestStripeMockTransfer sends a payout's transfer and starts an
// onboarding on stripe-mock, which checks the requests against Stripe's
// specification.
func TestStripeMockTransfer(t *testing.T) {
	url := os.Getenv("TOLLGATE_TEST_STRIPE_URL")
	if url == "" {
		t.Skip("TOLLGATE_TEST_STRIPE_URL not set (stripe-mock, e.g. http://127.0.0.1:12111): skipping")
	}
	p := NewStripe("sk_test_123", whsec, url, "https://tollgate.test")
	id, err := p.Transfer(context.Background(), "acct_123", tollgate.Money{Amount: 370, Currency: "usd"}, "payout-po_1", map[string]string{"payout_id": "po_1"})
	if err != nil || !strings.HasPrefix(id, "tr_") {
		t.Fatalf("stripe-mock transfer: %q, %v", id, err)
	}
	acct, link, err := p.Onboard(context.Background(), "creator", "", "https://tollgate.test/")
	if err != nil || !strings.HasPrefix(acct, "acct_") || link == "" {
		t.Fatalf("stripe-mock onboarding: %q %q, %v", acct, link, err)
	}
}

// TestStripeTransferOutcomes: Stripe's 4xx refuses a transfer for good (a
// *cameo.TransferError); a 5xx or a 429 leaves its outcome unknown.
func TestStripeTransferOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  int
		refused bool
	}{{400, true}, {404, true}, {429, false}, {500, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"No such destination: 'acct_gone'"}}`))
		}))
		p := NewStripe("sk_test_123", whsec, srv.URL, "https://tollgate.test")
		_, err := p.Transfer(context.Background(), "acct_gone", tollgate.Money{Amount: 100, Currency: "usd"}, "payout-po_2", nil)
		var refused *cameo.TransferError
		if errors.As(err, &refused) != tc.refused || err == nil {
			t.Errorf("Stripe answering %d: %v, want refused %v", tc.status, err, tc.refused)
		}
		srv.Close()
	}
}
