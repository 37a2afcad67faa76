package tollgate

import "time"

// TaxBehavior says how a price relates to tax.
type TaxBehavior string

// Tax behaviors, as Stripe names them.
const (
	// TaxNone: no tax is computed (Stripe Tax is off); prices are stated
	// as tax-exclusive and the operator accounts for tax elsewhere.
	TaxNone TaxBehavior = ""
	// TaxInclusive: the price includes the tax (France's VAT,
	// Indonesia's PPN); the buyer pays the price.
	TaxInclusive TaxBehavior = "inclusive"
	// TaxExclusive: the tax is added to the price at checkout (US sales
	// tax).
	TaxExclusive TaxBehavior = "exclusive"
)

// Paid is what a buyer paid, as the payment provider reported it, in
// minor units of the currency: Gross = Net + Tax.
type Paid struct {
	Currency        string
	Net, Tax, Gross int64
	// ReceiptURL is the provider's receipt of the payment, InvoiceURL its
	// invoice (a hosted page); "" when it has none (yet).
	ReceiptURL, InvoiceURL string
}

// Intervals a plan is billed at.
const (
	IntervalMonth = "month"
	IntervalYear  = "year"
)

// PlanPrice is what a plan costs a subscriber per Interval: a price per
// currency (minor units as Stripe counts them), the first its default,
// or a Stripe Price the operator made (with its own currency options).
type PlanPrice struct {
	Plan     string
	Interval string // IntervalMonth or IntervalYear
	Prices   []Money
	// StripePrice, when set, is the Stripe Price (price_...) a checkout
	// uses; Prices then only say what it costs. The customer portal's
	// plan changes are matched to plans by it.
	StripePrice string
	Active      bool
	CreatedAt   time.Time
}

// PriceIn is the plan's price in currency ("" for its default), and
// whether it is sold in it.
func (p PlanPrice) PriceIn(currency string) (Money, bool) {
	if len(p.Prices) == 0 {
		return Money{}, false
	}
	if currency == "" {
		return p.Prices[0], true
	}
	for _, m := range p.Prices {
		if m.Currency == currency {
			return m, true
		}
	}
	return Money{}, false
}

// Currencies lists the currencies the plan is sold in, its default first.
func (p PlanPrice) Currencies() []string {
	out := make([]string, 0, len(p.Prices))
	for _, m := range p.Prices {
		out = append(out, m.Currency)
	}
	return out
}

// SubscriptionStatus is where a subscription stands, as Stripe names it.
type SubscriptionStatus string

// Subscription statuses.
const (
	SubscriptionIncomplete        SubscriptionStatus = "incomplete"
	SubscriptionIncompleteExpired SubscriptionStatus = "incomplete_expired"
	SubscriptionTrialing          SubscriptionStatus = "trialing"
	SubscriptionActive            SubscriptionStatus = "active"
	SubscriptionPastDue           SubscriptionStatus = "past_due"
	SubscriptionCanceled          SubscriptionStatus = "canceled"
	SubscriptionUnpaid            SubscriptionStatus = "unpaid"
	SubscriptionPaused            SubscriptionStatus = "paused"
)

// Ended reports whether a subscription in status s can never pay again.
func (s SubscriptionStatus) Ended() bool {
	return s == SubscriptionCanceled || s == SubscriptionIncompleteExpired
}

// Entitles reports whether the subscription puts its account on its plan
// at now: while active or trialing, and while a renewal is unpaid until
// GraceUntil.
func (s Subscription) Entitles(now time.Time) bool {
	switch s.Status {
	case SubscriptionActive, SubscriptionTrialing:
		return true
	case SubscriptionPastDue:
		return s.GraceUntil != nil && now.Before(*s.GraceUntil)
	}
	return false
}

// Subscription is an account's subscription to a plan, as the payment
// provider keeps it: Tollgate mirrors its state and puts the account on
// Plan while it entitles it.
type Subscription struct {
	ID        string // the provider's: sub_...
	AccountID string
	Provider  string // "stripe"
	Customer  string // the provider's customer: cus_...
	Plan      string
	Interval  string
	Currency  string
	Status    SubscriptionStatus
	// CancelAtPeriodEnd: the buyer cancelled; the plan stays until
	// PeriodEnd.
	CancelAtPeriodEnd bool
	PeriodStart       time.Time
	PeriodEnd         time.Time
	// PaidThrough is the end of the last period a paid invoice covered;
	// it only moves forward.
	PaidThrough *time.Time
	// GraceUntil, while a renewal is unpaid (past_due), is when the
	// account leaves the plan if it is still unpaid.
	GraceUntil *time.Time
	// FallbackPlan is the plan the account returns to when the
	// subscription ends.
	FallbackPlan string
	// Entitled: the account is on Plan through this subscription. EndedAt
	// is when that stopped (cancelled, unpaid past the grace period).
	Entitled  bool
	EndedAt   *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// StateAt is when this state was read from the provider: a state read
	// earlier is never applied over it (two instances applying events of
	// one subscription at once).
	StateAt time.Time
}

// Invoice is one invoice of a subscription: its first payment, a renewal
// or a proration, with what it cost net, in tax and gross.
type Invoice struct {
	ID             string // the provider's: in_...
	SubscriptionID string
	AccountID      string
	// Reason is Stripe's billing_reason: subscription_create,
	// subscription_cycle, subscription_update...
	Reason      string
	Status      string // paid, open (a failed attempt), void, uncollectible
	Paid        Paid
	PeriodStart time.Time
	PeriodEnd   time.Time
	PDFURL      string
	CreatedAt   time.Time
}
