package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"tollgate"
	"tollgate/cameo"
	"tollgate/ledger"
	"tollgate/store/record"
)

// Stripe takes payments with Stripe Checkout. It is safe for concurrent use.
type Stripe struct {
	api           StripeAPI
	webhookSecret string
	// BaseURL is the server's public URL, absolute (Stripe refuses
	// relative return URLs), e.g. https://tollgate.example.com.
	BaseURL string
	// Tax is how prices relate to tax; the zero value computes none.
	Tax TaxPolicy
	// Grace is how long a subscription whose renewal is unpaid keeps its
	// plan (DefaultGrace when zero).
	Grace time.Duration
}

// TaxPolicy is how prices relate to tax at checkout.
type TaxPolicy struct {
	// Automatic: Stripe Tax computes the tax of every checkout (the
	// operator registers where it collects tax in Stripe).
	Automatic bool
	// Inclusive lists the currencies whose prices include the tax (eur
	// for France's VAT, idr for Indonesia's PPN); tax is added to prices
	// in the others (usd: US sales tax).
	Inclusive []string
	// Invoices: Stripe makes an invoice for each pack bought, as it does
	// for every subscription payment.
	Invoices bool
}

// Behavior is how a price in currency relates to tax under the policy.
func (t TaxPolicy) Behavior(currency string) tollgate.TaxBehavior {
	switch {
	case !t.Automatic:
		return tollgate.TaxNone
	case slices.Contains(t.Inclusive, currency):
		return tollgate.TaxInclusive
	}
	return tollgate.TaxExclusive
}

var _ Provider = (*Stripe)(nil)

// NewStripe returns a Stripe provider. apiURL, when set, points the client
// at another server speaking Stripe's API (stripe-mock in tests).
func NewStripe(secretKey, webhookSecret, apiURL, baseURL string) *Stripe {
	var opts []stripe.ClientOption
	if apiURL != "" {
		cfg := &stripe.BackendConfig{URL: stripe.String(strings.TrimSuffix(apiURL, "/")), HTTPClient: &http.Client{Timeout: 10 * time.Second},
			MaxNetworkRetries: stripe.Int64(1), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}}
		b := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
		opts = append(opts, stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
	}
	return NewStripeAPI(stripeClient{stripe.NewClient(secretKey, opts...)}, webhookSecret, baseURL)
}

// NewStripeAPI returns a Stripe provider calling api: Stripe's own client
// (NewStripe), or a fake in tests.
func NewStripeAPI(api StripeAPI, webhookSecret, baseURL string) *Stripe {
	return &Stripe{api: api, webhookSecret: webhookSecret, BaseURL: baseURL}
}

// Name returns "stripe".
func (s *Stripe) Name() string { return "stripe" }

// Checkout creates a Checkout Session for the order, carrying the order id,
// and returns its URL and id.
func (s *Stripe) Checkout(ctx context.Context, o tollgate.Order, back Return) (string, string, error) {
	name := fmt.Sprintf("%s credits (%s)", o.Credits, o.PackID)
	p := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(o.ID),
		SuccessURL:        stripe.String(strings.TrimSuffix(s.BaseURL, "/") + back.Done),
		CancelURL:         stripe.String(strings.TrimSuffix(s.BaseURL, "/") + back.Cancelled),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(o.Price.Currency),
				UnitAmount:  stripe.Int64(o.Price.Amount),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(name)},
			},
		}},
		Metadata:          map[string]string{"order_id": o.ID, "account_id": o.AccountID},
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: map[string]string{"order_id": o.ID}},
	}
	if o.TaxBehavior != tollgate.TaxNone {
		p.AutomaticTax = &stripe.CheckoutSessionCreateAutomaticTaxParams{Enabled: stripe.Bool(true)}
		p.LineItems[0].PriceData.TaxBehavior = stripe.String(string(o.TaxBehavior))
	}
	if s.Tax.Invoices {
		p.InvoiceCreation = &stripe.CheckoutSessionCreateInvoiceCreationParams{Enabled: stripe.Bool(true),
			InvoiceData: &stripe.CheckoutSessionCreateInvoiceCreationInvoiceDataParams{Metadata: map[string]string{"order_id": o.ID}}}
	}
	p.SetIdempotencyKey("checkout-" + o.ID)
	// Bounded well below the server's write timeout: the buyer gets a 503
	// with Retry-After, and the same order and session on retry.
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	sess, err := s.api.CreateCheckoutSession(ctx, p)
	if err != nil {
		return "", "", fmt.Errorf("stripe checkout session: %w", err)
	}
	return sess.URL, sess.ID, nil
}

// Refund asks Stripe to refund amount (minor units) of the order's payment,
// under idempotencyKey so that a retry refunds once, and returns the
// refund's id. The credits follow when Stripe's charge.refunded arrives.
func (s *Stripe) Refund(ctx context.Context, o tollgate.Order, amount int64, idempotencyKey string) (string, error) {
	if o.PaymentRef == "" {
		return "", tollgate.Errorf(tollgate.CodeConflict, "order %s has no Stripe payment to refund yet", o.ID)
	}
	p := &stripe.RefundCreateParams{PaymentIntent: stripe.String(o.PaymentRef), Amount: stripe.Int64(amount),
		Metadata: map[string]string{"order_id": o.ID}}
	p.SetIdempotencyKey(idempotencyKey)
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	r, err := s.api.CreateRefund(ctx, p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 {
			return "", tollgate.FieldError("amount", "Stripe refused the refund: %s", se.Msg)
		}
		return "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not be asked for the refund (%v); nothing was refunded, retry with the same Idempotency-Key", err)
	}
	return r.ID, nil
}

// permanent reports whether Stripe refused a call for good (a 4xx other
// than 429 and 409, which say to try again later: no such object, a bad
// request, not enough balance): asking again gives the same.
func permanent(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict
}

// StripeCallTimeout bounds one call to Stripe's API, retries included.
const StripeCallTimeout = 25 * time.Second

// WebhookTolerance is how old a Stripe signature may be.
const WebhookTolerance = 5 * time.Minute

// ErrBadSignature is returned for a webhook whose signature does not verify
// or is too old. Nothing was changed.
var ErrBadSignature = errors.New("stripe webhook: bad or stale signature")

// UnmatchedAfter is how long after its creation an event about a payment no
// order has is answered 503 (Stripe retries); after that it is accepted as
// unmatched, so that Stripe does not retry for days and disable the
// endpoint.
const UnmatchedAfter = time.Hour

// signedAt returns the time in a Stripe-Signature header ("t=...").
func signedAt(header string) time.Time {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

// malformed is the error of an event whose object does not parse: the
// sender's fault (a 400), not the server's.
func malformed(id string, err error) error {
	return tollgate.Errorf(tollgate.CodeMalformedJSON, "event %s: its object does not parse: %v", id, err)
}

// ErrNotReady is returned for an event about an order this server cannot
// act on yet (a refund that came before its payment): Stripe retries it.
var ErrNotReady = errors.New("stripe webhook: the order is not ready for this event; retry later")

// HandleStripe verifies and applies one Stripe webhook event. A paid
// checkout.session.completed (or async_payment_succeeded) grants the order's
// credits exactly once; charge.refunded takes back what is unspent. Unknown
// orders and repeats are logged and answered without a second grant. It
// returns what it did, for the log.
func (s *Service) HandleStripe(ctx context.Context, payload []byte, signature string) (string, error) {
	st, ok := s.Provider.(*Stripe)
	if !ok || st == nil {
		return "", tollgate.Errorf(tollgate.CodeNotFound, "Stripe is not configured on this server: set TOLLGATE_STRIPE_SECRET_KEY and TOLLGATE_STRIPE_WEBHOOK_SECRET")
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signature, st.webhookSecret,
		webhook.ConstructEventOptions{Tolerance: WebhookTolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	// The library refuses signatures too old; one from the future is as
	// suspect (a clock far off, or a replay prepared ahead).
	if ts := signedAt(signature); ts.After(time.Now().Add(WebhookTolerance)) {
		return "", fmt.Errorf("%w: signed at %s, in the future", ErrBadSignature, ts.Format(time.RFC3339))
	}
	var about eventAbout
	did, err := s.applyStripe(ctx, ev, &about)
	if about.object != "" || err != nil { // an event of a type Tollgate acts on
		s.recordEvent(ctx, ev, about, did, err)
	}
	return did, err
}

// eventAbout is what an event concerned, as applying it found out.
type eventAbout struct {
	object, order, subscription string
}

// recordEvent keeps what was done with a verified event, for the operator
// (GET /v1/payment_events). An event retried later (an error now) is
// recorded as unmatched until a retry applies it. Recording is best effort:
// the event's effect, if any, is already committed.
func (s *Service) recordEvent(ctx context.Context, ev stripe.Event, about eventAbout, did string, err error) {
	outcome := did
	if err != nil {
		outcome = "Stripe retries: " + err.Error()
	}
	e := tollgate.PaymentEvent{ID: tollgate.NewID("pev"), Provider: "stripe", EventID: ev.ID, Type: string(ev.Type),
		ObjectID: about.object, OrderID: about.order, Matched: err == nil && (about.order != "" || about.subscription != ""), Outcome: outcome,
		CreatedAt: time.Unix(ev.Created, 0).UTC(), ReceivedAt: s.Clock.Now()}
	if len(e.Outcome) > 1000 {
		e.Outcome = e.Outcome[:1000]
	}
	_ = s.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.PaymentEventPut(ctx, e) })
}

// applyStripe applies one verified event; about says what it concerned.
func (s *Service) applyStripe(ctx context.Context, ev stripe.Event, about *eventAbout) (string, error) {
	st, _ := s.Provider.(*Stripe)
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		var sess stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &sess); err != nil {
			return "", malformed(ev.ID, err)
		}
		if sess.Mode == stripe.CheckoutSessionModeSubscription {
			about.object = sess.ID
			if sess.Subscription == nil || sess.Subscription.ID == "" {
				return fmt.Sprintf("subscription session %s has no subscription yet: waiting for its events", sess.ID), nil
			}
			return s.syncSubscription(ctx, st, sess.Subscription.ID, "", about)
		}
		return s.applySession(ctx, &sess, time.Unix(ev.Created, 0).UTC(), about)
	case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
		"customer.subscription.paused", "customer.subscription.resumed":
		var sub stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return "", malformed(ev.ID, err)
		}
		if sub.ID == "" {
			return "", malformed(ev.ID, errors.New("the subscription has no id"))
		}
		return s.syncSubscription(ctx, st, sub.ID, "", about)
	case "invoice.paid", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible":
		var inv stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return "", malformed(ev.ID, err)
		}
		if inv.ID == "" {
			return "", malformed(ev.ID, errors.New("the invoice has no id"))
		}
		return s.applyInvoiceEvent(ctx, st, &inv, about)
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return "", malformed(ev.ID, err)
		}
		if ch.AmountRefunded < 0 || ch.AmountRefunded > ch.Amount {
			return "", tollgate.FieldError("amount_refunded", "event %s: charge %s refunds %d of %d", ev.ID, ch.ID, ch.AmountRefunded, ch.Amount)
		}
		about.object = ch.ID
		if ch.PaymentIntent == nil || ch.Amount <= 0 {
			return fmt.Sprintf("charge %s has no payment intent: ignored", ch.ID), nil
		}
		var o tollgate.Order
		err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			o, err = tx.OrderByProviderRef(ctx, "stripe", ch.PaymentIntent.ID)
			return err
		})
		if errors.Is(err, tollgate.ErrNotFound) && ch.Metadata["order_id"] != "" {
			o, err = s.Order(ctx, ch.Metadata["order_id"], "")
		}
		if errors.Is(err, tollgate.ErrNotFound) {
			// Its payment may be on its way: Stripe retries. After an
			// hour it never will be (a charge Tollgate did not sell):
			// received, nothing to do, and the log says so.
			if time.Since(time.Unix(ev.Created, 0)) < UnmatchedAfter {
				return "", fmt.Errorf("%w: no order has payment %s yet", ErrNotReady, ch.PaymentIntent.ID)
			}
			return fmt.Sprintf("UNMATCHED: charge %s (payment %s) refunded %d %s, but no order has that payment; nothing to take back",
				ch.ID, ch.PaymentIntent.ID, ch.AmountRefunded, ch.Currency), nil
		}
		if err != nil {
			return "", err
		}
		about.order = o.ID
		r, err := s.Refund(ctx, o.ID, ch.AmountRefunded, ch.Amount)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("order %s refund: %s credits taken back, %s owed by pending holds, %s lost", o.ID, r.TakenBack, r.Owed, r.Lost), nil
	case "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed":
		var d stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &d); err != nil {
			return "", malformed(ev.ID, err)
		}
		if d.Amount < 0 {
			return "", tollgate.FieldError("amount", "event %s: dispute %s of %d", ev.ID, d.ID, d.Amount)
		}
		status := tollgate.DisputeOpen
		switch d.Status {
		case stripe.DisputeStatusWon, stripe.DisputeStatusWarningClosed:
			status = tollgate.DisputeWon
		case stripe.DisputeStatusLost:
			status = tollgate.DisputeLost
		}
		if ev.Type == "charge.dispute.closed" && status == tollgate.DisputeOpen {
			return "", tollgate.FieldError("status", "event %s: dispute %s closed with status %q", ev.ID, d.ID, d.Status)
		}
		about.object = d.ID
		if d.PaymentIntent == nil || d.PaymentIntent.ID == "" {
			return fmt.Sprintf("dispute %s names no payment intent: ignored", d.ID), nil
		}
		var o tollgate.Order
		err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			o, err = tx.OrderByProviderRef(ctx, "stripe", d.PaymentIntent.ID)
			return err
		})
		if errors.Is(err, tollgate.ErrNotFound) {
			if time.Since(time.Unix(ev.Created, 0)) < UnmatchedAfter {
				return "", fmt.Errorf("%w: no order has payment %s yet", ErrNotReady, d.PaymentIntent.ID)
			}
			return fmt.Sprintf("UNMATCHED: dispute %s (payment %s, %s) of %d %s, but no order has that payment; nothing frozen",
				d.ID, d.PaymentIntent.ID, d.Status, d.Amount, d.Currency), nil
		}
		if err != nil {
			return "", err
		}
		about.order = o.ID
		res, err := s.Ledger.DisputeOrder(ctx, ledger.DisputeParams{OrderID: o.ID, DisputeID: d.ID, Status: status, Amount: d.Amount})
		if err != nil {
			return "", err
		}
		if !res.Changed {
			return fmt.Sprintf("order %s dispute %s is %s: event %s changes nothing", o.ID, d.ID, res.Order.DisputeStatus, ev.ID), nil
		}
		switch status {
		case tollgate.DisputeOpen:
			return fmt.Sprintf("order %s disputed (%s): its credits are frozen", o.ID, d.ID), nil
		case tollgate.DisputeWon:
			return fmt.Sprintf("order %s dispute %s won: its credits are free again", o.ID, d.ID), nil
		}
		return fmt.Sprintf("order %s dispute %s lost: %s credits taken back, %s owed by pending holds, %s lost",
			o.ID, d.ID, res.Refund.TakenBack, res.Refund.Owed, res.Refund.Lost), nil
	}
	return fmt.Sprintf("event %s (%s) not used", ev.ID, ev.Type), nil
}

// Refund applies a refund of refunded out of total minor units (Stripe's
// amount_refunded, which grows with each partial refund) in one
// transaction: the order records it, and the order's credits in that
// proportion are taken back from its grant (available at once, held as the
// holds return them, the rest recorded as a refund loss). A repeat changes
// nothing. A refund before the payment completed is remembered on the
// order and taken back when the payment completes (a full one means no
// grant).
func (s *Service) Refund(ctx context.Context, orderID string, refunded, total int64) (ledger.Refunded, error) {
	res, err := s.Ledger.RefundOrder(ctx, ledger.RefundOrderParams{OrderID: orderID, Refunded: refunded, Total: total})
	if err != nil {
		return ledger.Refunded{}, fmt.Errorf("refund of order %s: %w", orderID, err)
	}
	return res.Refund, nil
}

// sessionMismatch says why a paid Checkout Session does not pay for order
// o, or "" when it does: it must be the session made for the order (or,
// when the order lost that reference, carry the order's id in the metadata
// Tollgate set), and its subtotal must be the order's price in the order's
// currency, directly or, with Adaptive Pricing, through its currency
// conversion.
func sessionMismatch(sess *stripe.CheckoutSession, o tollgate.Order) string {
	switch {
	case o.Provider != "stripe":
		return fmt.Sprintf("the order was sold through %q, not Stripe", o.Provider)
	case o.ProviderRef != "" && sess.ID != o.ProviderRef:
		return fmt.Sprintf("session %s is not the order's session %s", sess.ID, o.ProviderRef)
	case o.ProviderRef == "" && sess.Metadata["order_id"] != o.ID:
		return fmt.Sprintf("session %s does not carry the order's id in its metadata", sess.ID)
	}
	if strings.EqualFold(string(sess.Currency), o.Price.Currency) && sess.AmountSubtotal == o.Price.Amount {
		return ""
	}
	if cc := sess.CurrencyConversion; cc != nil && strings.EqualFold(string(cc.SourceCurrency), o.Price.Currency) && cc.AmountSubtotal == o.Price.Amount {
		return ""
	}
	return fmt.Sprintf("it paid %d %s before discounts and taxes, the order costs %d %s", sess.AmountSubtotal, sess.Currency, o.Price.Amount, o.Price.Currency)
}

// applySession completes the order a paid Checkout Session pays, as its
// webhook or the reconciliation found it, exactly once.
func (s *Service) applySession(ctx context.Context, sess *stripe.CheckoutSession, paidAt time.Time, about *eventAbout) (string, error) {
	if sess.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
		about.object, about.order = sess.ID, sess.ClientReferenceID
		return fmt.Sprintf("session %s not paid yet (%s): waiting", sess.ID, sess.PaymentStatus), nil
	}
	orderID := sess.ClientReferenceID
	if orderID == "" {
		orderID = sess.Metadata["order_id"]
	}
	about.object = sess.ID
	o, err := s.Order(ctx, orderID, "")
	if errors.Is(err, tollgate.ErrNotFound) {
		return fmt.Sprintf("session %s names unknown order %q: ignored", sess.ID, orderID), nil
	}
	if err != nil {
		return "", err
	}
	about.order = o.ID
	if problem := sessionMismatch(sess, o); problem != "" {
		// Someone paid, but not for this order (another session naming
		// it, as a payment link lets a buyer do, or another amount):
		// nothing is granted, the order says why, and Stripe is told
		// the event was received so it does not retry it.
		err := s.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.OrderSetProblem(ctx, o.ID, problem) })
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("session %s does not pay order %s (%s): nothing granted; refund it in Stripe", sess.ID, o.ID, problem), nil
	}
	var ref string
	if sess.PaymentIntent != nil {
		ref = sess.PaymentIntent.ID
	}
	if o.Status == tollgate.OrderCompleted && o.Paid != nil && o.Paid.ReceiptURL != "" {
		return fmt.Sprintf("order %s already completed: replay ignored", o.ID), nil
	}
	paid, receiptErr := s.paidOf(ctx, sess)
	if o.Status == tollgate.OrderCompleted && o.Paid != nil { // its receipt was not there the first time
		if paid != nil && (paid.ReceiptURL != "" || paid.InvoiceURL != "") {
			err := s.Ledger.WriteRecords(ctx, func(tx record.Tx) error { return tx.OrderSetReceipt(ctx, o.ID, paid.ReceiptURL, paid.InvoiceURL) })
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("order %s already completed: its receipt recorded", o.ID), nil
		}
		if receiptErr != nil {
			return "", receiptErr
		}
		return fmt.Sprintf("order %s already completed: replay ignored", o.ID), nil
	}
	res, err := s.Ledger.CompleteOrder(ctx, ledger.CompleteOrderParams{OrderID: o.ID, PaidAt: paidAt, PaymentRef: ref, Paid: paid})
	if errors.Is(err, tollgate.ErrConflict) {
		if o.GrantID != "" {
			return fmt.Sprintf("order %s was paid and then refunded: replay ignored", o.ID), nil
		}
		return fmt.Sprintf("order %s was refunded before its payment event: no grant", o.ID), nil
	}
	if err != nil {
		return "", err
	}
	if res.Order.Status == tollgate.OrderCompleted && (!res.Changed || o.Status == tollgate.OrderCompleted) {
		return fmt.Sprintf("order %s already completed: replay ignored", o.ID), nil
	}
	if receiptErr != nil {
		// Granted, and answered so that Stripe sends the event again:
		// its replay records the receipt.
		return "", fmt.Errorf("order %s completed, %s credits granted; %w", o.ID, o.Credits, receiptErr)
	}
	return fmt.Sprintf("order %s completed: %s credits granted", o.ID, o.Credits), nil
}

// errReceiptPending is a paid order's receipt that Stripe could not give
// yet: the event is answered so that Stripe sends it again.
var errReceiptPending = fmt.Errorf("%w: its receipt could not be fetched from Stripe yet; the replay of this event records it", ErrNotReady)

// paidOf is what a paid session's buyer paid: gross, tax (inclusive or
// added), net, and the receipt and invoice links Stripe has for it. The
// links are asked for; when Stripe does not answer, they are left empty and
// the error says so (the event's replay records them); nil when the
// session's amounts do not add up.
func (s *Service) paidOf(ctx context.Context, sess *stripe.CheckoutSession) (*tollgate.Paid, error) {
	p := &tollgate.Paid{Currency: string(sess.Currency), Gross: sess.AmountTotal}
	if sess.TotalDetails != nil {
		p.Tax = sess.TotalDetails.AmountTax
	}
	p.Net = p.Gross - p.Tax
	if ledger.CheckPaid(p) != nil {
		return nil, nil
	}
	st, ok := s.Provider.(*Stripe)
	if !ok || st == nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var failed error
	if sess.PaymentIntent != nil && sess.PaymentIntent.ID != "" {
		pi, err := st.api.PaymentIntent(ctx, sess.PaymentIntent.ID)
		switch {
		case err == nil && pi.LatestCharge != nil:
			p.ReceiptURL = pi.LatestCharge.ReceiptURL
		case err != nil && !permanent(err):
			failed = err
		}
	}
	if inv := sess.Invoice; inv != nil && inv.ID != "" {
		p.InvoiceURL = inv.HostedInvoiceURL
		if p.InvoiceURL == "" {
			full, err := st.api.Invoice(ctx, inv.ID)
			switch {
			case err == nil:
				p.InvoiceURL = full.HostedInvoiceURL
			case !permanent(err):
				failed = err
			}
		}
	}
	if ledger.CheckPaid(p) != nil { // a link that is not one
		p.ReceiptURL, p.InvoiceURL = "", ""
	}
	if failed != nil {
		return p, fmt.Errorf("%w (%v)", errReceiptPending, failed)
	}
	return p, nil
}

// ReconcileAfter is how old a pending Stripe order must be before the
// reconciliation asks Stripe about its session: its webhook has had time.
const ReconcileAfter = 10 * time.Minute

// sessionTTL is how long a Stripe Checkout Session can be paid.
const sessionTTL = 24 * time.Hour

// Reconcile asks Stripe about the session of every order still pending
// between ReconcileAfter and a day (plus an hour) old, and completes those
// paid, as their webhook would have: so a payment whose webhook Stripe
// stopped retrying, or that was lost, is still credited, exactly once. It
// returns how many orders it looked at and completed.
func (s *Service) Reconcile(ctx context.Context) (looked, completed int, err error) {
	st, ok := s.Provider.(*Stripe)
	if !ok || st == nil {
		return 0, 0, nil
	}
	now := s.Clock.Now()
	after := ""
	for {
		var os []tollgate.Order
		err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			os, err = tx.OrderList(ctx, record.OrderListParams{Status: tollgate.OrderPending, After: after, Limit: 100})
			return err
		})
		if err != nil {
			return looked, completed, err
		}
		for _, o := range os {
			age := now.Sub(o.CreatedAt)
			if o.Provider != "stripe" || o.ProviderRef == "" || age < ReconcileAfter || age > sessionTTL+time.Hour {
				continue
			}
			looked++
			sess, err := st.Session(ctx, o.ProviderRef)
			if err != nil {
				return looked, completed, fmt.Errorf("reconcile order %s: %w", o.ID, err)
			}
			if sess.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
				continue
			}
			var about eventAbout
			if _, err := s.applySession(ctx, sess, now, &about); err != nil && !errors.Is(err, errReceiptPending) {
				return looked, completed, fmt.Errorf("reconcile order %s: %w", o.ID, err)
			}
			if after, err := s.Order(ctx, o.ID, ""); err == nil && after.Status == tollgate.OrderCompleted {
				completed++
			}
		}
		if len(os) < 100 {
			return looked, completed, nil
		}
		after = os[len(os)-1].ID
	}
}

// Session fetches a Checkout Session.
func (s *Stripe) Session(ctx context.Context, id string) (*stripe.CheckoutSession, error) {
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	return s.api.CheckoutSession(ctx, id)
}

var _ cameo.Transferer = (*Stripe)(nil)
var _ cameo.Onboarder = (*Stripe)(nil)

// Transfer sends amount to a connected account with Stripe Connect, once
// per idempotencyKey. A refusal (a 4xx other than 429: no such account,
// not enough balance) is a *cameo.TransferError; anything else leaves the
// outcome unknown.
func (s *Stripe) Transfer(ctx context.Context, destination string, amount tollgate.Money, idempotencyKey string, metadata map[string]string) (string, error) {
	p := &stripe.TransferCreateParams{Amount: stripe.Int64(amount.Amount), Currency: stripe.String(amount.Currency),
		Destination: stripe.String(destination), Metadata: metadata}
	p.SetIdempotencyKey(idempotencyKey)
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	tr, err := s.api.CreateTransfer(ctx, p)
	if err != nil {
		var se *stripe.Error
		if permanent(err) && errors.As(err, &se) {
			return "", &cameo.TransferError{Message: se.Msg}
		}
		return "", fmt.Errorf("stripe transfer: %w", err)
	}
	return tr.ID, nil
}

// Onboard makes an Express connected account when existing is "" and
// returns it with an Account Link where its owner completes onboarding;
// returnURL is where Stripe sends them back (and where a stale link
// refreshes).
func (s *Stripe) Onboard(ctx context.Context, accountID, existing, returnURL string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, StripeCallTimeout)
	defer cancel()
	acct := existing
	if acct == "" {
		p := &stripe.AccountCreateParams{Type: stripe.String(string(stripe.AccountTypeExpress)), Metadata: map[string]string{"account_id": accountID}}
		p.SetIdempotencyKey("onboard-" + accountID)
		a, err := s.api.CreateAccount(ctx, p)
		if err != nil {
			return "", "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not make the connected account (%v); nothing was stored, try again", err)
		}
		acct = a.ID
	}
	l, err := s.api.CreateAccountLink(ctx, &stripe.AccountLinkCreateParams{Account: stripe.String(acct), RefreshURL: stripe.String(returnURL),
		ReturnURL: stripe.String(returnURL), Type: stripe.String("account_onboarding")})
	if err != nil {
		return acct, "", tollgate.Errorf(tollgate.CodeUnavailable, "Stripe could not make the onboarding link (%v); try again", err)
	}
	return acct, l.URL, nil
}
