package pricing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"tollgate/store/record"

	"tollgate"
)

// DefaultQuoteTTL is how long a quote locks its price.
const DefaultQuoteTTL = 15 * time.Minute

// Quotes prices requests and keeps the quotes it gives. The rules in force
// are the catalog file's and those added through the API. It is safe for
// concurrent use.
type Quotes struct {
	Catalog *Catalog
	// Records keeps quotes and price rules (the ledger); nil prices by
	// the catalog alone.
	Records Records
	Clock   tollgate.Clock
	TTL     time.Duration // default DefaultQuoteTTL
	// Notice is how far ahead a price increase must be announced.
	Notice time.Duration // default 14 days

	mu       sync.Mutex
	merged   *Catalog
	mergedAt time.Time
}

// Records reads the records that quotes are kept in: *ledger.Ledger.
type Records interface {
	// ReadRecords runs fn in a read-only transaction.
	ReadRecords(ctx context.Context, fn func(tx record.Tx) error) error
}

// RuleTx is what AddRule reads and writes in its caller's transaction.
type RuleTx interface {
	// PriceRuleList returns every stored rule version.
	PriceRuleList(ctx context.Context) ([]tollgate.PriceRule, error)
	// PriceRuleInsert stores a rule version; tollgate.ErrConflict if the
	// rule has one with the same effective time.
	PriceRuleInsert(ctx context.Context, r tollgate.PriceRule) error
	// EventEnqueue stores an event for the webhook endpoints.
	EventEnqueue(ctx context.Context, e tollgate.Event) error
}

const rulesCacheTTL = 5 * time.Second

// Prices returns the catalog with the stored rules added, cached for a few
// seconds.
func (q *Quotes) Prices(ctx context.Context) (*Catalog, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.merged != nil && time.Since(q.mergedAt) < rulesCacheTTL {
		return q.merged, nil
	}
	if q.Records == nil {
		return q.Catalog, nil
	}
	file := q.Catalog
	var stored []tollgate.PriceRule
	err := q.Records.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		stored, err = tx.PriceRuleList(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("price rules: %w", err)
	}
	c := *file
	c.Rules = mergeRules(file.Rules, stored)
	q.merged, q.mergedAt = &c, time.Now()
	return q.merged, nil
}

// File returns the catalog file in force (without the stored rules).
func (q *Quotes) File() *Catalog {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.Catalog
}

// Reload puts c in place of the catalog file in force, unless it raises
// a price sooner than the notice period: then it returns notice_required
// and the catalog stays. A raise must be a rule version whose effective_at
// is at least the notice ahead, as through the API.
func (q *Quotes) Reload(c *Catalog) error {
	old := q.File()
	now := q.Clock.Now()
	notice := q.notice()
	times := []time.Time{now}
	for _, r := range c.Rules {
		if r.EffectiveAt.After(now) && r.EffectiveAt.Before(now.Add(notice)) {
			times = append(times, r.EffectiveAt)
		}
	}
	for _, t := range times {
		if up, names := Increases(Diff(old, c, t)); len(up) > 0 {
			return &tollgate.Error{Code: tollgate.CodeNoticeRequired, Title: "A price increase must be announced before it applies", Message: fmt.Sprintf(
				"the new catalog raises %d prices from %s (%s); add the raise as a rule version effective at or after %s instead",
				len(up), t.Format(time.RFC3339), names, now.Add(notice).Format(time.RFC3339))}
		}
	}
	q.mu.Lock()
	q.Catalog, q.merged = c, nil
	q.mu.Unlock()
	return nil
}

func (q *Quotes) notice() time.Duration {
	if q.Notice <= 0 {
		return 14 * 24 * time.Hour
	}
	return q.Notice
}

// mergeRules adds stored versions to the file's; a stored version replaces
// a file version of the same id and instant.
func mergeRules(file []Rule, stored []tollgate.PriceRule) []Rule {
	out := make([]Rule, 0, len(file)+len(stored))
	have := map[string]int{}
	for _, r := range file {
		have[r.ID+"@"+r.EffectiveAt.String()] = len(out)
		out = append(out, r)
	}
	for _, s := range stored {
		r := Rule{ID: s.ID, Product: s.Product, Meter: s.Meter, Tier: s.Tier, Resolution: s.Resolution, Per: s.Per, Credits: s.Credits, EffectiveAt: s.EffectiveAt}
		if i, ok := have[r.ID+"@"+r.EffectiveAt.String()]; ok {
			out[i] = r
			continue
		}
		out = append(out, r)
	}
	return out
}

// Price prices r now.
func (q *Quotes) Price(ctx context.Context, r Request) (Price, time.Time, error) {
	c, err := q.Prices(ctx)
	if err != nil {
		return Price{}, time.Time{}, err
	}
	now := q.Clock.Now()
	p, err := c.Price(r, now)
	return p, now, err
}

// AddRule stores a new version of a price rule (or a new rule) inside tx.
// A price increase over the version it follows needs EffectiveAt at least
// the notice period ahead unless forced: notice_required otherwise.
func (q *Quotes) AddRule(ctx context.Context, tx RuleTx, r Rule, force bool) (Rule, error) {
	now := q.Clock.Now()
	if r.EffectiveAt.IsZero() {
		r.EffectiveAt = now
	}
	if err := checkRule(r); err != nil {
		return r, tollgate.FieldError("rule", "%v", err)
	}
	if r.EffectiveAt.Before(now) {
		return r, tollgate.FieldError("effective_at", "must not be in the past")
	}
	stored, err := tx.PriceRuleList(ctx)
	if err != nil {
		return r, err
	}
	file := q.File()
	before := Catalog{Models: file.Models, Rules: mergeRules(file.Rules, stored)}
	if prev, ok := before.RuleAt(r.ID, r.EffectiveAt); ok {
		if prev.Product != r.Product || prev.Meter != r.Meter {
			return r, tollgate.FieldError("id", "rule %s prices %s by %s; a new version must too", r.ID, prev.Product, prev.Meter)
		}
	}
	// Any change that raises what some request costs, or leaves it without
	// a price, needs the notice period: a new version of a rule, a new rule
	// (a surcharge), or new conditions. Compared over every request the
	// catalog prices.
	notice := q.notice()
	after := Catalog{Models: before.Models, Rules: append(append([]Rule{}, before.Rules...), r)}
	changes := Diff(&before, &after, r.EffectiveAt)
	up, names := Increases(changes)
	if len(up) > 0 && !force && r.EffectiveAt.Before(now.Add(notice)) {
		return r, &tollgate.Error{Code: tollgate.CodeNoticeRequired, Field: "effective_at", Title: "A price increase must be announced before it applies", Message: fmt.Sprintf(
			"this raises %d prices (%s); a price increase must be announced %d days ahead: set effective_at at or after %s, or force it",
			len(up), names, int(notice/(24*time.Hour)), now.Add(notice).Format(time.RFC3339))}
	}
	if r.EffectiveAt.After(now) && len(changes) > 0 {
		// Announced: to webhook endpoints now, and in the price table and
		// Tollgate-Notice until it applies.
		ev, err := tollgate.NewEvent(tollgate.EventPriceChangeScheduled, "", now, map[string]any{"rule": r,
			"effective_at": r.EffectiveAt, "requests_changed": len(changes), "requests_raised": len(up), "raised": names})
		if err != nil {
			return r, err
		}
		if err := tx.EventEnqueue(ctx, ev); err != nil {
			return r, err
		}
	}
	err = tx.PriceRuleInsert(ctx, tollgate.PriceRule{ID: r.ID, Product: r.Product, Meter: r.Meter, Tier: r.Tier, Resolution: r.Resolution,
		Per: r.Per, Credits: r.Credits, EffectiveAt: r.EffectiveAt, CreatedAt: now})
	if errors.Is(err, tollgate.ErrConflict) {
		return r, tollgate.Errorf(tollgate.CodeConflict, "rule %s already has a version effective at %s", r.ID, r.EffectiveAt.Format(time.RFC3339))
	}
	q.mu.Lock()
	q.merged = nil
	q.mu.Unlock()
	return r, err
}

// ExpiresAt is when a quote given at now stops locking its price.
func (q *Quotes) ExpiresAt(now time.Time) time.Time {
	ttl := q.TTL
	if ttl <= 0 {
		ttl = DefaultQuoteTTL
	}
	return now.Add(ttl)
}

// Get returns a quote; when accountID is set, another account's quote is not
// found. It fails with not_found.
func (q *Quotes) Get(ctx context.Context, id, accountID string) (tollgate.Quote, error) {
	var qt tollgate.Quote
	if !tollgate.CleanText(id) || len(id) > 200 {
		return qt, tollgate.Errorf(tollgate.CodeNotFound, "quote %q not found", id)
	}
	err := q.Records.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		qt, err = tx.QuoteByID(ctx, id)
		return err
	})
	if errors.Is(err, tollgate.ErrNotFound) || (err == nil && accountID != "" && qt.AccountID != accountID) {
		return tollgate.Quote{}, tollgate.Errorf(tollgate.CodeNotFound, "quote %s not found", id)
	}
	return qt, err
}

// Usable returns the quote a hold or usage for account and product may pay
// with: it must be the account's, for that product, and not expired. The
// credits to reserve are the quote's, or fewer when asked: never more.
func (q *Quotes) Usable(ctx context.Context, id, accountID string, product tollgate.Product, asked tollgate.Credits) (tollgate.Quote, tollgate.Credits, error) {
	qt, err := q.Get(ctx, id, accountID)
	if err != nil {
		return qt, 0, err
	}
	if product != "" && product != qt.Product {
		return qt, 0, tollgate.FieldError("product", "quote %s is for %s, not %s", qt.ID, qt.Product, product)
	}
	if !q.Clock.Now().Before(qt.ExpiresAt) {
		return qt, 0, tollgate.Errorf(tollgate.CodeQuoteExpired, "quote %s expired at %s; ask for a new quote", qt.ID, qt.ExpiresAt.Format(time.RFC3339))
	}
	if asked > qt.Credits {
		return qt, 0, tollgate.FieldError("credits", "%s is more than quote %s locked (%s); a job is never charged more than quoted", asked, qt.ID, qt.Credits)
	}
	if asked == 0 {
		asked = qt.Credits
	}
	return qt, asked, nil
}
