package httpapi

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"tollgate"
	"tollgate/payment"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) page(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }() // read to the end below: nothing left to report
	b, _ := io.ReadAll(res.Body)
	if loc := res.Header.Get("Location"); loc != "" {
		return res.StatusCode, loc
	}
	return res.StatusCode, string(b)
}

func TestDevCheckoutGrantsOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "buyer", "free", "UTC")
		key := e.createKey(t, "buyer")
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: key, Body: `{"pack_id":"pack_10"}`}, http.StatusCreated, &co)
		if co.Order.Status != "pending" || co.Order.Credits != cr("10") || co.Order.Price.Amount != 400 || co.Order.Provider != "dev" ||
			co.CheckoutURL != e.srv.URL+"/checkout/dev/"+co.Order.ID {
			t.Fatalf("checkout %+v", co)
		}
		status, body := e.page(t, "GET", co.CheckoutURL)
		if status != 200 || !strings.Contains(body, "no money moves") || !strings.Contains(body, "4.00 USD") {
			t.Fatalf("dev page: %d %s", status, body)
		}
		if b := e.balance(t, "buyer"); b.ByProduct[tollgate.ProductAssistant] != 0 {
			t.Fatalf("credits before paying: %+v", b.ByProduct)
		}
		e.clock.Advance(time.Hour)
		for range 3 { // a double click, a reload: one grant
			if status, body = e.page(t, "POST", co.CheckoutURL); status != 200 || !strings.Contains(body, "completed") {
				t.Fatalf("confirm: %d %s", status, body)
			}
		}
		var o orderView
		e.call(t, request{Method: "GET", Path: "/v1/orders/" + co.Order.ID, Key: key}, http.StatusOK, &o)
		if o.Status != "completed" || o.GrantID == "" || o.CompletedAt == nil {
			t.Fatalf("order %+v, want completed with a grant", o)
		}
		b := e.balance(t, "buyer")
		if b.ByProduct[tollgate.ProductAssistant] != cr("10") {
			t.Fatalf("assistant balance %s, want the pack's 10", b.ByProduct[tollgate.ProductAssistant])
		}
		var g *balanceGrantView
		for i := range b.Grants {
			if b.Grants[i].ID == o.GrantID {
				g = &b.Grants[i]
			}
		}
		if want := testStart.Add(time.Hour).Add(365 * 24 * time.Hour); g == nil || g.Source != "purchase" || g.ExpiresAt == nil || !g.ExpiresAt.Equal(want) {
			t.Fatalf("grant %+v, want a purchase expiring %s (365 days after payment)", g, want)
		}
		// Another account sees nothing of it.
		e.createAccount(t, "other", "free", "UTC")
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/orders/" + co.Order.ID, Key: e.createKey(t, "other")}), 404, tollgate.CodeNotFound)
	})
}

func TestOfferLinksSell(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "poor", "free", "UTC")
		r := e.do(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"poor","product":"assistant","credits":"2"}`})
		p := problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
		link := (*p.Offers)[0].CheckoutURL

		u, _ := url.Parse(link)
		q := u.Query()
		q.Set("pack", "pack_999")
		u.RawQuery = q.Encode()
		if status, _ := e.page(t, "GET", u.String()); status != 404 {
			t.Fatalf("a tampered link answered %d, want 404", status)
		}
		// Following the link (a previewer, a mail scanner) makes nothing:
		// it shows the offer. Only its button, a POST, makes an order, and
		// pressing it again takes up the same one.
		before := e.world(t)
		for range 3 {
			if status, body := e.page(t, "GET", link); status != 200 || !strings.Contains(body, `method="post"`) {
				t.Fatalf("link: %d %s, want the offer's page", status, body)
			}
		}
		e.unchanged(t, before)
		status, loc := e.page(t, "POST", link)
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, e.srv.URL+"/checkout/dev/order_") {
			t.Fatalf("link's button: %d %s, want a redirect to the dev checkout", status, loc)
		}
		if status, again := e.page(t, "POST", link); status != http.StatusSeeOther || again != loc {
			t.Fatalf("the button again: %d %s, want the same order's checkout %s", status, again, loc)
		}
		if status, _ := e.page(t, "POST", loc); status != 200 {
			t.Fatalf("confirm: %d", status)
		}
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"poor","product":"assistant","credits":"2"}`}, http.StatusCreated, nil)
		e.clock.Advance(25 * time.Hour)
		if status, _ := e.page(t, "GET", link); status != 404 {
			t.Fatalf("a day-old link answered %d, want 404", status)
		}
	})
}

func TestPacksAdmin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		key := e.createKey(t, "a")
		var pk packView
		e.call(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey,
			Body: `{"id":"video_50","credits":"50","price":{"amount":1500,"currency":"usd"},"valid_for_days":90,"products":["video"]}`}, http.StatusCreated, &pk)
		if !pk.Active || pk.Credits != cr("50") {
			t.Fatalf("pack %+v", pk)
		}
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: key, Body: `{"product":"video","model":"sora-2","seconds":4}`}, http.StatusCreated, &q)
		if q.Money == nil || q.Money.PackID != "video_50" || q.Money.Amount != 12 {
			t.Fatalf("money %+v, want 0.4 credits at video_50's 30 cents a credit = 12", q.Money)
		}
		e.call(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey,
			Body: `{"id":"video_50","credits":"50","price":{"amount":1500,"currency":"usd"},"valid_for_days":90,"active":false}`}, http.StatusCreated, nil)
		for _, tc := range []struct {
			name, key, path, body string
			status                int
			code                  tollgate.Code
		}{
			{"inactive pack", key, "/v1/checkout", `{"pack_id":"video_50"}`, 422, tollgate.CodeInvalidField},
			{"unknown pack", key, "/v1/checkout", `{"pack_id":"pack_1000"}`, 404, tollgate.CodeNotFound},
			{"no pack", key, "/v1/checkout", `{}`, 422, tollgate.CodeInvalidField},
			{"another account", key, "/v1/checkout", `{"account_id":"b","pack_id":"pack_10"}`, 404, tollgate.CodeNotFound},
			{"account key makes packs", key, "/v1/packs", `{"id":"x","credits":"1","price":{"amount":1,"currency":"usd"},"valid_for_days":1}`, 403, tollgate.CodeForbidden},
			{"bad currency", adminKey, "/v1/packs", `{"id":"x","credits":"1","price":{"amount":1,"currency":"USD"},"valid_for_days":1}`, 422, tollgate.CodeInvalidField},
			{"no price", adminKey, "/v1/packs", `{"id":"x","credits":"1","valid_for_days":1}`, 422, tollgate.CodeInvalidField},
			{"zero days", adminKey, "/v1/packs", `{"id":"x","credits":"1","price":{"amount":1,"currency":"usd"},"valid_for_days":0}`, 422, tollgate.CodeInvalidField},
			{"bad id", adminKey, "/v1/packs", `{"id":"X Y","credits":"1","price":{"amount":1,"currency":"usd"},"valid_for_days":1}`, 422, tollgate.CodeInvalidField},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				problemOf(t, e.do(t, request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body}), tc.status, tc.code)
				e.unchanged(t, before)
			})
		}
	})
}

func TestStripeWebhookEndpoint(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		// Without Stripe configured there is no webhook to receive.
		r := e.do(t, request{Method: "POST", Path: "/v1/webhooks/stripe", Body: `{}`})
		problemOf(t, r, http.StatusNotFound, tollgate.CodeNotFound)

		e.api.Payments.Provider = payment.NewStripe("sk_test_x", "whsec_endpoint", "http://127.0.0.1:1", e.srv.URL)
		e.createAccount(t, "w", "free", "UTC")
		body := `{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1790000000,"data":{"object":{"id":"cs_1","object":"checkout.session","client_reference_id":"order_x","payment_status":"paid"}}}`
		good := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_endpoint"})
		forged := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_other"})
		before := e.world(t)
		for _, sig := range []string{forged.Header, "", "t=1,v1=abc"} {
			r := e.do(t, request{Method: "POST", Path: "/v1/webhooks/stripe", Body: body, Header: map[string]string{"Stripe-Signature": sig}})
			problemOf(t, r, http.StatusBadRequest, tollgate.CodeInvalidSignature)
		}
		if n := strings.Count(e.logs.String(), "stripe webhook refused"); n != 3 {
			t.Fatalf("logged %d refusals, want 3: %s", n, e.logs)
		}
		e.logs.Reset() // refusals are meant to be logged as warnings
		e.unchanged(t, before)
		var out struct {
			Received bool   `json:"received"`
			Result   string `json:"result"`
		}
		e.call(t, request{Method: "POST", Path: "/v1/webhooks/stripe", Body: body, Header: map[string]string{"Stripe-Signature": good.Header}}, http.StatusOK, &out)
		if !out.Received || !strings.Contains(out.Result, "unknown order") {
			t.Fatalf("got %+v, want an unknown order logged", out)
		}
	})
}

func TestBalanceListsExpiringSoon(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "x", "free", "UTC")
		soon := e.grant(t, "x", `{"credits":"2","valid_for_days":30}`)
		e.grant(t, "x", `{"credits":"3","valid_for_days":31}`)
		e.grant(t, "x", `{"credits":"4"}`)
		b := e.balance(t, "x")
		if len(b.ExpiringSoon) != 1 || b.ExpiringSoon[0].ID != soon.ID {
			t.Fatalf("expiring soon %+v, want only the 30-day grant", b.ExpiringSoon)
		}
		e.clock.Advance(24 * time.Hour)
		if b := e.balance(t, "x"); len(b.ExpiringSoon) != 2 {
			t.Fatalf("a day later: %d expiring soon, want 2", len(b.ExpiringSoon))
		}
	})
}

// TestReturnPages: the pages a buyer lands on from the payment provider
// need no key, show the order's state, and refuse a link not signed.
func TestReturnPages(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "back", "free", "UTC")
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: adminKey, Body: `{"account_id":"back","pack_id":"pack_10"}`}, http.StatusCreated, &co)
		ret := e.api.Payments.ReturnOf(co.Order.ID)
		if status, body := e.page(t, "GET", e.srv.URL+ret.Done); status != 200 || !strings.Contains(body, "Payment received") {
			t.Fatalf("done, before confirmation: %d %s", status, body)
		}
		if status, body := e.page(t, "GET", e.srv.URL+ret.Cancelled); status != 200 || !strings.Contains(body, "nothing was charged") {
			t.Fatalf("cancelled: %d %s", status, body)
		}
		if status, _ := e.page(t, "POST", co.CheckoutURL); status != 200 {
			t.Fatal("confirm failed")
		}
		if status, body := e.page(t, "GET", e.srv.URL+ret.Done); status != 200 || !strings.Contains(body, "Credits added") {
			t.Fatalf("done, after confirmation: %d %s", status, body)
		}
		if status, _ := e.page(t, "GET", e.srv.URL+"/checkout/done/"+co.Order.ID+"?sig=forged"); status != 404 {
			t.Fatalf("a forged link answered %d, want 404", status)
		}
	})
}

// TestRefundOrderEndpoint: the operator refunds a development order through
// the API: at once, replayed for its Idempotency-Key, refused twice.
func TestRefundOrderEndpoint(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "rf", "free", "UTC")
		key := e.createKey(t, "rf")
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: key, Body: `{"pack_id":"pack_10"}`}, http.StatusCreated, &co)
		if status, _ := e.page(t, "POST", co.CheckoutURL); status != 200 {
			t.Fatal("confirm failed")
		}
		e.call(t, request{Method: "POST", Path: "/v1/orders/" + co.Order.ID + "/refund", Key: key}, http.StatusForbidden, nil)
		idem := map[string]string{"Idempotency-Key": "refund-rf"}
		var rv refundView
		e.call(t, request{Method: "POST", Path: "/v1/orders/" + co.Order.ID + "/refund", Key: adminKey, Header: idem}, http.StatusOK, &rv)
		if !rv.Applied || rv.Amount.Amount != 400 || rv.Order.Status != "refunded" {
			t.Fatalf("refund: %+v", rv)
		}
		r := e.call(t, request{Method: "POST", Path: "/v1/orders/" + co.Order.ID + "/refund", Key: adminKey, Header: idem}, http.StatusOK, nil)
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("the refund repeated with its key was not a replay")
		}
		e.call(t, request{Method: "POST", Path: "/v1/orders/" + co.Order.ID + "/refund", Key: adminKey}, http.StatusConflict, nil)
		var audit listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?action=order.refund", Key: adminKey}, http.StatusOK, &audit)
		if len(audit.Data) != 1 || audit.Data[0].Target != co.Order.ID || audit.Data[0].ActorKind != "admin" ||
			!strings.Contains(string(audit.Data[0].Detail), `"refunded":400`) {
			t.Fatalf("the refund's audit entries: %+v", audit.Data)
		}
		var b balanceView
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: key}, http.StatusOK, &b)
		if b.ByProduct["assistant"] != cr("0") {
			t.Fatalf("after the refund: %v", b.ByProduct)
		}
	})
}

// TestLinksBase: the links Tollgate gives (checkout, offers) use the public
// URL when set; else what a trusted proxy forwards; else where the server
// listens, never a Host header anyone could send.
func TestLinksBase(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "lb", "free", "UTC")
		key := e.createKey(t, "lb")
		link := func(h map[string]string) string {
			t.Helper()
			var co checkoutView
			e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: key, Body: `{"pack_id":"pack_10"}`, Header: h}, http.StatusCreated, &co)
			return co.CheckoutURL
		}
		forged := map[string]string{"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
		e.api.ListenURL = "http://10.1.2.3:8080"
		if u := link(forged); !strings.HasPrefix(u, "http://10.1.2.3:8080/") {
			t.Fatalf("untrusted peer: %s, want the listen URL", u)
		}
		e.api.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		proxied := map[string]string{"X-Forwarded-Host": "tollgate.example.com, inner.local", "X-Forwarded-Proto": "https"}
		if u := link(proxied); !strings.HasPrefix(u, "https://tollgate.example.com/") {
			t.Fatalf("from a trusted proxy: %s, want its forwarded host and scheme", u)
		}
		if u := link(map[string]string{"X-Forwarded-Host": "bad host/x", "X-Forwarded-Proto": "gopher"}); !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("a trusted proxy forwarding nonsense: %s, want its Host", u)
		}
		e.api.BaseURL = "https://pay.example.org"
		if u := link(proxied); !strings.HasPrefix(u, "https://pay.example.org/") {
			t.Fatalf("with a public URL: %s", u)
		}
	})
}

// TestPricesInCurrencies: a pack priced in several currencies is offered
// in the buyer's (from Accept-Language), its link and a checkout make the
// order in that currency, and the minor units are Stripe's (IDR in
// hundredths).
func TestPricesInCurrencies(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.call(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey, Body: `{"id":"pack_world","credits":"10","price":{"amount":400,"currency":"usd"},
			"valid_for_days":365,"prices":[{"amount":380,"currency":"eur"},{"amount":6500000,"currency":"idr"}]}`}, http.StatusCreated, nil)
		var packs listView[packView]
		e.call(t, request{Method: "GET", Path: "/v1/packs", Key: adminKey}, 200, &packs)
		var world packView
		for _, p := range packs.Data {
			if p.ID == "pack_world" {
				world = p
			}
		}
		if len(world.Prices) != 2 || world.Prices[1] != (tollgate.Money{Amount: 6_500_000, Currency: "idr"}) {
			t.Fatalf("pack %+v", world)
		}
		e.createAccount(t, "marie", "free", "Europe/Paris")
		key := e.createKey(t, "marie")
		offerFor := func(lang string) Offer {
			t.Helper()
			r := e.do(t, request{Method: "POST", Path: "/v1/usage", Key: key, Body: `{"product":"assistant","credits":"2"}`,
				Header: map[string]string{"Accept-Language": lang}})
			p := problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
			for _, o := range *p.Offers {
				if o.PackID == "pack_world" {
					return o
				}
			}
			t.Fatalf("no offer of pack_world in %+v", *p.Offers)
			return Offer{}
		}
		for lang, want := range map[string]tollgate.Money{
			"fr-FR,fr;q=0.9,en;q=0.5": {Amount: 380, Currency: "eur"},
			"id":                      {Amount: 6_500_000, Currency: "idr"},
			"en-US":                   {Amount: 400, Currency: "usd"},
			"ja-JP":                   {Amount: 400, Currency: "usd"}, // not sold in yen: the default
			"":                        {Amount: 400, Currency: "usd"},
		} {
			if got := offerFor(lang).Price; got != want {
				t.Errorf("Accept-Language %q: offered %+v, want %+v", lang, got, want)
			}
		}
		// The account's own currency comes before its requests' language.
		e.call(t, request{Method: "POST", Path: "/v1/accounts/marie", Key: adminKey, Body: `{"currency":"idr"}`}, 200, nil)
		if got := offerFor("fr-FR").Price; got != (tollgate.Money{Amount: 6_500_000, Currency: "idr"}) {
			t.Errorf("an account that buys in rupiah was offered %+v", got)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/accounts/marie", Key: adminKey, Body: `{"currency":"rupiah"}`}), 422, tollgate.CodeInvalidField)
		var acct accountView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/marie", Key: adminKey, Body: `{"currency":""}`}, 200, &acct)
		if acct.Currency != "" {
			t.Errorf("currency cleared: %q", acct.Currency)
		}
		// The public price table shows each rule at the pack's rate in
		// every currency it is sold in.
		var table priceTableView
		e.call(t, request{Method: "GET", Path: "/v1/prices"}, 200, &table)
		got := map[string]int64{}
		for _, rule := range table.Current {
			if rule.ID == "video-standard-720p" {
				for _, m := range rule.Money {
					if m.PackID == "pack_world" {
						got[m.Currency] = m.Amount
					}
				}
			}
		}
		// 0.1 credits a second at 10 credits for 4.00 USD, 3.80 EUR, Rp 65,000: rounded up.
		if got["usd"] != 4 || got["eur"] != 4 || got["idr"] != 65_000 {
			t.Errorf("price table for pack_world: %v", got)
		}
		// A quote's money equivalent is in the buyer's currency too: 10
		// credits for 3.80 EUR, so 0.4 credits cost 0.152 EUR, rounded up.
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: key, Body: `{"product":"video","model":"sora-2","seconds":4}`,
			Header: map[string]string{"Accept-Language": "fr-FR"}}, http.StatusCreated, &q)
		if q.Money == nil || q.Money.Currency != "eur" || q.Money.PackID != "pack_world" || q.Money.Amount != 16 {
			t.Errorf("quote's money in French: %+v", q.Money)
		}
		// The French offer's link shows and sells in euros.
		link := offerFor("fr-FR").CheckoutURL
		if status, body := e.page(t, "GET", link); status != 200 || !strings.Contains(body, "3.80 EUR") {
			t.Fatalf("offer page: %d %s", status, body)
		}
		if status, loc := e.page(t, "POST", link); status != http.StatusSeeOther {
			t.Fatalf("offer button: %d %s", status, loc)
		}
		var orders listView[orderView]
		e.call(t, request{Method: "GET", Path: "/v1/orders", Key: key}, 200, &orders)
		if len(orders.Data) != 1 || orders.Data[0].Price != (tollgate.Money{Amount: 380, Currency: "eur"}) {
			t.Fatalf("orders %+v, want one in euros", orders.Data)
		}
		// A checkout names its currency; one the pack is not sold in is a 422.
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: key, Body: `{"pack_id":"pack_world","currency":"idr"}`}, http.StatusCreated, &co)
		if co.Order.Price != (tollgate.Money{Amount: 6_500_000, Currency: "idr"}) {
			t.Errorf("checkout in rupiah: %+v", co.Order.Price)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/checkout", Key: key, Body: `{"pack_id":"pack_world","currency":"jpy"}`}), 422, tollgate.CodeInvalidField)
		// Bad prices: a 422 naming prices, nothing changed.
		for _, body := range []string{
			`{"id":"pack_bad","credits":"1","price":{"amount":100,"currency":"usd"},"valid_for_days":1,"prices":[{"amount":100,"currency":"usd"}]}`,
			`{"id":"pack_bad","credits":"1","price":{"amount":100,"currency":"usd"},"valid_for_days":1,"prices":[{"amount":0,"currency":"eur"}]}`,
			`{"id":"pack_bad","credits":"1","price":{"amount":100,"currency":"usd"},"valid_for_days":1,"prices":[{"amount":5,"currency":"EUR"}]}`,
		} {
			if p := problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey, Body: body}), 422, tollgate.CodeInvalidField); p.Field != "prices" {
				t.Errorf("%s: field %q, want prices", body, p.Field)
			}
		}
	})
}
