package httpapi

import (
	"cmp"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/payment"
	"tollgate/pricing"
	"tollgate/store/record"
)

type orderView struct {
	ID           string             `json:"id"`
	Object       string             `json:"object" const:"order"`
	AccountID    string             `json:"account_id"`
	PackID       string             `json:"pack_id"`
	Credits      tollgate.Credits   `json:"credits"`
	Price        tollgate.Money     `json:"price"`
	ValidForDays int                `json:"valid_for_days"`
	Products     []tollgate.Product `json:"products"`
	Status       string             `json:"status" enum:"pending,completed,refunded"`
	Provider     string             `json:"provider" enum:"dev,stripe"`
	GrantID      string             `json:"grant_id,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
	CompletedAt  *time.Time         `json:"completed_at"`
	RefundedAt   *time.Time         `json:"refunded_at"`
	// PaymentProblem says why a payment naming the order was refused.
	PaymentProblem string       `json:"payment_problem,omitempty" doc:"Present when a payment naming this order was refused: it was not the order's checkout session, or paid another amount or currency. Nothing was granted for it; refund it in Stripe."`
	Dispute        *disputeView `json:"dispute" doc:"A dispute (chargeback) of the order's payment; null if none."`
	TaxBehavior    string       `json:"tax_behavior" enum:"inclusive,exclusive,none" doc:"How price relates to tax: inclusive (the price includes the tax, e.g. VAT), exclusive (tax is added at checkout), none (no tax computed: the price is stated before any tax)."`
	Paid           *paidView    `json:"paid" doc:"What the buyer paid, as the payment provider reported it, with its receipt; null until then, and for development orders."`
}

// paidView is what a buyer paid: net, tax and gross, and the links.
type paidView struct {
	Currency   string `json:"currency"`
	Net        int64  `json:"net" doc:"Minor units, before tax."`
	Tax        int64  `json:"tax" doc:"Minor units of tax (included in the price or added to it)."`
	Gross      int64  `json:"gross" doc:"Minor units paid: net + tax."`
	ReceiptURL string `json:"receipt_url" doc:"The payment provider's receipt; empty until it has one."`
	InvoiceURL string `json:"invoice_url" doc:"The provider's invoice page, where one was made; empty otherwise."`
}

func (paidView) schemaName() string { return "Paid" }

func viewPaid(p *tollgate.Paid) *paidView {
	if p == nil {
		return nil
	}
	return &paidView{p.Currency, p.Net, p.Tax, p.Gross, p.ReceiptURL, p.InvoiceURL}
}

func taxBehavior(t tollgate.TaxBehavior) string { return cmp.Or(string(t), "none") }

// disputeView is a dispute of an order's payment.
type disputeView struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func viewOrder(o tollgate.Order) orderView {
	var d *disputeView
	if o.DisputeID != "" {
		d = &disputeView{o.DisputeID, string(o.DisputeStatus)}
	}
	return orderView{o.ID, "order", o.AccountID, o.PackID, o.Credits, o.Price, o.ValidForDays, productList(o.Products), string(o.Status), o.Provider,
		o.GrantID, o.CreatedAt, o.CompletedAt, o.RefundedAt, o.PaymentProblem, d, taxBehavior(o.TaxBehavior), viewPaid(o.Paid)}
}

type checkoutView struct {
	Object      string    `json:"object" const:"checkout"`
	Order       orderView `json:"order"`
	CheckoutURL string    `json:"checkout_url" doc:"Send the buyer here to pay. With no payment provider configured it is Tollgate's own development page, which says that no money moves."`
}

// baseURL is where clients reach this server, for the links it gives:
// BaseURL when set; from a trusted proxy, the host and scheme it forwards
// (X-Forwarded-Host and -Proto) or the Host it sent; else ListenURL, where
// the server listens, and only without that the request's Host (which
// anyone can set, so it is not trusted when there is a choice).
func (s *Server) baseURL(r *http.Request) string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if s.trustedPeer(r) {
		host := r.Host
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			host = h
		}
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		return scheme + "://" + host
	}
	if s.ListenURL != "" {
		return s.ListenURL
	}
	return scheme + "://" + r.Host
}

// trustedPeer reports whether r came straight from a proxy
// TrustedProxies lists.
func (s *Server) trustedPeer(r *http.Request) bool {
	if len(s.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// validHost reports whether h is a host[:port] fit for a URL.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == "" && u.RawQuery == ""
}

func (s *Server) absolute(r *http.Request, u string) string {
	if strings.HasPrefix(u, "/") {
		return s.baseURL(r) + u
	}
	return u
}

type checkoutRequest struct {
	AccountID string `json:"account_id" doc:"Required with an admin key; with an account key, absent or the key's own account."`
	PackID    string `json:"pack_id" required:"true"`
	Currency  string `json:"currency" doc:"One the pack is sold in (GET /v1/packs lists its prices); default its first."`
}

func (s *Server) createCheckout(r *http.Request, c *call, in *struct{ Body checkoutRequest }) (checkoutView, error) {
	req := in.Body
	acct, err := c.bodyAccount(req.AccountID)
	if err != nil {
		return checkoutView{}, err
	}
	if req.PackID == "" {
		return checkoutView{}, tollgate.FieldError("pack_id", "is required; see GET /v1/packs")
	}
	view := func(v any) any {
		st := v.(payment.Started)
		return checkoutView{"checkout", viewOrder(st.Order), s.absolute(r, st.URL)}
	}
	o, u, err := s.Payments.CheckoutIn(r.Context(), acct, req.PackID, req.Currency, c.idempotency(r, view))
	if err != nil {
		return checkoutView{}, err
	}
	return view(payment.Started{Order: o, URL: u}).(checkoutView), nil
}

type refundView struct {
	Object   string         `json:"object" const:"refund"`
	Order    orderView      `json:"order"`
	Amount   tollgate.Money `json:"amount"`
	RefundID string         `json:"refund_id,omitempty" doc:"The payment provider's refund."`
	// Applied: the credits were taken back already (a development
	// order); otherwise they follow the provider's refund event.
	Applied bool `json:"applied" doc:"true: the credits were taken back already (a development order). false: they are taken back, exactly once, when the provider's refund event arrives."`
}

// refundOrder refunds an order's payment, all that is left or part: through
// Stripe, whose event then takes the credits back exactly once; a
// development order at once.
type refundRequest struct {
	Amount *int64 `json:"amount" doc:"Minor units of the order's currency; absent: all that is left to refund." minimum:"1"`
}

func (refundRequest) doc() string {
	return "The body may be empty: refund all that is left."
}

func (refundRequest) schemaName() string { return "RefundOrderRequest" }

func (s *Server) refundOrder(r *http.Request, c *call, in *struct {
	orderPath
	Body refundRequest `body:"optional"`
}) (refundView, error) {
	view := func(v any) any {
		rs := v.(payment.RefundStarted)
		return refundView{"refund", viewOrder(rs.Order), tollgate.Money{Amount: rs.Amount, Currency: rs.Order.Price.Currency}, rs.RefundID, rs.Applied}
	}
	k := c.idempotency(r, view)
	if k != nil {
		// A repeat is answered as the first was, without asking Stripe
		// (which would refund once anyway: its key derives from this one).
		if _, err := s.l.WriteIdempotent(r.Context(), nil, func(tx record.Tx) (any, error) {
			return nil, s.l.CheckIdempotent(r.Context(), tx, k)
		}); err != nil {
			return refundView{}, err
		}
	}
	rs, err := s.Payments.RefundPayment(r.Context(), in.ID, in.Body.Amount, k)
	if err != nil {
		return refundView{}, err
	}
	// The answer is remembered with the audit entry of a refund the
	// provider now makes (the credits follow its event, recorded then as
	// order.refund); a development order's refund was recorded as made.
	if _, err := s.l.WriteIdempotent(r.Context(), k, func(tx record.Tx) (any, error) {
		if rs.Applied {
			return rs, nil
		}
		return rs, s.l.Audit(r.Context(), tx, "order.refund_requested", rs.Order.AccountID, rs.Order.ID,
			map[string]any{"amount": rs.Amount, "currency": rs.Order.Price.Currency, "refund_id": rs.RefundID})
	}); err != nil {
		var rep *ledger.Replayed
		if !errors.As(err, &rep) {
			s.log.ErrorContext(r.Context(), "a refund was asked of the provider but could not be recorded", "order", rs.Order.ID, "refund", rs.RefundID, "err", err)
		}
		return refundView{}, err
	}
	return view(rs).(refundView), nil
}

// listOrders lists orders a page at a time: an account's (the path's, or
// the caller's), or with an admin key every account's, optionally one's
// (?account_id=), in one status (?status=) or any.
// orderStatusQuery filters orders by status.
type orderStatusQuery struct {
	Status string `query:"status" enum:"pending,completed,refunded" doc:"Only orders in this status."`
}

func (s *Server) listOrders(r *http.Request, c *call, in *struct {
	AccountID string `query:"account_id" doc:"Admin key: only this account's orders. Account key: absent, or its own account."`
	orderStatusQuery
	pageQuery
}) (listView[orderView], error) {
	acct := in.AccountID
	if !c.key.Admin() {
		if acct != "" && acct != c.key.AccountID {
			return listView[orderView]{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", acct)
		}
		acct = c.key.AccountID
	}
	return s.orders(r, acct, in.Status, in.pageQuery)
}

func (s *Server) listAccountOrders(r *http.Request, c *call, in *struct {
	accountPath
	orderStatusQuery
	pageQuery
}) (listView[orderView], error) {
	acct, err := c.account(r)
	if err != nil {
		return listView[orderView]{}, err
	}
	return s.orders(r, acct, in.Status, in.pageQuery)
}

// orders lists orders a page at a time: one account's, or with acct
// empty every account's, in one status or any.
func (s *Server) orders(r *http.Request, acct, st string, pq pageQuery) (listView[orderView], error) {
	out := listView[orderView]{Object: "list", Data: []orderView{}}
	if acct != "" && (len(acct) > 200 || !tollgate.CleanText(acct)) {
		return out, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", acct)
	}
	status := tollgate.OrderStatus(st)
	switch status {
	case "", tollgate.OrderPending, tollgate.OrderCompleted, tollgate.OrderRefunded:
	default:
		return out, tollgate.FieldError("status", "must be pending, completed or refunded")
	}
	os, err := s.Payments.Orders(r.Context(), acct, status, pq.Cursor, pq.Limit+1)
	if err != nil {
		return out, err
	}
	for i, o := range os {
		if i == pq.Limit {
			out.HasMore, out.NextCursor = true, os[i-1].ID
			break
		}
		out.Data = append(out.Data, viewOrder(o))
	}
	return out, nil
}

// orderPath is the {id} of /v1/orders/{id}/...
type orderPath struct {
	ID string `path:"id" doc:"Order id (ord_...). With an account key, only its own orders (another's is 404)."`
}

func (s *Server) getOrder(r *http.Request, c *call, in *struct{ orderPath }) (orderView, error) {
	o, err := s.Payments.Order(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return orderView{}, err
	}
	return viewOrder(o), nil
}

type createPackRequest struct {
	ID           string             `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{0,63}$" required:"true"`
	Credits      amount             `json:"credits" required:"true"`
	Price        *tollgate.Money    `json:"price" required:"true"`
	ValidForDays int                `json:"valid_for_days" minimum:"1" maximum:"3650" required:"true"`
	Products     []tollgate.Product `json:"products" doc:"Empty or absent: every product."`
	Active       *bool              `json:"active" default:"true"`
	Prices       []tollgate.Money   `json:"prices" doc:"Its price in other currencies, each set here (never converted), in minor units as Stripe counts them: {\"amount\": 380, \"currency\": \"eur\"}, {\"amount\": 6500000, \"currency\": \"idr\"} (Rp 65,000)."`
}

func (s *Server) createPack(r *http.Request, c *call, in *struct{ Body createPackRequest }) (packView, error) {
	req := in.Body
	p := tollgate.Pack{ID: req.ID, ValidForDays: req.ValidForDays, Products: req.Products, Active: req.Active == nil || *req.Active}
	var err error
	if p.Credits, err = credits("credits", req.Credits); err != nil {
		return packView{}, err
	}
	if req.Price == nil {
		return packView{}, tollgate.FieldError("price", `is required, e.g. {"amount": 400, "currency": "usd"}`)
	}
	p.Price, p.Prices = *req.Price, req.Prices
	if err := pricing.CheckPack(p); err != nil {
		return packView{}, err
	}
	view := func(v any) any { return viewPack(v.(tollgate.Pack)) }
	p, err = s.Payments.PutPack(r.Context(), p, c.idempotency(r, view))
	if err != nil {
		return packView{}, err
	}
	return viewPack(p), nil
}

// render writes the page t makes of data. Once it has begun the status has
// been sent, so an error cannot be answered: one of the template's own (a
// field it cannot read, say) is a bug and logged as one; any other is the
// client's connection failing, which leaves nothing to undo.
func (s *Server) render(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := t.Execute(w, data)
	var execErr texttemplate.ExecError
	var escErr *template.Error
	switch {
	case err == nil:
	case errors.As(err, &execErr), errors.As(err, &escErr):
		s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		s.unsent(r, err)
	}
}

var devPage = template.Must(template.New("dev").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate checkout (development)</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.75rem 1rem;border-radius:.4rem}
button{font-size:1rem;padding:.5rem 1.2rem}</style></head><body>
<h1>{{if .Done}}Credits added{{else}}Confirm your purchase{{end}}</h1>
<p class="warn"><strong>Development checkout: no money moves.</strong> This server has no payment provider
configured, so confirming grants the credits without any charge.</p>
<p>Order <code>{{.Order.ID}}</code> for account <code>{{.Order.AccountID}}</code>:
pack <strong>{{.Order.PackID}}</strong>, {{.Order.Credits}} credits for {{.Price}},
valid {{.Order.ValidForDays}} days after payment.</p>
{{if .Done}}<p>Status: <strong>{{.Order.Status}}</strong>. The credits are in the account's balance.</p>
{{else}}<form method="post"><button type="submit">Confirm (no charge)</button></form>{{end}}
</body></html>`))

func formatMoney(m tollgate.Money) string { return m.Format() }

// devCheckout serves the dev provider's page: GET shows the order, POST
// completes it. Both say that no money moves.
func (s *Server) devCheckout(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.Payments.Provider.(payment.Dev); !ok {
		s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "the development checkout is off: a payment provider is configured"))
		return
	}
	o, err := s.Payments.Order(r.Context(), r.PathValue("id"), "")
	if err == nil && o.Provider != "dev" {
		err = tollgate.Errorf(tollgate.CodeNotFound, "order %s is not a development order", o.ID)
	}
	if err == nil && r.Method == http.MethodPost {
		o, err = s.Payments.Complete(r.Context(), o.ID, s.l.Clock().Now())
	}
	if err != nil {
		s.problem(w, r, err)
		return
	}
	s.render(w, r, devPage, map[string]any{"Order": o, "Price": formatMoney(o.Price), "Done": o.Status == tollgate.OrderCompleted})
}

var returnPage = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}</style></head><body>
<h1>{{.Title}}</h1>
<p>Order <code>{{.Order.ID}}</code>: pack <strong>{{.Order.PackID}}</strong>, {{.Order.Credits}} credits for {{.Price}}.</p>
<p>{{.Says}}</p>
</body></html>`))

// returnPage is where a buyer lands back from the payment provider: a
// signed link, so it needs no key, showing the order's state.
func (s *Server) returnPage(cancelled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !s.Payments.CheckReturn(id, r.URL.Query().Get("sig")) {
			s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "this page's link is not valid"))
			return
		}
		o, err := s.Payments.Order(r.Context(), id, "")
		if err != nil {
			s.problem(w, r, err)
			return
		}
		title, says := "Payment received", "Your credits are being added; this page shows them once the payment is confirmed. Reload it in a moment."
		switch {
		case o.Status == tollgate.OrderCompleted:
			title, says = "Credits added", "The payment is confirmed and the credits are in the account's balance."
		case o.Status == tollgate.OrderRefunded:
			title, says = "Refunded", "This order's payment was refunded."
		case cancelled:
			title, says = "No payment taken", "The checkout was left before paying; nothing was charged. The offer's link can be used again."
		}
		s.render(w, r, returnPage, map[string]any{"Title": title, "Says": says, "Order": o, "Price": formatMoney(o.Price)})
	}
}

var subscribePage = template.Must(template.New("subscribed").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}</style></head><body>
<h1>{{.Title}}</h1><p>{{.Says}}</p></body></html>`))

// subscribePage is where Stripe sends a buyer back from a subscription's
// checkout. It shows no account's data: the plan follows Stripe's events.
func (s *Server) subscribePage(cancelled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		title, says := "Subscription received", "Your plan changes as soon as the payment is confirmed, usually within seconds (in demo "+
			"mode it has changed already, and no money moved). GET /v1/subscriptions shows it; POST /v1/subscriptions/{id}/cancel cancels it."
		if cancelled {
			title, says = "No subscription started", "The checkout was left before paying; nothing was charged."
		}
		s.render(w, r, subscribePage, map[string]any{"Title": title, "Says": says})
	}
}

var offerPage = template.Must(template.New("offer").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Buy credits</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
button{font-size:1rem;padding:.5rem 1.2rem}</style></head><body>
<h1>Buy credits</h1>
<p>For account <code>{{.Account}}</code>: pack <strong>{{.Pack.ID}}</strong>, {{.Pack.Credits}} credits for {{.Price}},
valid {{.Pack.ValidForDays}} days after payment.</p>
<form method="post"><button type="submit">Continue to payment</button></form>
</body></html>`))

// startCheckout follows a signed offer link from a 402. A GET only shows
// the offer (link previewers and mail scanners follow links): its button,
// a POST, makes the order (or takes up the account's open order for the
// pack) and sends the buyer to the provider's checkout.
func (s *Server) startCheckout(w http.ResponseWriter, r *http.Request) {
	acct, packID, currency, err := s.Payments.CheckOfferLink(r.URL.Query(), s.l.Clock().Now())
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if r.Method != http.MethodPost {
		packs, err := s.Payments.Packs(r.Context())
		if err != nil {
			s.problem(w, r, err)
			return
		}
		for _, p := range packs {
			if price, ok := p.PriceIn(currency); ok && p.ID == packID && p.Active {
				s.render(w, r, offerPage, map[string]any{"Account": acct, "Pack": p, "Price": formatMoney(price)})
				return
			}
		}
		s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "pack %q is not sold any more; see GET /v1/packs", packID))
		return
	}
	_, u, err := s.Payments.CheckoutOpen(r.Context(), acct, packID, currency)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	http.Redirect(w, r, s.absolute(r, u), http.StatusSeeOther)
}

// offerList lists the packs that pay for the product the account lacked,
// each with a signed link that starts its checkout.
func (s *Server) offerList(r *http.Request, in *tollgate.Insufficient) []Offer {
	out := []Offer{}
	if s.Payments.Provider == nil { // nothing is sold here
		return out
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "no offers in a 402: packs unavailable", "err", err)
		return out
	}
	now := s.l.Clock().Now()
	chosen := ""
	if a, err := s.l.Account(r.Context(), in.AccountID); err == nil {
		chosen = a.Currency
	}
	want := buyerCurrencies(chosen, offerCurrencies(r))
	for _, p := range packs {
		if p.Active && p.Pays(in.Product) {
			price, cur := p.Price, ""
			for _, c := range want {
				if m, ok := p.PriceIn(c); ok {
					price, cur = m, c
					break
				}
			}
			if cur == p.Price.Currency {
				cur = ""
			}
			out = append(out, Offer{PackID: p.ID, Credits: p.Credits, Price: price, ValidForDays: p.ValidForDays,
				CheckoutURL: s.Payments.OfferLink(s.baseURL(r), in.AccountID, p.ID, cur, now)})
		}
	}
	return out
}

// stripeWebhook receives Stripe's events. The signature is the
// authentication: a forged or stale one is a 400 and changes nothing.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.problem(w, r, tollgate.Errorf(tollgate.CodeBodyTooLarge, "the event is over 1 MiB"))
		return
	}
	ctx := ledger.WithActor(r.Context(), ledger.Actor{KeyID: "stripe", Kind: ledger.ActorProvider, RequestID: ledger.ActorOf(r.Context()).RequestID})
	did, err := s.Payments.HandleStripe(ctx, body, r.Header.Get("Stripe-Signature"))
	switch {
	case errors.Is(err, payment.ErrBadSignature):
		s.log.WarnContext(r.Context(), "stripe webhook refused", "err", err)
		s.problem(w, r, tollgate.Errorf(tollgate.CodeInvalidSignature, "the Stripe-Signature does not verify with the configured webhook secret, or is older than %s", payment.WebhookTolerance))
		return
	case errors.Is(err, payment.ErrNotReady):
		s.log.InfoContext(r.Context(), "stripe webhook deferred", "err", err)
		s.problem(w, r, tollgate.Errorf(tollgate.CodeUnavailable, "%v", err))
		return
	case err != nil:
		s.problem(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "stripe webhook", "result", did)
	s.reply(w, r, http.StatusOK, map[string]any{"received": true, "result": did})
}

// checkoutPages serves the pages a buyer's browser sees and the payment
// provider's webhook: plain handlers, described here for the document.
func (s *Server) checkoutPages() {
	str := map[string]any{"type": "string"}
	pathID := map[string]any{"name": "id", "in": "path", "required": true, "description": "Order id (ord_...).", "schema": str}
	sig := map[string]any{"name": "sig", "in": "query", "required": true, "description": "The link's signature.", "schema": str}
	html := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"text/html": map[string]any{"schema": str}}}
	}
	problems := func(cs ...tollgate.Code) map[string]any {
		out := map[string]any{}
		byStatus := map[int][]tollgate.Code{}
		for _, c := range append(cs, tollgate.CodeInternal) {
			byStatus[statusOf[c]] = append(byStatus[statusOf[c]], c)
		}
		for st, cs := range byStatus {
			out[strconv.Itoa(st)] = problemResponse(st, cs)
		}
		return out
	}
	with := func(m map[string]any, code string, r map[string]any) map[string]any {
		m[code] = r
		return m
	}
	plain(s, op{pattern: "GET /checkout/dev/{id}", id: "showDevCheckout", tag: "purchases", summary: "Development checkout page",
		description: "Served only while no payment provider is configured. Shows the order and says plainly that no money moves.",
		raw:         &rawOp{params: []any{pathID}, responses: with(problems(tollgate.CodeNotFound), "200", html("The page."))}}, s.devCheckout)
	plain(s, op{pattern: "POST /checkout/dev/{id}", id: "confirmDevCheckout", tag: "purchases", summary: "Confirm a development checkout",
		description: "Grants the order's credits once, without any charge.",
		raw: &rawOp{params: []any{pathID}, responses: with(problems(tollgate.CodeNotFound, tollgate.CodeConflict, tollgate.CodeUnavailable,
			tollgate.CodeOutcomeUnknown), "200", html("The page, showing the completed order."))}}, s.devCheckout)
	offer := []any{
		map[string]any{"name": "account", "in": "query", "required": true, "description": "The account the offer was made to.", "schema": str},
		map[string]any{"name": "pack", "in": "query", "required": true, "description": "The pack offered.", "schema": str},
		map[string]any{"name": "exp", "in": "query", "required": true, "description": "When the link expires, in Unix seconds.", "schema": str},
		sig,
	}
	offerErrors := []tollgate.Code{tollgate.CodeAccountSuspended, tollgate.CodeNotFound, tollgate.CodeInvalidField,
		tollgate.CodeUnavailable, tollgate.CodeOutcomeUnknown}
	plain(s, op{pattern: "GET /checkout/start", id: "startCheckout", tag: "purchases", summary: "Show an offer's checkout link",
		description: "The checkout_url of a 402's offers: a signed link, valid a day. Following it (as link previewers and mail " +
			"scanners do) only shows the offer, with a button that POSTs to the same URL.",
		raw: &rawOp{params: offer, responses: with(problems(offerErrors...), "200", html("The offer's page, with its button."))}}, s.startCheckout)
	plain(s, op{pattern: "POST /checkout/start", id: "buyFromOffer", tag: "purchases", summary: "Buy from an offer's checkout link",
		description: "The offer page's button: makes the order, or takes up the account's order for this pack still open from the " +
			"last 23 hours, and redirects to the payment page.",
		raw: &rawOp{params: offer, responses: with(problems(offerErrors...), "303", map[string]any{"description": "To the payment page.",
			"headers": map[string]any{"Location": map[string]any{"schema": str, "description": "The payment page."}}})}}, s.startCheckout)
	back := []tollgate.Code{tollgate.CodeNotFound, tollgate.CodeUnavailable, tollgate.CodeOutcomeUnknown}
	plain(s, op{pattern: "GET /checkout/done/{id}", id: "checkoutDone", tag: "purchases", summary: "Back from paying",
		description: "Where the payment provider sends the buyer after paying: a signed link, no key needed, showing the order's " +
			"state (confirmed, or waiting for the provider's confirmation).",
		raw: &rawOp{params: []any{pathID, sig}, responses: with(problems(back...), "200", html("The order's state, as a page."))}}, s.returnPage(false))
	plain(s, op{pattern: "GET /checkout/cancelled/{id}", id: "checkoutCancelled", tag: "purchases", summary: "Back without paying",
		description: "Where the payment provider sends a buyer who left the checkout: a signed link saying nothing was charged.",
		raw:         &rawOp{params: []any{pathID, sig}, responses: with(problems(back...), "200", html("The order's state, as a page."))}}, s.returnPage(true))
	plain(s, op{pattern: "GET /checkout/subscribed", id: "subscribeDone", tag: "plans", summary: "Back from subscribing",
		description: "Where Stripe sends a buyer after paying for a subscription.",
		raw:         &rawOp{responses: with(problems(), "200", html("A page saying the plan changes once Stripe confirms the payment."))}}, s.subscribePage(false))
	plain(s, op{pattern: "GET /checkout/subscribe-cancelled", id: "subscribeCancelled", tag: "plans", summary: "Back without subscribing",
		description: "Where Stripe sends a buyer who left a subscription's checkout.",
		raw:         &rawOp{responses: with(problems(), "200", html("A page saying nothing was charged."))}}, s.subscribePage(true))
	received := map[string]any{"type": "object", "additionalProperties": false, "required": []any{"received", "result"},
		"properties": map[string]any{"received": map[string]any{"type": "boolean"}, "result": str}}
	plain(s, op{pattern: "POST /v1/webhooks/stripe", id: "stripeWebhook", tag: "purchases", summary: "Stripe webhook",
		description: "Stripe's events, authenticated by their Stripe-Signature. A paid checkout.session.completed grants the order's " +
			"credits once, recording net, tax, gross and the receipt; charge.refunded takes back what is unspent and records the rest as a " +
			"refund loss; customer.subscription.* and invoice.paid/payment_failed apply the subscription's state as fetched from Stripe, " +
			"moving the account's plan once. Replays and unknown orders are answered 200 without a second grant.",
		raw: &rawOp{
			params: []any{map[string]any{"name": "Stripe-Signature", "in": "header", "required": true, "schema": str}},
			body: map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object", "description": "A Stripe event, as Stripe sends it."}}}},
			responses: with(problems(tollgate.CodeInvalidSignature, tollgate.CodeBodyTooLarge, tollgate.CodeNotFound,
				tollgate.CodeUnavailable, tollgate.CodeOutcomeUnknown), "200", map[string]any{"description": "Received.",
				"content": map[string]any{"application/json": map[string]any{"schema": received}}}),
		}}, s.stripeWebhook)
}

// offerCurrencies are the currencies a 402's offers are shown in, most
// wanted first: content negotiation by Accept-Language, on any operation
// that may answer insufficient_credits.
func offerCurrencies(r *http.Request) []string {
	return localCurrencies(r.Header.Get("Accept-Language"))
}

// buyerCurrencies are the currencies a buyer wants prices in, most wanted
// first: the one it chose (its account's, or the request's), if any, then
// those its language suggests (localCurrencies).
func buyerCurrencies(chosen string, local []string) []string {
	if chosen == "" {
		return local
	}
	return append([]string{chosen}, local...)
}

// localCurrencies are the currencies an Accept-Language header suggests,
// most wanted first: a region's own (fr-FR: eur, id-ID: idr, en-US: usd),
// else the language's (fr: eur, id: idr, ja: jpy, en: usd).
func localCurrencies(h string) []string {
	var out []string
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		lang, region, _ := strings.Cut(strings.ToLower(tag), "-")
		for _, c := range []string{regionCurrency[region], languageCurrency[lang]} {
			if c != "" && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

var (
	regionCurrency = map[string]string{"us": "usd", "fr": "eur", "de": "eur", "es": "eur", "it": "eur", "nl": "eur", "be": "eur", "at": "eur",
		"ie": "eur", "pt": "eur", "fi": "eur", "id": "idr", "gb": "gbp", "jp": "jpy", "ca": "cad", "au": "aud"}
	languageCurrency = map[string]string{"fr": "eur", "de": "eur", "es": "eur", "it": "eur", "nl": "eur", "pt": "eur", "fi": "eur",
		"id": "idr", "ja": "jpy", "en": "usd"}
)
