package ledger

import (
	"context"
	"time"

	"tollgate"
)

type opKind string

const (
	opGrant   opKind = "grant"
	opHold    opKind = "hold"
	opCapture opKind = "capture"
	opRelease opKind = "release"
	opUsage   opKind = "usage"
	opSweep   opKind = "sweep"
	opRevoke  opKind = "revoke"
	opEvict   opKind = "evict" // forget a cached account: it was changed outside the committer
)

type op struct {
	kind      opKind
	accountID string // the account acted on; for capture/release, resolved at load
	holdID    string
	owner     string // capture/release by an account key: the hold must be its own
	grant     GrantParams
	hold      HoldParams
	capture   *tollgate.Credits
	revoke    RevokeParams
	idem      *Idempotency

	pendingRes any
	pendingErr error
	res        any
	err        error
	done       chan struct{}
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
	AccountID   string
	Product     tollgate.Product
	Credits     tollgate.Credits
	TTL         time.Duration // Hold only; default Options.DefaultHoldTTL
	Metadata    map[string]string
	QuoteID     string
	Idempotency *Idempotency
}

// CaptureParams are the arguments of Capture.
type CaptureParams struct {
	HoldID string
	// Credits to charge; nil charges the whole hold. It may not exceed the
	// hold: a user is never charged more than quoted.
	Credits *tollgate.Credits
	// AccountID, when set, restricts the call to that account's holds
	// (an account key); another account's hold is not found.
	AccountID   string
	Idempotency *Idempotency
}

// ReleaseParams are the arguments of Release.
type ReleaseParams struct {
	HoldID      string
	AccountID   string // as in CaptureParams
	Idempotency *Idempotency
}

// Grant gives credits to an account. It returns invalid_field errors for bad
// arguments, not_found for an unknown account and conflict for a repeated
// ExternalRef.
func (l *Ledger) Grant(ctx context.Context, p GrantParams) (tollgate.Grant, error) {
	if err := validateGrant(&p); err != nil {
		return tollgate.Grant{}, err
	}
	res, err := l.submit(ctx, &op{kind: opGrant, accountID: p.AccountID, grant: p, idem: p.Idempotency})
	if err != nil {
		return tollgate.Grant{}, err
	}
	return res.(tollgate.Grant), nil
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
	if !p.Source.Valid() || p.Source == tollgate.SourceAllowance {
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
	return nil
}

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
	if len(p.Metadata) > 50 {
		return tollgate.FieldError("metadata", "at most 50 keys")
	}
	for k, v := range p.Metadata {
		if k == "" || len(k) > 40 || len(v) > 500 || !tollgate.CleanText(k) || !tollgate.CleanText(v) {
			return tollgate.FieldError("metadata", "keys must be 1 to 40 characters and values at most 500, UTF-8 text without control characters")
		}
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
	res, err := l.submit(ctx, &op{kind: opHold, accountID: p.AccountID, hold: p, idem: p.Idempotency})
	if err != nil {
		return tollgate.Hold{}, err
	}
	return res.(tollgate.Hold), nil
}

// Usage reserves and captures in one step, for products metered after the
// fact such as an LLM assistant. It returns the settled record, a Hold in
// status captured, and fails like Hold.
func (l *Ledger) Usage(ctx context.Context, p HoldParams) (tollgate.Hold, error) {
	if err := validateHold(&p, l, true); err != nil {
		return tollgate.Hold{}, err
	}
	res, err := l.submit(ctx, &op{kind: opUsage, accountID: p.AccountID, hold: p, idem: p.Idempotency})
	if err != nil {
		return tollgate.Hold{}, err
	}
	return res.(tollgate.Hold), nil
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
	res, err := l.submit(ctx, &op{kind: opCapture, holdID: p.HoldID, owner: p.AccountID, capture: p.Credits, idem: p.Idempotency})
	if err != nil {
		return tollgate.Hold{}, err
	}
	return res.(tollgate.Hold), nil
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
	res, err := l.submit(ctx, &op{kind: opRelease, holdID: p.HoldID, owner: p.AccountID, idem: p.Idempotency})
	if err != nil {
		return tollgate.Hold{}, err
	}
	return res.(tollgate.Hold), nil
}

// Settle applies due grant expiries and hold timeouts on one account. The
// sweeper calls it; reads and writes apply the same rules on their own.
func (l *Ledger) Settle(ctx context.Context, accountID string) error {
	_, err := l.submit(ctx, &op{kind: opSweep, accountID: accountID})
	return err
}

// RevokeParams are the arguments of Revoke.
type RevokeParams struct {
	AccountID string
	GrantID   string
	// Credits is how much the refund covers: what is unspent of it is taken
	// back, the rest recorded as a refund loss.
	Credits tollgate.Credits
	// Close expires the grant too, so credits released later from holds on
	// it do not come back (a full refund).
	Close bool
}

// Revoked is the outcome of Revoke.
type Revoked struct {
	TakenBack tollgate.Credits // removed from the grant
	Lost      tollgate.Credits // already spent or held: recorded as a refund loss
}

// Revoke takes back credits of a grant whose payment was refunded: up to
// Credits of what remains unspent goes to the refunds book; the part of
// Credits already spent is recorded as a refund loss. It fails with
// not_found for an unknown grant or account.
func (l *Ledger) Revoke(ctx context.Context, p RevokeParams) (Revoked, error) {
	if p.Credits < 0 || p.Credits > tollgate.MaxCredits {
		return Revoked{}, tollgate.FieldError("credits", "must be from 0 to %s", tollgate.MaxCredits)
	}
	res, err := l.submit(ctx, &op{kind: opRevoke, accountID: p.AccountID, revoke: p})
	if err != nil {
		return Revoked{}, err
	}
	return res.(Revoked), nil
}
