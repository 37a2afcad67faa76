package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"

	"tollgate"
	"tollgate/clocktest"
)

// stripeFake is StripeAPI with state, as Stripe keeps it: checkout
// sessions that a buyer pays, subscriptions that renew, fail, change
// price and end, their invoices with Stripe Tax's amounts, and the
// events each change sends. Tests deliver the events signed, in any
// order and as many times as they like.
type stripeFake struct {
	mu    sync.Mutex
	clock *clocktest.Clock
	// taxBPS is the tax rate Stripe Tax finds per currency (the buyer's
	// location, in this fake).
	taxBPS   map[string]int64
	prices   map[string]fakePrice // Stripe Prices the operator made
	sessions map[string]*stripe.CheckoutSession
	params   map[string]*stripe.CheckoutSessionCreateParams
	subs     map[string]*stripe.Subscription
	invoices map[string]*stripe.Invoice
	n        int
	// down makes every call fail as a network error would.
	down bool
}

type fakePrice struct {
	interval string
	amounts  map[string]int64 // per currency
	plan     string           // the price's metadata tollgate_plan
}

// fakeEvent is an event as Stripe sends it.
type fakeEvent struct {
	id, typ string
	object  any
	created time.Time
}

func newStripeFake(clock *clocktest.Clock) *stripeFake {
	return &stripeFake{clock: clock, taxBPS: map[string]int64{"eur": 2000, "idr": 1100, "usd": 725}, prices: map[string]fakePrice{},
		sessions: map[string]*stripe.CheckoutSession{}, params: map[string]*stripe.CheckoutSessionCreateParams{},
		subs: map[string]*stripe.Subscription{}, invoices: map[string]*stripe.Invoice{}}
}

var errFakeDown = errors.New("fake stripe: connection refused")

func (f *stripeFake) id(prefix string) string {
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

func (f *stripeFake) event(typ string, object any) fakeEvent {
	b, _ := json.Marshal(object)
	var snapshot any
	_ = json.Unmarshal(b, &snapshot)
	return fakeEvent{id: f.id("evt"), typ: typ, object: snapshot, created: f.clock.Now()}
}

// tax is what Stripe Tax adds to (exclusive) or finds in (inclusive) an
// amount, rounded half up.
func (f *stripeFake) tax(amount int64, currency, behavior string, automatic bool) int64 {
	r := f.taxBPS[currency]
	switch {
	case !automatic || r == 0:
		return 0
	case behavior == "inclusive":
		return (amount*r*2 + 10000 + r) / (2 * (10000 + r))
	}
	return (amount*r*2 + 10000) / 20000
}

func (f *stripeFake) CreateCheckoutSession(_ context.Context, p *stripe.CheckoutSessionCreateParams) (*stripe.CheckoutSession, error) {
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

func (f *stripeFake) CheckoutSession(_ context.Context, id string) (*stripe.CheckoutSession, error) {
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

func (f *stripeFake) PaymentIntent(_ context.Context, id string) (*stripe.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	return &stripe.PaymentIntent{ID: id, LatestCharge: &stripe.Charge{ID: "ch_" + id, ReceiptURL: "https://pay.stripe.test/receipts/" + id}}, nil
}

func (f *stripeFake) Subscription(_ context.Context, id string) (*stripe.Subscription, error) {
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

func (f *stripeFake) Invoice(_ context.Context, id string) (*stripe.Invoice, error) {
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

func (f *stripeFake) CreatePortalSession(_ context.Context, p *stripe.BillingPortalSessionCreateParams) (*stripe.BillingPortalSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errFakeDown
	}
	return &stripe.BillingPortalSession{ID: f.id("bps"), Customer: *p.Customer, URL: "https://billing.stripe.test/p/session/" + *p.Customer}, nil
}

func (f *stripeFake) CreateRefund(context.Context, *stripe.RefundCreateParams) (*stripe.Refund, error) {
	return nil, errors.New("fake stripe: refunds are not part of this fake")
}

func (f *stripeFake) CreateTransfer(context.Context, *stripe.TransferCreateParams) (*stripe.Transfer, error) {
	return nil, errors.New("fake stripe: transfers are not part of this fake")
}

func (f *stripeFake) CreateAccount(context.Context, *stripe.AccountCreateParams) (*stripe.Account, error) {
	return nil, errors.New("fake stripe: accounts are not part of this fake")
}

func (f *stripeFake) CreateAccountLink(context.Context, *stripe.AccountLinkCreateParams) (*stripe.AccountLink, error) {
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
func (f *stripeFake) pay(t *testing.T, id string) []fakeEvent {
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
		priceID, currency, interval = *li.Price, *p.Currency, fp.interval
		amount = fp.amounts[currency]
		priceMeta = map[string]string{"tollgate_plan": fp.plan}
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
		return []fakeEvent{f.event("checkout.session.completed", s)}
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
	return []fakeEvent{f.event("checkout.session.completed", s), f.event("customer.subscription.created", sub), f.event("invoice.paid", inv)}
}

// invoice makes an invoice (of subscription sub, "" for a pack's) and
// keeps it.
func (f *stripeFake) invoice(sub, currency string, amount, tax int64, behavior string, reason stripe.InvoiceBillingReason, paid bool, from, to time.Time) *stripe.Invoice {
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

func (f *stripeFake) markPaid(inv *stripe.Invoice) {
	inv.Status = stripe.InvoiceStatusPaid
	pi := "pi_" + inv.ID
	inv.Payments = &stripe.InvoicePaymentList{Data: []*stripe.InvoicePayment{{Payment: &stripe.InvoicePaymentPayment{
		PaymentIntent: &stripe.PaymentIntent{ID: pi, LatestCharge: &stripe.Charge{ID: "ch_" + inv.ID, ReceiptURL: "https://pay.stripe.test/receipts/" + pi}}}}}}
}

// renew starts a subscription's next period at its end (the clock is
// the test's to move): paid, or failed (past_due).
func (f *stripeFake) renew(t *testing.T, id string, paid bool) []fakeEvent {
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
		return []fakeEvent{f.event("invoice.paid", inv), f.event("customer.subscription.updated", sub)}
	}
	sub.Status = stripe.SubscriptionStatusPastDue
	return []fakeEvent{f.event("invoice.payment_failed", inv), f.event("customer.subscription.updated", sub)}
}

// payLatest is the buyer paying the failed renewal (a new card).
func (f *stripeFake) payLatest(t *testing.T, id string) []fakeEvent {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	inv := f.invoices[sub.LatestInvoice.ID]
	f.markPaid(inv)
	sub.Status = stripe.SubscriptionStatusActive
	return []fakeEvent{f.event("invoice.paid", inv), f.event("customer.subscription.updated", sub)}
}

// cancelAtPeriodEnd is the buyer cancelling in the portal.
func (f *stripeFake) cancelAtPeriodEnd(id string) []fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	sub.CancelAtPeriodEnd = true
	return []fakeEvent{f.event("customer.subscription.updated", sub)}
}

// end ends a subscription: at the period's end after a cancellation, or
// when Stripe gives up on an unpaid renewal.
func (f *stripeFake) end(id string) []fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := f.subs[id]
	sub.Status, sub.EndedAt = stripe.SubscriptionStatusCanceled, f.clock.Now().Unix()
	return []fakeEvent{f.event("customer.subscription.deleted", sub)}
}

// changePrice is the buyer switching to another Stripe Price in the
// portal: the item changes at once and the rest of the period is
// prorated on an invoice paid now.
func (f *stripeFake) changePrice(t *testing.T, id, price string) []fakeEvent {
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
	newAmount := fp.amounts[string(sub.Currency)]
	left, whole := it.CurrentPeriodEnd-now.Unix(), it.CurrentPeriodEnd-it.CurrentPeriodStart
	prorated := (newAmount - it.Price.UnitAmount) * left / whole
	it.Price = &stripe.Price{ID: price, Currency: sub.Currency, UnitAmount: newAmount, Metadata: map[string]string{"tollgate_plan": fp.plan},
		Recurring: &stripe.PriceRecurring{Interval: stripe.PriceRecurringInterval(fp.interval)}}
	tax := f.tax(prorated, string(sub.Currency), "inclusive", true)
	inv := f.invoice(sub.ID, string(sub.Currency), prorated, tax, "inclusive", stripe.InvoiceBillingReasonSubscriptionUpdate, true, now,
		time.Unix(it.CurrentPeriodEnd, 0))
	return []fakeEvent{f.event("customer.subscription.updated", sub), f.event("invoice.paid", inv)}
}

// deliver sends events to the service signed, as Stripe would, and
// fails the test on an error.
func deliver(t *testing.T, svc *Service, evs ...fakeEvent) []string {
	t.Helper()
	var did []string
	for _, e := range evs {
		body, sig := event(t, e.id, e.typ, e.object, e.created, whsec, time.Now())
		d, err := svc.HandleStripe(context.Background(), body, sig)
		if err != nil {
			t.Fatalf("event %s %s: %v", e.id, e.typ, err)
		}
		did = append(did, d)
	}
	return did
}
