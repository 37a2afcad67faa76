package httpapi

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/netip"
	"net/url"
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
	Object       string             `json:"object"`
	AccountID    string             `json:"account_id"`
	PackID       string             `json:"pack_id"`
	Credits      tollgate.Credits   `json:"credits"`
	Price        tollgate.Money     `json:"price"`
	ValidForDays int                `json:"valid_for_days"`
	Products     []tollgate.Product `json:"products"`
	Status       string             `json:"status"`
	Provider     string             `json:"provider"`
	GrantID      string             `json:"grant_id,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
	CompletedAt  *time.Time         `json:"completed_at"`
	RefundedAt   *time.Time         `json:"refunded_at"`
	// PaymentProblem says why a payment naming the order was refused.
	PaymentProblem string       `json:"payment_problem,omitempty"`
	Dispute        *disputeView `json:"dispute"`
}

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
		o.GrantID, o.CreatedAt, o.CompletedAt, o.RefundedAt, o.PaymentProblem, d}
}

type checkoutView struct {
	Object      string    `json:"object"`
	Order       orderView `json:"order"`
	CheckoutURL string    `json:"checkout_url"`
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

func (s *Server) createCheckout(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		AccountID string `json:"account_id"`
		PackID    string `json:"pack_id"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	acct, err := c.bodyAccount(req.AccountID)
	if err != nil {
		return err
	}
	if req.PackID == "" {
		return tollgate.FieldError("pack_id", "is required; see GET /v1/packs")
	}
	view := func(v any) any {
		st := v.(payment.Started)
		return checkoutView{"checkout", viewOrder(st.Order), s.absolute(r, st.URL)}
	}
	o, u, err := s.Payments.Checkout(r.Context(), acct, req.PackID, c.idempotency(r, http.StatusCreated, view))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(payment.Started{Order: o, URL: u}))
}

type refundView struct {
	Object   string         `json:"object"`
	Order    orderView      `json:"order"`
	Amount   tollgate.Money `json:"amount"`
	RefundID string         `json:"refund_id,omitempty"`
	// Applied: the credits were taken back already (a development
	// order); otherwise they follow the provider's refund event.
	Applied bool `json:"applied"`
}

// refundOrder refunds an order's payment, all that is left or part: through
// Stripe, whose event then takes the credits back exactly once; a
// development order at once.
func (s *Server) refundOrder(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Amount *int64 `json:"amount"`
	}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	view := func(v any) any {
		rs := v.(payment.RefundStarted)
		return refundView{"refund", viewOrder(rs.Order), tollgate.Money{Amount: rs.Amount, Currency: rs.Order.Price.Currency}, rs.RefundID, rs.Applied}
	}
	k := c.idempotency(r, http.StatusOK, view)
	if k != nil {
		// A repeat is answered as the first was, without asking Stripe
		// (which would refund once anyway: its key derives from this one).
		if _, err := s.l.WriteIdempotent(r.Context(), nil, func(tx record.Tx) (any, error) {
			return nil, s.l.CheckIdempotent(r.Context(), tx, k)
		}); err != nil {
			return err
		}
	}
	rs, err := s.Payments.RefundPayment(r.Context(), r.PathValue("id"), req.Amount, k)
	if err != nil {
		return err
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
			s.log.Error("a refund was asked of the provider but could not be recorded", "order", rs.Order.ID, "refund", rs.RefundID, "err", err)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, view(rs))
}

// listOrders lists orders a page at a time: an account's (the path's, or
// the caller's), or with an admin key every account's, optionally one's
// (?account_id=), in one status (?status=) or any.
func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	acct := q.Get("account_id")
	if r.PathValue("id") != "" {
		var err error
		if acct, err = c.account(r); err != nil {
			return err
		}
	} else if !c.key.Admin() {
		acct = c.key.AccountID
	}
	if acct != "" && (len(acct) > 200 || !tollgate.CleanText(acct)) {
		return tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", acct)
	}
	status := tollgate.OrderStatus(q.Get("status"))
	switch status {
	case "", tollgate.OrderPending, tollgate.OrderCompleted, tollgate.OrderRefunded:
	default:
		return tollgate.FieldError("status", "must be pending, completed or refunded")
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	os, err := s.Payments.Orders(r.Context(), acct, status, cursor, limit+1)
	if err != nil {
		return err
	}
	out := listView[orderView]{Object: "list", Data: []orderView{}}
	for i, o := range os {
		if i == limit {
			out.HasMore, out.NextCursor = true, os[i-1].ID
			break
		}
		out.Data = append(out.Data, viewOrder(o))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, c *call) error {
	o, err := s.Payments.Order(r.Context(), r.PathValue("id"), c.key.AccountID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewOrder(o))
}

func (s *Server) createPack(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		ID           string             `json:"id"`
		Credits      amount             `json:"credits"`
		Price        *tollgate.Money    `json:"price"`
		ValidForDays int                `json:"valid_for_days"`
		Products     []tollgate.Product `json:"products"`
		Active       *bool              `json:"active"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	p := tollgate.Pack{ID: req.ID, ValidForDays: req.ValidForDays, Products: req.Products, Active: req.Active == nil || *req.Active}
	var err error
	if p.Credits, err = credits("credits", req.Credits); err != nil {
		return err
	}
	if req.Price == nil {
		return tollgate.FieldError("price", `is required, e.g. {"amount": 400, "currency": "usd"}`)
	}
	p.Price = *req.Price
	if err := pricing.CheckPack(p); err != nil {
		return err
	}
	view := func(v any) any { return viewPack(v.(tollgate.Pack)) }
	p, err = s.Payments.PutPack(r.Context(), p, c.idempotency(r, http.StatusCreated, view))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(p))
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
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
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

func formatMoney(m tollgate.Money) string {
	return fmt.Sprintf("%d.%02d %s", m.Amount/100, m.Amount%100, strings.ToUpper(m.Currency))
}

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
	acct, packID, err := s.Payments.CheckOfferLink(r.URL.Query(), s.l.Clock().Now())
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
			if p.ID == packID && p.Active {
				s.render(w, r, offerPage, map[string]any{"Account": acct, "Pack": p, "Price": formatMoney(p.Price)})
				return
			}
		}
		s.problem(w, r, tollgate.Errorf(tollgate.CodeNotFound, "pack %q is not sold any more; see GET /v1/packs", packID))
		return
	}
	_, u, err := s.Payments.CheckoutOpen(r.Context(), acct, packID)
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
		s.log.Warn("no offers in a 402: packs unavailable", "err", err)
		return out
	}
	now := s.l.Clock().Now()
	for _, p := range packs {
		if p.Active && p.Pays(in.Product) {
			out = append(out, Offer{PackID: p.ID, Credits: p.Credits, Price: p.Price, ValidForDays: p.ValidForDays,
				CheckoutURL: s.Payments.OfferLink(s.baseURL(r), in.AccountID, p.ID, now)})
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
		s.log.Warn("stripe webhook refused", "err", err)
		s.problem(w, r, tollgate.Errorf(tollgate.CodeInvalidSignature, "the Stripe-Signature does not verify with the configured webhook secret, or is older than %s", payment.WebhookTolerance))
		return
	case errors.Is(err, payment.ErrNotReady):
		s.log.Info("stripe webhook deferred", "err", err)
		s.problem(w, r, tollgate.Errorf(tollgate.CodeUnavailable, "%v", err))
		return
	case err != nil:
		s.problem(w, r, err)
		return
	}
	s.log.Info("stripe webhook", "result", did)
	s.reply(w, r, http.StatusOK, map[string]any{"received": true, "result": did})
}
