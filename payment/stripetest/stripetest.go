// Package stripetest is a stateful fake of the part of Stripe's API
// Tollgate calls (payment.StripeAPI), for tests: checkout sessions a buyer
// pays, subscriptions that renew, fail, change price and end, invoices
// with Stripe Tax's amounts, and the events each change sends, signed as
// Stripe signs them.
package stripetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"tollgate"
	"tollgate/clocktest"
)

// stripeFake is StripeAPI with state, as Stripe keeps it: checkout
// sessions that a buyer pays, subscriptions that renew, fail, change
// price and end, their invoices with Stripe Tax's amounts, and the
// events each change sends. Tests deliver the events signed, in any
// order and as many times as they like.
type Fake struct {
	mu    sync.Mutex
	clock *clocktest.Clock
	// taxBPS is the tax rate Stripe Tax finds per currency (the buyer's
	// location, in this fake).
	taxBPS   map[string]int64
	prices   map[string]Price // Stripe Prices the operator made
	sessions map[string]*stripe.CheckoutSession
	params   map[string]*stripe.CheckoutSessionCreateParams
	subs     map[string]*stripe.Subscription
	invoices map[string]*stripe.Invoice
	n        int
	// down makes every call fail as a network error would.
	down bool
}

type Price struct {
	Interval string
	Amounts  map[string]int64 // per currency
	Plan     string           // the price's metadata tollgate_plan
}

// Event is an event as Stripe sends it.
type Event struct {
	ID, Type string
	Object   any
	Created  time.Time
}

func New(clock *clocktest.Clock) *Fake {
	return &Fake{clock: clock, taxBPS: map[string]int64{"eur": 2000, "idr": 1100, "usd": 725}, prices: map[string]Price{},
		sessions: map[string]*stripe.CheckoutSession{}, params: map[string]*stripe.CheckoutSessionCreateParams{},
		subs: map[string]*stripe.Subscription{}, invoices: map[string]*stripe.Invoice{}}
}

var errFakeDown = errors.New("fake stripe: connection refused")

func (f *Fake) id(prefix string) string {
	f.n++
	return fmt.Sprintf("%s_fake%d", prefix, f.n)
}

// clone deep-copies a Stripe object through JSON, as a fetch would.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

func (f *Fake) Event(typ string, object any) Event {
	b, _ := json.Marshal(object)
	var snapshot any
	_ = json.Unmarshal(b, &snapshot)
	return Event{ID: f.id("evt"), Type: typ, Object: snapshot, Created: f.clock.Now()}
}

// tax is what Stripe Tax adds to (exclusive) or finds in (inclusive) an
// amount, rounded half up.
func (f *Fake) tax(amount int64, currency, behavior string, automatic bool) int64 {
	r := f.taxBPS[currency]
	switch {
	case !automatic || r == 0:
		return 0
	case behavior == "inclusive":
		return (amount*r*2 + 10000 + r) / (2 * (10000 + r))
	}
	return (amount*r*2 + 10000) / 20000
}

func (f *Fake) CreateCheckoutSession(_ context.Context, p *stripe.CheckoutSessionCreateParams) (*stripe.CheckoutSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	key := ""
	if p.IdempotencyKey != nil {
		key = *p.IdempotencyKey
	}
	for id, old := range f.params {
		if key != "" && old.IdempotencyKey != nil && *old.IdempotencyKey == key {
			return clone(f.sessions[id]), nil
		}
	}
	id := f.id("cs")
	s := &stripe.CheckoutSession{ID: id, Object: "checkout.session", URL: "https://checkout.stripe.test/c/pay/" + id,
		Mode: stripe.CheckoutSessionMode(*p.Mode), Status: stripe.CheckoutSessionStatusOpen, PaymentStatus: stripe.CheckoutSessionPaymentStatusUnpaid,
		Metadata: p.Metadata}
	if p.ClientReferenceID != nil {
		s.ClientReferenceID = *p.ClientReferenceID
	}
	f.sessions[id], f.params[id] = s, p
	return clone(s), nil
}

func (f *Fake) CheckoutSession(_ context.Context, id string) (*stripe.CheckoutSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	s := f.sessions[id]
	if s == nil {
		return nil, &stripe.Error{HTTPStatusCode: 404, Msg: "No such checkout.session"}
	}
	return clone(s), nil
}

func (f *Fake) PaymentIntent(_ context.Context, id string) (*stripe.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	return &stripe.PaymentIntent{ID: id, LatestCharge: &stripe.Charge{ID: "ch_" + id, ReceiptURL: "https://pay.stripe.test/receipts/" + id}}, nil
}

func (f *Fake) Subscription(_ context.Context, id string) (*stripe.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	s := f.subs[id]
	if s == nil {
		return nil, &stripe.Error{HTTPStatusCode: 404, Msg: "No such subscription"}
	}
	return clone(s), nil
}

func (f *Fake) Invoice(_ context.Context, id string) (*stripe.Invoice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	inv := f.invoices[id]
	if inv == nil {
		return nil, &stripe.Error{HTTPStatusCode: 404, Msg: "No such invoice"}
	}
	return clone(inv), nil
}

// CancelAtPeriodEnd is the API call Tollgate makes; the event Stripe then
// sends is Cancel's.
func (f *Fake) CancelAtPeriodEnd(_ context.Context, id string) (*stripe.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	s := f.subs[id]
	if s == nil {
		return nil, &stripe.Error{HTTPStatusCode: 404, Msg: "No such subscription"}
	}
	s.CancelAtPeriodEnd = true
	return clone(s), nil
}

func (f *Fake) CreatePortalSession(_ context.Context, p *stripe.BillingPortalSessionCreateParams) (*stripe.BillingPortalSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	return &stripe.BillingPortalSession{ID: f.id("bps"), Customer: *p.Customer, URL: "https://billing.stripe.test/p/session/" + *p.Customer}, nil
}

func (f *Fake) CreateRefund(context.Context, *stripe.RefundCreateParams) (*stripe.Refund, error) {
	return nil, errors.New("fake stripe: refunds are not part of this fake")
}

func (f *Fake) CreateTransfer(context.Context, *stripe.TransferCreateParams) (*stripe.Transfer, error) {
	return nil, errors.New("fake stripe: transfers are not part of this fake")
}

func (f *Fake) CreateAccount(context.Context, *stripe.AccountCreateParams) (*stripe.Account, error) {
	return nil, errors.New("fake stripe: accounts are not part of this fake")
}

func (f *Fake) CreateAccountLink(context.Context, *stripe.AccountLinkCreateParams) (*stripe.AccountLink, error) {
	return nil, errors.New("fake stripe: account links are not part of this fake")
}

func periodEnd(from time.Time, interval string) time.Time {
	if interval == tollgate.IntervalYear {
		return from.AddDate(1, 0, 0)
	}
	return from.AddDate(0, 1, 0)
}

// pay is the buyer paying session id: a pack's payment, or a new
// subscription with its first invoice. It returns the events Stripe sends.
func (f *Fake) Pay(t testing.TB, id string) []Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s, p := f.sessions[id], f.params[id]
	if s == nil {
		t.Fatalf("fake stripe: no session %s", id)
	}
	automatic := p.AutomaticTax != nil && p.AutomaticTax.Enabled != nil && *p.AutomaticTax.Enabled
	li := p.LineItems[0]
	var currency, behavior, interval, priceID string
	var amount int64
	var priceMeta map[string]string
	if li.PriceData != nil {
		currency, amount = *li.PriceData.Currency, *li.PriceData.UnitAmount
		if li.PriceData.TaxBehavior != nil {
			behavior = *li.PriceData.TaxBehavior
		}
		if li.PriceData.Recurring != nil {
			interval = *li.PriceData.Recurring.Interval
		}
		priceID = f.id("price")
	} else {
		fp := f.prices[*li.Price]
		priceID, currency, interval = *li.Price, *p.Currency, fp.Interval
		amount = fp.Amounts[currency]
		priceMeta = map[string]string{"tollgate_plan": fp.Plan}
		behavior = "inclusive"
	}
	tax := f.tax(amount, currency, behavior, automatic)
	total := amount
	if behavior != "inclusive" {
		total += tax
	}
	s.Status, s.PaymentStatus, s.Currency = stripe.CheckoutSessionStatusComplete, stripe.CheckoutSessionPaymentStatusPaid, stripe.Currency(currency)
	s.AmountSubtotal, s.AmountTotal, s.TotalDetails = amount, total, &stripe.CheckoutSessionTotalDetails{AmountTax: tax}
	now := f.clock.Now()
	if s.Mode == stripe.CheckoutSessionModePayment {
		s.PaymentIntent = &stripe.PaymentIntent{ID: f.id("pi")}
		if p.InvoiceCreation != nil && *p.InvoiceCreation.Enabled {
			inv := f.invoice("", currency, amount, tax, behavior, stripe.InvoiceBillingReasonManual, true, now, now)
			s.Invoice = &stripe.Invoice{ID: inv.ID}
		}
		return []Event{f.Event("checkout.session.completed", s)}
	}
	customer := f.id("cus")
	if p.Customer != nil {
		customer = *p.Customer
	}
	sub := &stripe.Subscription{ID: f.id("sub"), Object: "subscription", Status: stripe.SubscriptionStatusActive, Currency: stripe.Currency(currency),
		Customer: &stripe.Customer{ID: customer}, Metadata: p.SubscriptionData.Metadata, Created: now.Unix(),
		Items: &stripe.SubscriptionItemList{Data: []*stripe.SubscriptionItem{{ID: f.id("si"), Quantity: 1,
			Price:              &stripe.Price{ID: priceID, Currency: stripe.Currency(currency), UnitAmount: amount, Metadata: priceMeta, Recurring: &stripe.PriceRecurring{Interval: stripe.PriceRecurringInterval(interval)}},
			CurrentPeriodStart: now.Unix(), CurrentPeriodEnd: periodEnd(now, interval).Unix()}}}}
	f.subs[sub.ID] = sub
	s.Subscription, s.Customer = &stripe.Subscription{ID: sub.ID}, &stripe.Customer{ID: customer}
	inv := f.invoice(sub.ID, currency, amount, tax, behavior, stripe.InvoiceBillingReasonSubscriptionCreate, true, now, periodEnd(now, interval))
	sub.LatestInvoice = &stripe.Invoice{ID: inv.ID}
	return []Event{f.Event("checkout.session.completed", s), f.Event("customer.subscription.created", sub), f.Event("invoice.paid", inv)}
}

// invoice makes an invoice (of subscription sub, "" for a pack's) and
// keeps it.
func (f *Fake) invoice(sub, currency string, amount, tax int64, behavior string, reason stripe.InvoiceBillingReason, paid bool, from, to time.Time) *stripe.Invoice {
	total := amount
	if behavior != "inclusive" {
		total += tax
	}
	id := f.id("in")
	inv := &stripe.Invoice{ID: id, Object: "invoice", Currency: stripe.Currency(currency), BillingReason: reason, Subtotal: amount, Total: total,
		TotalExcludingTax: total - tax, HostedInvoiceURL: "https://invoice.stripe.test/i/" + id, InvoicePDF: "https://invoice.stripe.test/i/" + id + "/pdf",
		Created: f.clock.Now().Unix(), PeriodStart: from.Unix(), PeriodEnd: from.Unix(), Status: stripe.InvoiceStatusOpen,
		Lines: &stripe.InvoiceLineItemList{Data: []*stripe.InvoiceLineItem{{Period: &stripe.Period{Start: from.Unix(), End: to.Unix()}, Amount: amount}}}}
	if tax > 0 {
		inv.TotalTaxes = []*stripe.InvoiceTotalTax{{Amount: tax, TaxBehavior: stripe.InvoiceTotalTaxTaxBehavior(behavior)}}
	}
	if sub != "" {
		inv.Parent = &stripe.InvoiceParent{SubscriptionDetails: &stripe.InvoiceParentSubscriptionDetails{Subscription: &stripe.Subscription{ID: sub}}}
	}
	if paid {
		f.markPaid(inv)
	}
	f.invoices[id] = inv
	return inv
}

func (f *Fake) markPaid(inv *stripe.Invoice) {
	inv.Status = stripe.InvoiceStatusPaid
	pi := "pi_" + inv.ID
	inv.Payments = &stripe.InvoicePaymentList{Data: []*stripe.InvoicePayment{{Payment: &stripe.InvoicePaymentPayment{
		PaymentIntent: &stripe.PaymentIntent{ID: pi, LatestCharge: &stripe.Charge{ID: "ch_" + inv.ID, ReceiptURL: "https://pay.stripe.test/receipts/" + pi}}}}}}
}

// renew starts a subscription's next period at its end (the clock is
// the test's to move): paid, or failed (past_due).
func (f *Fake) Renew(t testing.TB, id string, paid bool) []Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	it := sub.Items.Data[0]
	from := time.Unix(it.CurrentPeriodEnd, 0).UTC()
	to := periodEnd(from, string(it.Price.Recurring.Interval))
	it.CurrentPeriodStart, it.CurrentPeriodEnd = from.Unix(), to.Unix()
	behavior := "exclusive"
	if string(sub.Currency) != "usd" {
		behavior = "inclusive"
	}
	tax := f.tax(it.Price.UnitAmount, string(sub.Currency), behavior, true)
	inv := f.invoice(sub.ID, string(sub.Currency), it.Price.UnitAmount, tax, behavior, stripe.InvoiceBillingReasonSubscriptionCycle, paid, from, to)
	sub.LatestInvoice = &stripe.Invoice{ID: inv.ID}
	if paid {
		sub.Status = stripe.SubscriptionStatusActive
		return []Event{f.Event("invoice.paid", inv), f.Event("customer.subscription.updated", sub)}
	}
	sub.Status = stripe.SubscriptionStatusPastDue
	return []Event{f.Event("invoice.payment_failed", inv), f.Event("customer.subscription.updated", sub)}
}

// payLatest is the buyer paying the failed renewal (a new card).
func (f *Fake) PayLatest(t testing.TB, id string) []Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	inv := f.invoices[sub.LatestInvoice.ID]
	f.markPaid(inv)
	sub.Status = stripe.SubscriptionStatusActive
	return []Event{f.Event("invoice.paid", inv), f.Event("customer.subscription.updated", sub)}
}

// Cancel is the buyer cancelling in the portal (at the period's end).
func (f *Fake) Cancel(id string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	sub.CancelAtPeriodEnd = true
	return []Event{f.Event("customer.subscription.updated", sub)}
}

// end ends a subscription: at the period's end after a cancellation, or
// when Stripe gives up on an unpaid renewal.
func (f *Fake) End(id string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	sub.Status, sub.EndedAt = stripe.SubscriptionStatusCanceled, f.clock.Now().Unix()
	return []Event{f.Event("customer.subscription.deleted", sub)}
}

// changePrice is the buyer switching to another Stripe Price in the
// portal: the item changes at once and the rest of the period is
// prorated on an invoice paid now.
func (f *Fake) ChangePrice(t testing.TB, id, price string) []Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	it := sub.Items.Data[0]
	fp, ok := f.prices[price]
	if !ok {
		t.Fatalf("fake stripe: no price %s", price)
	}
	now := f.clock.Now()
	newAmount := fp.Amounts[string(sub.Currency)]
	left, whole := it.CurrentPeriodEnd-now.Unix(), it.CurrentPeriodEnd-it.CurrentPeriodStart
	prorated := (newAmount - it.Price.UnitAmount) * left / whole
	it.Price = &stripe.Price{ID: price, Currency: sub.Currency, UnitAmount: newAmount, Metadata: map[string]string{"tollgate_plan": fp.Plan},
		Recurring: &stripe.PriceRecurring{Interval: stripe.PriceRecurringInterval(fp.Interval)}}
	tax := f.tax(prorated, string(sub.Currency), "inclusive", true)
	inv := f.invoice(sub.ID, string(sub.Currency), prorated, tax, "inclusive", stripe.InvoiceBillingReasonSubscriptionUpdate, true, now,
		time.Unix(it.CurrentPeriodEnd, 0))
	return []Event{f.Event("customer.subscription.updated", sub), f.Event("invoice.paid", inv)}
}

// AddPrice makes a Stripe Price the operator made (with a price per
// currency), as a plan's stripe_price names it.
func (f *Fake) AddPrice(id string, p Price) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prices[id] = p
}

// SetDown makes every call fail (or succeed again), as when Stripe cannot
// be reached.
func (f *Fake) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Params returns what a checkout session was created with.
func (f *Fake) Params(session string) *stripe.CheckoutSessionCreateParams {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.params[session]
}

// Sessions lists what every checkout session was created with.
func (f *Fake) Sessions() []*stripe.CheckoutSessionCreateParams {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*stripe.CheckoutSessionCreateParams
	for _, p := range f.params {
		out = append(out, p)
	}
	return out
}

// SubscriptionOf is the subscription a paid checkout session made.
func (f *Fake) SubscriptionOf(session string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.sessions[session]; s != nil && s.Subscription != nil {
		return s.Subscription.ID
	}
	return ""
}

// Update changes a subscription as Stripe's dashboard might, sending no
// event.
func (f *Fake) Update(id string, change func(*stripe.Subscription)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.subs[id])
}

// Signed is an event's body and Stripe-Signature header, signed with
// secret at signedAt as Stripe signs them.
func Signed(e Event, secret string, signedAt time.Time) ([]byte, string) {
	raw, _ := json.Marshal(e.Object)
	body, _ := json.Marshal(map[string]any{"id": e.ID, "object": "event", "type": e.Type, "created": e.Created.Unix(),
		"api_version": "2026-03-25.dahlia", "data": map[string]any{"object": json.RawMessage(raw)}})
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: signedAt})
	return body, sp.Header
}
