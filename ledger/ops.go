package ledger

import (
	"context"
	"strings"
	"time"

	"tollgate"
)

// run queues operation x and waits for its outcome; x then holds its
// result.
func run[O operation](ctx context.Context, l *Ledger, x O, idem *Idempotency, audit *tollgate.AuditEntry) (O, error) {
	err := l.submit(ctx, newOp(x, idem, audit))
	return x, err
}

// GrantParams are the arguments of Grant.
type GrantParams struct {
	AccountID   string
	Credits     tollgate.Credits
	Source      tollgate.GrantSource
	Products    []tollgate.Product // empty: every product
	Priority    int
	EffectiveAt *time.Time // default: now
	ExpiresAt   *time.Time // nil and ValidFor zero: never expires
	ValidFor    time.Duration
	ExternalRef string // unique per account when set
	Idempotency *Idempotency
}

// HoldParams are the arguments of Hold and Usage.
type HoldParams struct {
	AccountID string
	Product   tollgate.Product
	Credits   tollgate.Credits
	TTL       time.Duration // Hold only; default Options.DefaultHoldTTL
	Metadata  map[string]string
	QuoteID   string
	// KeyID is the account key asking, "" for an admin key; the hold
	// counts towards that key's pending holds. KeyMaxPending, when more
	// than zero, caps them (a key's own limit; the plan caps the account's).
	KeyID         string
	KeyMaxPending int
	Idempotency   *Idempotency
}

// CaptureParams are the arguments of Capture.
type CaptureParams struct {
	HoldID string
	// Credits to charge; nil charges the whole hold. It may not exceed the
	// hold: a user is never charged more than quoted.
	Credits *tollgate.Credits
	// AccountID, when set, restricts the call to that account's holds
	// (an account key); another account's hold is not found.
	AccountID string
	// Products, when set, restricts the call to holds for those products
	// (a key limited to them); another product's hold is forbidden.
	Products    []tollgate.Product
	Idempotency *Idempotency
}

// ReleaseParams are the arguments of Release.
type ReleaseParams struct {
	HoldID      string
	AccountID   string             // as in CaptureParams
	Products    []tollgate.Product // as in CaptureParams
	Idempotency *Idempotency
}

// Grant gives credits to an account. It returns invalid_field errors for bad
// arguments, not_found for an unknown account and conflict for a repeated
// ExternalRef.
func (l *Ledger) Grant(ctx context.Context, p GrantParams) (tollgate.Grant, error) {
	if err := validateGrant(&p); err != nil {
		return tollgate.Grant{}, err
	}
	audit := l.auditEntry(ctx, "grant.create", p.AccountID, "", nil)
	o, err := run(ctx, l, &grantOp{p: p}, p.Idempotency, &audit)
	if err != nil {
		return tollgate.Grant{}, err
	}
	return o.res, nil
}

func validateGrant(p *GrantParams) error {
	if p.AccountID == "" {
		return tollgate.FieldError("account_id", "is required")
	}
	if !validID(p.AccountID) {
		return tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	if p.Credits <= 0 {
		return tollgate.FieldError("credits", "must be more than zero")
	}
	if p.Credits > tollgate.MaxCredits {
		return tollgate.FieldError("credits", "must be at most %s", tollgate.MaxCredits)
	}
	if p.Source == "" {
		p.Source = tollgate.SourceAdmin
	}
	if !p.Source.Valid() || p.Source == tollgate.SourceAllowance || p.Source == tollgate.SourceTransfer {
		return tollgate.FieldError("source", "must be one of purchase, promo, refund, royalty, admin")
	}
	if err := validateProducts(p.Products); err != nil {
		return err
	}
	if p.ExpiresAt != nil && p.ValidFor != 0 {
		return tollgate.FieldError("expires_at", "give expires_at or valid_for_days, not both")
	}
	if p.ValidFor < 0 {
		return tollgate.FieldError("valid_for_days", "must be more than zero")
	}
	if p.Priority < -1000 || p.Priority > 1000 {
		return tollgate.FieldError("priority", "must be between -1000 and 1000")
	}
	if len(p.ExternalRef) > 200 || !tollgate.CleanText(p.ExternalRef) {
		return tollgate.FieldError("external_ref", "must be at most 200 characters of UTF-8 text without control characters")
	}
	for _, reserved := range reservedRefs {
		if strings.HasPrefix(p.ExternalRef, reserved) {
			return tollgate.FieldError("external_ref", "references starting with %q are Tollgate's own (daily allowances, orders); choose another", reserved)
		}
	}
	return nil
}

// reservedRefs start the external references Tollgate gives its own grants:
// a grant given with one could stand in for a day's allowance or an order.
var reservedRefs = []string{"allowance:", "order:"}

func validateProducts(ps []tollgate.Product) error {
	seen := map[tollgate.Product]bool{}
	for _, p := range ps {
		if !p.Valid() {
			return tollgate.FieldError("products", "unknown product %q; known: video, assistant, stitch", p)
		}
		if seen[p] {
			return tollgate.FieldError("products", "product %q listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// validID reports whether id could name a row: ids with bytes no store
// keeps can name nothing, so they are not found rather than errors.
func validID(id string) bool { return len(id) <= 200 && tollgate.CleanText(id) }

func validateHold(p *HoldParams, l *Ledger, usage bool) error {
	if p.AccountID == "" {
		return tollgate.FieldError("account_id", "is required")
	}
	if !validID(p.AccountID) {
		return tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	if !p.Product.Valid() {
		return tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", p.Product)
	}
	if p.Credits <= 0 {
		return tollgate.FieldError("credits", "must be more than zero")
	}
	if p.Credits > tollgate.MaxCredits {
		return tollgate.FieldError("credits", "must be at most %s", tollgate.MaxCredits)
	}
	if !usage {
		if p.TTL == 0 {
			p.TTL = l.opt.DefaultHoldTTL
		}
		if p.TTL < MinHoldTTL || p.TTL > MaxHoldTTL {
			return tollgate.FieldError("ttl_seconds", "must be between 1 and %d", int(MaxHoldTTL/time.Second))
		}
	}
	if len(p.Metadata) > MaxMetadataKeys {
		return tollgate.FieldError("metadata", "at most %d keys", MaxMetadataKeys)
	}
	size := 0
	for k, v := range p.Metadata {
		if k == "" || len(k) > MaxMetadataKeyLen || len(v) > MaxMetadataValueLen || !tollgate.CleanText(k) || !tollgate.CleanText(v) {
			return tollgate.FieldError("metadata", "keys must be 1 to %d bytes and values at most %d, UTF-8 text without control characters",
				MaxMetadataKeyLen, MaxMetadataValueLen)
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return tollgate.FieldError("metadata", "keys and values may hold at most %d bytes in all; this has %d", MaxMetadataBytes, size)
	}
	return nil
}

// Hold reserves credits for product on an account, drawing on its grants in
// burn-down order. It fails with insufficient_credits (carrying the figures)
// when the account cannot pay, account_suspended, or not_found.
func (l *Ledger) Hold(ctx context.Context, p HoldParams) (tollgate.Hold, error) {
	if err := validateHold(&p, l, false); err != nil {
		return tollgate.Hold{}, err
	}
	o, err := run(ctx, l, &holdOp{p: p}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Hold{}, err
	}
	return o.res, nil
}

// Usage reserves and captures in one step, for products metered after the
// fact such as an LLM assistant. It returns the settled record, a Hold in
// status captured, and fails like Hold.
func (l *Ledger) Usage(ctx context.Context, p HoldParams) (tollgate.Hold, error) {
	if err := validateHold(&p, l, true); err != nil {
		return tollgate.Hold{}, err
	}
	o, err := run(ctx, l, &holdOp{p: p, usage: true}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Hold{}, err
	}
	return o.res, nil
}

// Capture charges a pending hold, all of it or part; the rest goes back to
// the grants it came from. It fails with hold_not_pending when the hold was
// settled or expired, capture_exceeds_hold when asked for more than it holds,
// and not_found.
func (l *Ledger) Capture(ctx context.Context, p CaptureParams) (tollgate.Hold, error) {
	if p.HoldID == "" {
		return tollgate.Hold{}, tollgate.FieldError("hold_id", "is required")
	}
	if !validID(p.HoldID) {
		return tollgate.Hold{}, tollgate.Errorf(tollgate.CodeNotFound, "hold %q not found", p.HoldID)
	}
	if p.Credits != nil && *p.Credits < 0 {
		return tollgate.Hold{}, tollgate.FieldError("credits", "must not be negative")
	}
	o, err := run(ctx, l, &closeHoldOp{holdID: p.HoldID, owner: p.AccountID, products: p.Products, credits: p.Credits}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Hold{}, err
	}
	return o.res, nil
}

// Release returns a pending hold's credits to the grants they came from (to
// breakage for a grant that expired meanwhile). It fails like Capture.
func (l *Ledger) Release(ctx context.Context, p ReleaseParams) (tollgate.Hold, error) {
	if p.HoldID == "" {
		return tollgate.Hold{}, tollgate.FieldError("hold_id", "is required")
	}
	if !validID(p.HoldID) {
		return tollgate.Hold{}, tollgate.Errorf(tollgate.CodeNotFound, "hold %q not found", p.HoldID)
	}
	o, err := run(ctx, l, &closeHoldOp{holdID: p.HoldID, owner: p.AccountID, products: p.Products, release: true}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Hold{}, err
	}
	return o.res, nil
}

// SweepAccount applies due grant expiries and hold timeouts on one
// account. The sweeper calls it; reads and writes apply the same rules on
// their own.
func (l *Ledger) SweepAccount(ctx context.Context, accountID string) error {
	_, err := run(ctx, l, &sweepOp{accountID: accountID}, nil, nil)
	return err
}

// CompleteOrderParams are the arguments of CompleteOrder.
type CompleteOrderParams struct {
	OrderID string
	// PaidAt starts the credits' validity: they expire the order's
	// ValidForDays after it.
	PaidAt time.Time
	// PaymentRef, when set, is recorded as the order's payment reference
	// (a Stripe PaymentIntent id), by which later refunds find it.
	PaymentRef string
	// Paid, when set, is recorded as what the buyer paid (net, tax,
	// gross, receipt), unless the order records it already.
	Paid *tollgate.Paid
}

// RefundOrderParams are the arguments of RefundOrder.
type RefundOrderParams struct {
	OrderID string
	// Refunded of Total, in the payment's minor units: how much of the
	// payment has been refunded so far, all refunds together (Stripe's
	// amount_refunded of amount). It only grows; an older figure is a repeat.
	Refunded, Total int64
}

// OrderResult is the outcome of CompleteOrder and RefundOrder.
type OrderResult struct {
	Order tollgate.Order
	// Changed is false when the call changed nothing: a repeat.
	Changed bool
	// Grant is the order's grant, once made.
	Grant *tollgate.Grant
	// Refund is what a refund took back of the order's credits: by this
	// call, or by CompleteOrder for refunds that came before the payment.
	Refund Refunded
}

// Refunded is what a refund did to the credits it covered.
type Refunded struct {
	TakenBack tollgate.Credits // unspent: taken from the grant at once
	Owed      tollgate.Credits // held by pending holds: taken as they return
	Lost      tollgate.Credits // already spent (or expired): recorded as a refund loss
}

// CompleteOrder grants a paid order's credits and marks the order
// completed, in one transaction with the order.completed event, exactly
// once: a repeat (a retried webhook, a second click) changes nothing but
// the payment reference. A refund that came before the payment is taken
// back from the new grant in the same transaction. It fails with not_found
// for an unknown order and conflict for a refunded one.
func (l *Ledger) CompleteOrder(ctx context.Context, p CompleteOrderParams) (OrderResult, error) {
	if !validID(p.OrderID) || p.OrderID == "" {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %q not found", p.OrderID)
	}
	if len(p.PaymentRef) > 200 || !tollgate.CleanText(p.PaymentRef) {
		return OrderResult{}, tollgate.FieldError("payment_ref", "must be at most 200 characters of text")
	}
	if err := CheckPaid(p.Paid); err != nil {
		return OrderResult{}, err
	}
	o, err := run(ctx, l, &completeOrderOp{p: p}, nil, nil)
	if err != nil {
		return OrderResult{}, err
	}
	return o.res, nil
}

// CheckPaid checks what a provider reported as paid (nil passes): amounts
// from 0 with gross = net + tax, a currency code, links of clean text of at
// most 2,000 characters.
func CheckPaid(p *tollgate.Paid) error {
	if p == nil {
		return nil
	}
	switch {
	case !tollgate.ValidCurrency(p.Currency):
		return tollgate.FieldError("paid.currency", "must be a lowercase ISO 4217 code, not %q", p.Currency)
	case p.Net < 0 || p.Tax < 0 || p.Gross < 0 || p.Net > tollgate.MaxMinorUnits || p.Tax > tollgate.MaxMinorUnits || p.Net+p.Tax != p.Gross:
		return tollgate.FieldError("paid", "net %d + tax %d must make gross %d, none below 0", p.Net, p.Tax, p.Gross)
	}
	for _, u := range []string{p.ReceiptURL, p.InvoiceURL} {
		if len(u) > 2000 || !tollgate.CleanText(u) {
			return tollgate.FieldError("paid", "a receipt or invoice link must be at most 2,000 characters of text")
		}
	}
	return nil
}

// RefundOrder records a refund of an order's payment and takes back, in
// the same transaction, the credits it covers (that share of the order's
// credits, rounded up) beyond what earlier refunds covered: what is
// available at once, what pending holds hold as they return it, and
// records the rest, already spent, as a refund loss. A full refund closes
// the grant. A refund before the payment is recorded on the order and
// applied when it completes. A repeat, or an older figure, changes nothing.
// It fails with not_found for an unknown order and invalid_field for
// figures that are not a refund.
func (l *Ledger) RefundOrder(ctx context.Context, p RefundOrderParams) (OrderResult, error) {
	if !validID(p.OrderID) || p.OrderID == "" {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %q not found", p.OrderID)
	}
	if p.Refunded <= 0 || p.Total <= 0 || p.Refunded > p.Total {
		return OrderResult{}, tollgate.FieldError("amount_refunded", "%d of %d is not a refund", p.Refunded, p.Total)
	}
	audit := l.auditEntry(ctx, "order.refund", "", p.OrderID, nil)
	o, err := run(ctx, l, &refundOrderOp{p: p}, nil, &audit)
	if err != nil {
		return OrderResult{}, err
	}
	return o.res, nil
}

// DisputeParams are the arguments of DisputeOrder.
type DisputeParams struct {
	OrderID   string
	DisputeID string
	Status    tollgate.DisputeStatus
	// Amount disputed, in the payment's minor units: what a lost dispute
	// takes back, as a refund of that much would.
	Amount int64
}

// DisputeOrder records where a dispute of an order's payment stands, with
// what it does to the order's credits, in one transaction: open freezes
// the order's grant (it pays for nothing; holds already made run on), won
// frees it, lost takes back the amount disputed as a refund would and
// frees what is left. A dispute that closed stays closed: a late or
// repeated event changes nothing. It fails with not_found for an unknown
// order and invalid_field for figures that are not a dispute.
func (l *Ledger) DisputeOrder(ctx context.Context, p DisputeParams) (OrderResult, error) {
	if !validID(p.OrderID) || p.OrderID == "" {
		return OrderResult{}, tollgate.Errorf(tollgate.CodeNotFound, "order %q not found", p.OrderID)
	}
	switch {
	case p.DisputeID == "" || len(p.DisputeID) > 200 || !tollgate.CleanText(p.DisputeID):
		return OrderResult{}, tollgate.FieldError("dispute_id", "is required, at most 200 characters")
	case p.Status != tollgate.DisputeOpen && p.Status != tollgate.DisputeWon && p.Status != tollgate.DisputeLost:
		return OrderResult{}, tollgate.FieldError("status", "must be open, won or lost")
	case p.Amount < 0 || (p.Status == tollgate.DisputeLost && p.Amount == 0):
		return OrderResult{}, tollgate.FieldError("amount", "%d is not an amount disputed", p.Amount)
	}
	audit := l.auditEntry(ctx, "order.dispute", "", p.OrderID, nil)
	o, err := run(ctx, l, &disputeOrderOp{p: p}, nil, &audit)
	if err != nil {
		return OrderResult{}, err
	}
	return o.res, nil
}

// TransferParams are the arguments of Transfer.
type TransferParams struct {
	From, To string
	Credits  tollgate.Credits
	// Product, when set, moves only credits that may pay for it.
	Product tollgate.Product
	// Source is the source of the grants made for To: transfer (the
	// default) or royalty.
	Source      tollgate.GrantSource
	Idempotency *Idempotency
}

// Transfer is the outcome of Ledger.Transfer.
type Transfer struct {
	TxnID    string
	From, To string
	Credits  tollgate.Credits
	// Drawn are the parts taken from From's grants, in burn-down order.
	Drawn []tollgate.Allocation
	// Grants are those made for To: one per grant drawn, keeping its
	// expiry and products, so a transfer never lengthens credits' life or
	// widens what they pay for.
	Grants    []tollgate.Grant
	CreatedAt time.Time
}

// Transfer moves credits from one account to another in one transaction,
// locking both accounts in id order (so transfers in opposite directions
// never deadlock, on one instance or many). It draws on From's grants in
// burn-down order, today's allowance left out (an allowance is not
// transferable), and gives To one grant per grant drawn. It fails with
// invalid_field for bad arguments, not_found for an unknown account,
// account_suspended when From may not spend, and insufficient_credits.
func (l *Ledger) Transfer(ctx context.Context, p TransferParams) (Transfer, error) {
	switch {
	case p.From == "":
		return Transfer{}, tollgate.FieldError("from", "is required")
	case p.To == "":
		return Transfer{}, tollgate.FieldError("to", "is required")
	case !validID(p.From):
		return Transfer{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.From)
	case !validID(p.To):
		return Transfer{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.To)
	case p.From == p.To:
		return Transfer{}, tollgate.FieldError("to", "must be another account than from")
	case p.Credits <= 0:
		return Transfer{}, tollgate.FieldError("credits", "must be more than zero")
	case p.Credits > tollgate.MaxCredits:
		return Transfer{}, tollgate.FieldError("credits", "must be at most %s", tollgate.MaxCredits)
	case p.Product != "" && !p.Product.Valid():
		return Transfer{}, tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", p.Product)
	}
	if p.Source == "" {
		p.Source = tollgate.SourceTransfer
	}
	if p.Source != tollgate.SourceTransfer && p.Source != tollgate.SourceRoyalty {
		return Transfer{}, tollgate.FieldError("source", "must be transfer or royalty")
	}
	o, err := run(ctx, l, &transferOp{p: p}, p.Idempotency, nil)
	if err != nil {
		return Transfer{}, err
	}
	return o.res, nil
}
