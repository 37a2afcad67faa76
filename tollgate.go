// Package tollgate holds the domain shared by every part of Tollgate: accounts,
// grants, holds, journal entries, plans, the Credits and Money types and the
// error codes the API speaks. It imports nothing from the rest of the module.
package tollgate

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Product is something that spends credits.
type Product string

// The products that exist from the start.
const (
	ProductVideo     Product = "video"
	ProductAssistant Product = "assistant"
	ProductStitch    Product = "stitch"
)

// Products lists every known product in a stable order.
var Products = []Product{ProductVideo, ProductAssistant, ProductStitch}

// Valid reports whether p is a known product.
func (p Product) Valid() bool {
	for _, q := range Products {
		if p == q {
			return true
		}
	}
	return false
}

// AccountStatus is the state of an account.
type AccountStatus string

// Account statuses. A suspended account may not hold or spend credits.
const (
	AccountActive    AccountStatus = "active"
	AccountSuspended AccountStatus = "suspended"
)

// Account is a customer of the platform: a creator or a team.
type Account struct {
	ID        string
	Name      string
	Plan      string
	Timezone  string // IANA name, e.g. "Europe/Paris"
	Status    AccountStatus
	CreatedAt time.Time
	// Currency is the currency the account buys in (a lowercase ISO 4217
	// code), "" when it chose none: its requests' language decides.
	Currency string
	// LowBalance: when the credits the account can spend (today's allowance
	// left out) fall below it, a credits.low event fires. Zero: never.
	LowBalance Credits
	// PendingHolds counts the account's pending holds, kept by the ledger
	// in the transaction that makes or settles each one.
	PendingHolds int
	// TimezoneFrom, when its time zone last changed, is when the local day
	// then in progress ended (in the zone it had): that day kept its
	// allowance and its end; days in the new zone start from it.
	TimezoneFrom *time.Time
	// PlanBefore, until PlanFrom (the end of the local day in progress
	// when the plan last changed), was the account's plan: until then the
	// daily allowance is the greater of the two plans' (an upgrade applies
	// at once, a downgrade from the next day).
	PlanBefore string
	PlanFrom   *time.Time
}

// Location returns the account's time zone, UTC if it cannot be loaded.
func (a Account) Location() *time.Location {
	return LoadLocation(a.Timezone)
}

// GrantSource says where credits came from.
type GrantSource string

// Grant sources.
const (
	SourceAllowance GrantSource = "allowance"
	SourcePurchase  GrantSource = "purchase"
	SourcePromo     GrantSource = "promo"
	SourceRefund    GrantSource = "refund"
	SourceRoyalty   GrantSource = "royalty"
	SourceAdmin     GrantSource = "admin"
	SourceTransfer  GrantSource = "transfer" // moved from another account
)

// GrantSources lists every source.
var GrantSources = []GrantSource{SourceAllowance, SourcePurchase, SourcePromo, SourceRefund, SourceRoyalty, SourceAdmin, SourceTransfer}

// Valid reports whether s is a known source.
func (s GrantSource) Valid() bool { return slices.Contains(GrantSources, s) }

// Grant is a lot of credits given to an account. Remaining counts the credits
// neither spent nor held; it never goes below zero.
type Grant struct {
	ID          string
	AccountID   string
	Source      GrantSource
	Amount      Credits
	Remaining   Credits
	Products    []Product // empty: pays for every product
	Priority    int       // lower is spent first among grants expiring together
	EffectiveAt time.Time
	ExpiresAt   *time.Time // nil: never expires
	ExpiredAt   *time.Time // set once expiry moved the remainder to breakage
	ExternalRef string     // e.g. a payment reference or "allowance:video:2026-11-21"
	CreatedAt   time.Time
	// RefundOwed counts credits a refund of the grant's payment claimed
	// while pending holds held them: as the holds return credits, these go
	// to the refunds book instead of back to the grant. While it is not
	// zero, Remaining is zero.
	RefundOwed Credits
	// Frozen: a dispute of the grant's payment is open. A frozen grant pays
	// for nothing until the dispute closes; what pending holds return to
	// it stays frozen.
	Frozen bool
	// Held counts the credits pending holds drew from the grant and still
	// hold (overdue ones included until they are timed out): a balance
	// or a refund reads it instead of every pending hold.
	Held Credits
}

// Pays reports whether the grant may pay for product p.
func (g *Grant) Pays(p Product) bool {
	if len(g.Products) == 0 {
		return true
	}
	for _, q := range g.Products {
		if q == p {
			return true
		}
	}
	return false
}

// Usable reports whether the grant is in force at t: effective and not expired.
// Spendable reports whether the grant may pay at t: usable and not frozen.
func (g *Grant) Spendable(t time.Time) bool { return !g.Frozen && g.Usable(t) }

// Usable reports whether the grant is in force at t: effective, not expired.
func (g *Grant) Usable(t time.Time) bool {
	if g.ExpiredAt != nil || t.Before(g.EffectiveAt) {
		return false
	}
	return g.ExpiresAt == nil || t.Before(*g.ExpiresAt)
}

// HoldStatus is the state of a hold.
type HoldStatus string

// Hold statuses. Only pending holds may be captured or released.
const (
	HoldPending  HoldStatus = "pending"
	HoldCaptured HoldStatus = "captured"
	HoldReleased HoldStatus = "released"
	HoldExpired  HoldStatus = "expired"
)

// Allocation is the part of a hold drawn from one grant.
type Allocation struct {
	GrantID string
	Amount  Credits
}

// Hold reserves credits for a job that has not finished.
type Hold struct {
	ID          string
	AccountID   string
	Product     Product
	Amount      Credits // reserved
	Captured    Credits // charged at capture; zero until then
	Status      HoldStatus
	Allocations []Allocation // in burn-down order
	Metadata    map[string]string
	QuoteID     string
	KeyID       string // the account key that made it; "" for an admin key
	CreatedAt   time.Time
	ExpiresAt   time.Time
	SettledAt   *time.Time
}

// Book names one side of the double-entry journal.
type Book string

// Customer books carry a grant id; system books collect the other side.
const (
	BookAvailable  Book = "available"   // a grant's spendable credits
	BookHeld       Book = "held"        // a grant's credits reserved by holds
	BookIssuance   Book = "issuance"    // where granted credits come from
	BookBreakage   Book = "breakage"    // expired, never spent
	BookRefunds    Book = "refunds"     // credits taken back when a payment was refunded
	BookRefundLoss Book = "refund_loss" // credits spent before their payment was refunded
	// A transfer between accounts: what leaves a grant of one goes to
	// transfer_out, what a grant of the other receives comes from
	// transfer_in; the two sum to zero.
	BookTransferOut Book = "transfer_out"
	BookTransferIn  Book = "transfer_in"
	// A fee paid at capture to a cameo's or a published video's owner:
	// the payer's revenue gives the owner's share to royalty_out, and the
	// owner's royalty grant receives it from royalty_in; the two sum to
	// zero. What the platform keeps stays in revenue.
	BookRoyaltyOut Book = "royalty_out"
	BookRoyaltyIn  Book = "royalty_in"
	// Earnings paid out (or on their way): a failed payout brings them
	// back to the grants they left.
	BookPayouts Book = "payouts"
)

// RevenueBook is the book that collects spent credits of product p.
func RevenueBook(p Product) Book { return Book("revenue:" + string(p)) }

// TxnKind says what a journal transaction did.
type TxnKind string

// Journal transaction kinds.
const (
	TxnGrant    TxnKind = "grant"
	TxnHold     TxnKind = "hold"
	TxnCapture  TxnKind = "capture"
	TxnRelease  TxnKind = "release"
	TxnExpire   TxnKind = "expire"      // a grant's remainder to breakage
	TxnTimeout  TxnKind = "hold_expire" // a hold nobody settled
	TxnUsage    TxnKind = "usage"
	TxnRefund   TxnKind = "refund"
	TxnTransfer TxnKind = "transfer"
	TxnRoyalty  TxnKind = "royalty" // a fee paid to an owner at capture
	TxnPayout   TxnKind = "payout"  // earnings paid out, or back from a failed payout
)

var txnKinds = []TxnKind{TxnGrant, TxnHold, TxnCapture, TxnRelease, TxnExpire, TxnTimeout, TxnUsage, TxnRefund, TxnTransfer, TxnRoyalty, TxnPayout}

// Valid reports whether k is a known transaction kind.
func (k TxnKind) Valid() bool { return slices.Contains(txnKinds, k) }

// TxnKinds lists the transaction kinds, comma-separated.
func TxnKinds() string {
	var s []string
	for _, k := range txnKinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

var books = []Book{BookAvailable, BookHeld, BookIssuance, BookBreakage, BookRefunds, BookRefundLoss, BookTransferOut, BookTransferIn, BookRoyaltyOut, BookRoyaltyIn, BookPayouts}

// Valid reports whether b is a known book: a fixed one, or a product's
// revenue book.
func (b Book) Valid() bool {
	if p, ok := strings.CutPrefix(string(b), "revenue:"); ok {
		return Product(p).Valid()
	}
	return slices.Contains(books, b)
}

// Books lists the fixed books, comma-separated.
func Books() string {
	var s []string
	for _, b := range books {
		s = append(s, string(b))
	}
	return strings.Join(s, ", ")
}

// Entry is one line of the journal. The entries of a transaction sum to zero.
type Entry struct {
	ID        int64
	TxnID     string
	Kind      TxnKind
	AccountID string
	Book      Book
	GrantID   string
	HoldID    string
	Amount    Credits // positive: credited to Book
	CreatedAt time.Time
}

// PlanVersion is one version of a plan: the daily allowance per product in
// force from EffectiveAt until the next version.
type PlanVersion struct {
	Plan        string
	Version     int
	EffectiveAt time.Time
	Allowances  map[Product]Credits
	// Limits bound each key of an account on this plan; zero fields take
	// the defaults.
	Limits    Limits
	CreatedAt time.Time
}

// Limits bound what keys may do. On a plan they apply to every account key
// of its accounts; on a key they can only lower its plan's. Zero is the
// default (of the plan: DefaultLimits; of a key: its plan's).
type Limits struct {
	// RequestsPerSecond a key may send to one instance, on average; a
	// burst of as many is allowed.
	RequestsPerSecond int
	// ConcurrentRequests a key may have in flight on one instance.
	ConcurrentRequests int
	// MaxPendingHolds an account (on a plan) or a key may have pending at
	// once, across every instance.
	MaxPendingHolds int
}

// DefaultLimits apply where neither the plan nor the key sets a limit.
var DefaultLimits = Limits{RequestsPerSecond: 100, ConcurrentRequests: 32, MaxPendingHolds: 1000}

// MaxLimits are the highest limits a plan or a key may set.
var MaxLimits = Limits{RequestsPerSecond: 100_000, ConcurrentRequests: 10_000, MaxPendingHolds: 1_000_000}

// Or returns l with each zero field taken from d.
func (l Limits) Or(d Limits) Limits {
	if l.RequestsPerSecond == 0 {
		l.RequestsPerSecond = d.RequestsPerSecond
	}
	if l.ConcurrentRequests == 0 {
		l.ConcurrentRequests = d.ConcurrentRequests
	}
	if l.MaxPendingHolds == 0 {
		l.MaxPendingHolds = d.MaxPendingHolds
	}
	return l
}

// Min returns the lower of l and o in each field, a zero field of o
// leaving l's.
func (l Limits) Min(o Limits) Limits {
	low := func(a, b int) int {
		if b > 0 && b < a {
			return b
		}
		return a
	}
	return Limits{low(l.RequestsPerSecond, o.RequestsPerSecond), low(l.ConcurrentRequests, o.ConcurrentRequests),
		low(l.MaxPendingHolds, o.MaxPendingHolds)}
}

// Scope is what a key may do.
type Scope string

// Scopes.
const (
	ScopeRead  Scope = "read"  // GET requests
	ScopeWrite Scope = "write" // everything else
)

// APIKey is a stored key. Only its hash is kept; the secret is shown once.
type APIKey struct {
	ID        string
	AccountID string // empty for an admin key
	Name      string // given by its creator, to tell keys apart
	Prefix    string // the secret's first characters, to recognise it
	Hash      []byte
	CreatedAt time.Time
	RevokedAt *time.Time
	// LastUsedAt is when the key was last accepted, to the minute or so.
	LastUsedAt *time.Time
	// Scopes the key has; empty is every scope.
	Scopes []Scope
	// Products the key may hold, use and quote for; empty is every product.
	Products []Product
	// ExpiresAt, when set, is when the key stops working.
	ExpiresAt *time.Time
	// Limits lower its plan's for this key; zero fields keep the plan's.
	Limits Limits
}

// Admin reports whether the key acts on every account.
func (k APIKey) Admin() bool { return k.AccountID == "" }

// Can reports whether the key has scope s.
func (k APIKey) Can(s Scope) bool { return len(k.Scopes) == 0 || slices.Contains(k.Scopes, s) }

// MayUse reports whether the key may spend on product p.
func (k APIKey) MayUse(p Product) bool { return len(k.Products) == 0 || slices.Contains(k.Products, p) }

// CleanText reports whether s is valid UTF-8 without control characters
// (NUL included), so that every store keeps it as given.
func CleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Quote is a priced request. Its price is locked until ExpiresAt: a hold
// made with it reserves at most Credits, whatever the prices are by then.
// A quote pays for one job.
type Quote struct {
	ID        string
	AccountID string
	Product   Product
	Credits   Credits
	Details   []byte // the answer given for the quote, as JSON
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Pack is credits for sale: Credits for Price, valid ValidForDays after
// payment, paying for Products (empty: every product). An inactive pack is
// no longer sold; orders already made keep their terms.
type Pack struct {
	ID      string
	Credits Credits
	Price   Money // in its default currency
	// Prices are its prices in other currencies, each set by the operator
	// (never converted), in minor units as Stripe counts them.
	Prices       []Money
	ValidForDays int
	Products     []Product
	Active       bool
	CreatedAt    time.Time
}

// PriceIn is the pack's price in currency ("" or its default currency:
// Price), and whether it is sold in it.
func (p Pack) PriceIn(currency string) (Money, bool) {
	if currency == "" || currency == p.Price.Currency {
		return p.Price, true
	}
	for _, m := range p.Prices {
		if m.Currency == currency {
			return m, true
		}
	}
	return Money{}, false
}

// Currencies lists the currencies the pack is sold in, its default first.
func (p Pack) Currencies() []string {
	out := []string{p.Price.Currency}
	for _, m := range p.Prices {
		out = append(out, m.Currency)
	}
	return out
}

// Pays reports whether the pack's credits pay for product p.
func (p Pack) Pays(product Product) bool {
	if len(p.Products) == 0 {
		return true
	}
	for _, q := range p.Products {
		if q == product {
			return true
		}
	}
	return false
}

// OrderStatus is the state of an order.
type OrderStatus string

// Order statuses: pending until paid, completed once its credits are
// granted, refunded when the payment was returned.
const (
	OrderPending   OrderStatus = "pending"
	OrderCompleted OrderStatus = "completed"
	OrderRefunded  OrderStatus = "refunded"
)

// Order is the purchase of one pack by one account. It copies the pack's
// terms, so a later change to the pack does not change the order.
type Order struct {
	ID           string
	AccountID    string
	PackID       string
	Credits      Credits
	Price        Money
	ValidForDays int
	Products     []Product
	Status       OrderStatus
	Provider     string // "dev" or "stripe"
	ProviderRef  string // the checkout: e.g. the Stripe Checkout Session id
	PaymentRef   string // the payment, once made: e.g. the Stripe PaymentIntent id
	// PaymentProblem says why a payment naming this order was not
	// accepted (another session, amount or currency); empty if none was.
	PaymentProblem string
	GrantID        string // the grant made when paid
	// RefundedCredits is how many of the order's credits refunds have
	// covered so far (taken back or recorded as lost).
	RefundedCredits Credits
	CreatedAt       time.Time
	CompletedAt     *time.Time
	RefundedAt      *time.Time
	// DisputeID is the payment's dispute, if any (a Stripe dispute id),
	// DisputeStatus where it stands: open, won or lost.
	DisputeID     string
	DisputeStatus DisputeStatus
	// TaxBehavior is how Price related to tax when the order was made:
	// inclusive, exclusive (tax added at checkout) or none computed.
	TaxBehavior TaxBehavior
	// Paid is what the buyer paid (net, tax, gross) and the provider's
	// receipt and invoice links, once the provider reported the payment;
	// nil before, and for the dev provider's orders.
	Paid *Paid
}

// DisputeStatus is where a dispute of an order's payment stands.
type DisputeStatus string

// Dispute states.
const (
	DisputeOpen DisputeStatus = "open" // the order's credits are frozen
	DisputeWon  DisputeStatus = "won"  // the credits are free again
	DisputeLost DisputeStatus = "lost" // the credits were taken back as by a refund
)

// PriceRule is one version of a price rule: Credits per Per units of Meter
// for Product, for requests matching Tier and Resolution (empty matches
// any), from EffectiveAt until a later version of the same ID.
type PriceRule struct {
	ID          string
	Product     Product
	Meter       string
	Tier        string
	Resolution  string
	Per         int64
	Credits     Credits
	EffectiveAt time.Time
	CreatedAt   time.Time
}

// Event is something that happened, for outbound webhooks: kept in an
// outbox in the same transaction as the change it reports, so none is lost.
type Event struct {
	ID        string
	Type      string // "order.completed", "plan.change_scheduled", ...
	AccountID string // "" for events about no one account
	Payload   []byte // the JSON sent as the webhook body
	CreatedAt time.Time
}

// Endpoint is a URL that receives events, signed with Secret per the
// Standard Webhooks specification.
type Endpoint struct {
	ID        string
	URL       string
	Secret    string   // "whsec_" + base64
	Types     []string // empty: every event type
	CreatedAt time.Time
	// Disabled endpoints are sent nothing and queue nothing.
	Disabled bool
	// OldSecret, after a rotation, signs beside Secret until OldSecretUntil,
	// so a receiver can switch secrets without missing an event.
	OldSecret      string
	OldSecretUntil *time.Time
	// AccountID, for an endpoint an account key registered, is the one
	// account whose events it gets; "" (the operator's) gets every
	// account's.
	AccountID string
}

// Delivery is one event owed to one endpoint.
type Delivery struct {
	Event      Event
	EndpointID string
	URL        string
	Secret     string
	OldSecret  string // also signs, while the endpoint's rotation overlaps
	Attempts   int
	NextAt     time.Time
}

// AuditEntry records one admin or owner action: who did what to which
// object, when, in which request. The audit log is append-only.
type AuditEntry struct {
	ID        string
	CreatedAt time.Time
	// ActorKey is the key that acted ("" for Tollgate itself or a payment
	// provider), ActorKind its kind: admin, account, provider or system.
	ActorKey  string
	ActorKind string
	AccountID string // the account acted on, if any
	Action    string // such as grant.create, key.revoke, plan_version.create
	Target    string // the id of the object acted on
	RequestID string // the Request-Id of the API request, if any
	Detail    string // a JSON object: what changed
}

// PaymentEvent is one event a payment provider sent, as received: what it
// was about and what Tollgate did with it. Matched is false when it
// concerned no order Tollgate has (a charge it did not sell, an order id it
// does not know): the operator looks at those.
type PaymentEvent struct {
	ID         string // Tollgate's, in the order received
	Provider   string
	EventID    string // the provider's
	Type       string
	ObjectID   string // the session, charge or dispute it is about
	OrderID    string // the order it was applied to, if any
	Matched    bool
	Outcome    string // what was done, or why nothing was
	CreatedAt  time.Time
	ReceivedAt time.Time
}
