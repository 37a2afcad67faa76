package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/payment"
	"tollgate/payment/stripetest"
)

// TestSubscriptionsOverHTTP: an operator prices Pro per currency; a French
// buyer subscribes in euros with VAT included, through Stripe (the
// stateful fake), is on Pro once Stripe's events arrive, sees the
// subscription and its invoice with the receipt, opens the customer
// portal and cancels; a pack bought in euros shows net, tax and gross and
// its receipt; the price table puts the buyer's currency first.
func TestSubscriptionsOverHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "marie", "free", "Europe/Paris")
		marie := e.createKey(t, "marie")
		e.createAccount(t, "other", "free", "UTC")
		other := e.createKey(t, "other")
		e.createAccount(t, "third", "free", "UTC")
		third := e.createKey(t, "third")
		// Without Stripe, outside demo mode, nothing is sold as a
		// subscription, and it says why.
		demo := e.api.Payments.Provider
		e.api.Payments.Provider = nil
		p := problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/subscriptions", Key: marie, Body: `{"plan":"pro"}`}), http.StatusForbidden, tollgate.CodeForbidden)
		if !strings.Contains(p.Detail, "TOLLGATE_STRIPE_SECRET_KEY") {
			t.Fatalf("without Stripe: %+v", p)
		}
		e.api.Payments.Provider = demo
		price := `{"interval":"month","prices":[{"amount":2000,"currency":"usd"},{"amount":1900,"currency":"eur"},{"amount":30000000,"currency":"idr"}]}`
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/plans/pro/prices", Key: marie, Body: price}), http.StatusForbidden, tollgate.CodeForbidden)
		before := e.world(t)
		for body, param := range map[string]string{
			`{"interval":"week","prices":[{"amount":1,"currency":"usd"}]}`:   "interval",
			`{"interval":"month","prices":[]}`:                               "prices",
			`{"interval":"month","prices":[{"amount":1,"currency":"US"}]}`:   "prices",
			`{"interval":"month","prices":[{"amount":-5,"currency":"usd"}]}`: "prices",
		} {
			p := problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/plans/pro/prices", Key: adminKey, Body: body}), http.StatusUnprocessableEntity, tollgate.CodeInvalidField)
			if p.Field != param {
				t.Errorf("%s: %+v, want it to name %s", body, p, param)
			}
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/plans/gold/prices", Key: adminKey, Body: price}), http.StatusNotFound, tollgate.CodeNotFound)
		e.unchanged(t, before)
		var pp planPriceView
		e.call(t, request{Method: "POST", Path: "/v1/plans/pro/prices", Key: adminKey, Body: price}, http.StatusOK, &pp)
		if !pp.Active || len(pp.Prices) != 3 {
			t.Fatalf("plan price %+v", pp)
		}
		var plans listView[planView]
		e.call(t, request{Method: "GET", Path: "/v1/plans"}, http.StatusOK, &plans)
		for _, pl := range plans.Data {
			if n := len(pl.Prices); (pl.ID == "pro") != (n == 1) {
				t.Errorf("plan %s lists %d prices", pl.ID, n)
			}
		}

		// Demo mode: the other account subscribes at once, and cancels.
		var dv subscribeView
		e.call(t, request{Method: "POST", Path: "/v1/subscriptions", Key: other, Body: `{"plan":"pro"}`}, http.StatusCreated, &dv)
		if !strings.HasPrefix(dv.CheckoutURL, "http") || !strings.HasSuffix(dv.CheckoutURL, "/checkout/subscribed") {
			t.Fatalf("demo subscription %+v", dv)
		}
		if status, body := e.page(t, "GET", dv.CheckoutURL); status != 200 || !strings.Contains(body, "demo") {
			t.Fatalf("demo return page: %d %s", status, body)
		}
		var demoSubs listView[subscriptionView]
		e.call(t, request{Method: "GET", Path: "/v1/subscriptions", Key: other}, http.StatusOK, &demoSubs)
		if len(demoSubs.Data) != 1 || !demoSubs.Data[0].Entitled {
			t.Fatalf("demo subscriptions %+v", demoSubs.Data)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/subscriptions/" + demoSubs.Data[0].ID + "/cancel", Key: marie}), http.StatusNotFound, tollgate.CodeNotFound)
		var cancelled subscriptionView
		e.call(t, request{Method: "POST", Path: "/v1/subscriptions/" + demoSubs.Data[0].ID + "/cancel", Key: other}, http.StatusOK, &cancelled)
		if !cancelled.CancelAtPeriodEnd || !cancelled.Entitled {
			t.Fatalf("demo cancel: %+v", cancelled)
		}

		fake := stripetest.New(e.clock)
		st := payment.NewStripeAPI(fake, "whsec_endpoint", e.srv.URL)
		st.Tax = payment.TaxPolicy{Automatic: true, Inclusive: []string{"eur", "idr"}}
		e.api.Payments.Provider = st
		deliver := func(evs ...stripetest.Event) {
			t.Helper()
			for _, ev := range evs {
				body, sig := stripetest.Signed(ev, "whsec_endpoint", time.Now())
				e.call(t, request{Method: "POST", Path: "/v1/webhooks/stripe", Body: string(body), Header: map[string]string{"Stripe-Signature": sig}}, http.StatusOK, nil)
			}
		}
		e.call(t, request{Method: "POST", Path: "/v1/accounts/marie", Key: adminKey, Body: `{"currency":"eur"}`}, http.StatusOK, nil)
		var sv subscribeView
		idem := map[string]string{"Idempotency-Key": "sub-marie-1"}
		e.call(t, request{Method: "POST", Path: "/v1/subscriptions", Key: marie, Body: `{"plan":"pro"}`, Header: idem}, http.StatusCreated, &sv)
		if sv.Price != (tollgate.Money{Amount: 1900, Currency: "eur"}) || sv.TaxBehavior != "inclusive" || sv.Interval != "month" {
			t.Fatalf("subscription checkout %+v, want 19.00 EUR VAT included", sv)
		}
		var again subscribeView
		e.call(t, request{Method: "POST", Path: "/v1/subscriptions", Key: marie, Body: `{"plan":"pro"}`, Header: idem}, http.StatusCreated, &again)
		if again.CheckoutURL != sv.CheckoutURL {
			t.Fatalf("a retry with the same Idempotency-Key gave another checkout: %s, %s", again.CheckoutURL, sv.CheckoutURL)
		}
		session := sv.CheckoutURL[strings.LastIndex(sv.CheckoutURL, "/")+1:]
		deliver(fake.Pay(t, session)...)
		var bal struct {
			Plan string `json:"plan"`
		}
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: marie}, http.StatusOK, &bal)
		if bal.Plan != "pro" {
			t.Fatalf("after paying, plan %q", bal.Plan)
		}
		var subs listView[subscriptionView]
		e.call(t, request{Method: "GET", Path: "/v1/subscriptions", Key: marie}, http.StatusOK, &subs)
		if len(subs.Data) != 1 || !subs.Data[0].Entitled || subs.Data[0].Currency != "eur" || subs.Data[0].Plan != "pro" {
			t.Fatalf("subscriptions %+v", subs.Data)
		}
		id := subs.Data[0].ID
		var sub subscriptionView
		e.call(t, request{Method: "GET", Path: "/v1/subscriptions/" + id, Key: marie}, http.StatusOK, &sub)
		if len(sub.Invoices) != 1 || sub.Invoices[0].Paid.Net != 1583 || sub.Invoices[0].Paid.Tax != 317 || sub.Invoices[0].Paid.Gross != 1900 ||
			sub.Invoices[0].Paid.ReceiptURL == "" || sub.Invoices[0].Paid.InvoiceURL == "" || sub.Invoices[0].PDFURL == "" {
			t.Fatalf("invoices %+v", sub.Invoices)
		}
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/subscriptions/" + id, Key: other}), http.StatusNotFound, tollgate.CodeNotFound)
		e.call(t, request{Method: "GET", Path: "/v1/subscriptions", Key: other}, http.StatusOK, &subs)
		for _, o := range subs.Data {
			if o.ID == id {
				t.Fatalf("another account sees %+v", o)
			}
		}
		p = problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/subscriptions", Key: marie, Body: `{"plan":"pro"}`}), http.StatusConflict, tollgate.CodeConflict)
		if !strings.Contains(p.Detail, "/v1/subscriptions/portal") {
			t.Fatalf("subscribing twice: %+v", p)
		}
		var portal portalView
		e.call(t, request{Method: "POST", Path: "/v1/subscriptions/portal", Key: marie}, http.StatusOK, &portal)
		if !strings.HasPrefix(portal.URL, "https://billing.stripe.test/") {
			t.Fatalf("portal %+v", portal)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/subscriptions/portal", Key: third}), http.StatusNotFound, tollgate.CodeNotFound)
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/subscriptions/portal", Key: marie, Body: `{"return_url":"javascript:alert(1)"}`}),
			http.StatusUnprocessableEntity, tollgate.CodeInvalidField)
		// The buyer cancels in the portal: Pro stays to the period's end.
		deliver(fake.Cancel(id)...)
		e.call(t, request{Method: "GET", Path: "/v1/subscriptions/" + id, Key: marie}, http.StatusOK, &sub)
		if !sub.CancelAtPeriodEnd || !sub.Entitled {
			t.Fatalf("after cancelling: %+v", sub)
		}
		var full balanceView
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: marie}, http.StatusOK, &full)
		if full.Plan != "pro" || full.Subscription == nil || full.Subscription.LeavesPlanAt == nil || !full.Subscription.LeavesPlanAt.Equal(sub.CurrentPeriodEnd) ||
			full.Subscription.FallbackPlan != "free" {
			t.Fatalf("cancelled, the balance shows plan %q and %+v; want pro, leaving it at %s", full.Plan, full.Subscription, sub.CurrentPeriodEnd)
		}
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: third}, http.StatusOK, &full)
		if full.Subscription != nil {
			t.Fatalf("an account without a subscription: %+v", full.Subscription)
		}

		// A pack in euros: VAT included, recorded with the receipt.
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey, Body: `{"id":"pack_world","credits":"10","price":{"amount":400,"currency":"usd"},
			"valid_for_days":365,"prices":[{"amount":380,"currency":"eur"}]}`}, http.StatusCreated, nil)
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: marie, Body: `{"pack_id":"pack_world","currency":"eur"}`}, http.StatusCreated, &co)
		if co.Order.TaxBehavior != "inclusive" || co.Order.Paid != nil {
			t.Fatalf("order before paying %+v", co.Order)
		}
		deliver(fake.Pay(t, co.CheckoutURL[strings.LastIndex(co.CheckoutURL, "/")+1:])...)
		var o orderView
		e.call(t, request{Method: "GET", Path: "/v1/orders/" + co.Order.ID, Key: marie}, http.StatusOK, &o)
		if o.Status != "completed" || o.Paid == nil || o.Paid.Net != 317 || o.Paid.Tax != 63 || o.Paid.Gross != 380 || o.Paid.Currency != "eur" ||
			!strings.HasPrefix(o.Paid.ReceiptURL, "https://pay.stripe.test/receipts/") {
			t.Fatalf("paid order %+v %+v", o, o.Paid)
		}

		// The price table: the buyer's currency first.
		for _, c := range []struct {
			query, lang, want string
		}{{"", "fr-FR", "eur"}, {"?currency=usd", "fr-FR", "usd"}, {"", "ja", ""}, {"", "", ""}} {
			var table priceTableView
			e.call(t, request{Method: "GET", Path: "/v1/prices" + c.query, Header: map[string]string{"Accept-Language": c.lang}}, http.StatusOK, &table)
			if table.Currency != c.want {
				t.Errorf("%s %q: currency %q, want %q", c.query, c.lang, table.Currency, c.want)
			}
			for _, rule := range table.Current {
				if c.want != "" && len(rule.Money) > 0 && rule.Money[0].Currency != c.want {
					t.Errorf("%s %q: rule %s lists %s first", c.query, c.lang, rule.ID, rule.Money[0].Currency)
				}
			}
		}
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/prices?currency=EUR"}), http.StatusUnprocessableEntity, tollgate.CodeInvalidField)
	})
}
