package pricing

import (
	"context"
	"errors"
	"time"

	"tollgate"
	"tollgate/store"
)

// DefaultQuoteTTL is how long a quote locks its price.
const DefaultQuoteTTL = 15 * time.Minute

// Quotes prices requests and keeps the quotes it gives. It is safe for
// concurrent use.
type Quotes struct {
	Catalog *Catalog
	Store   store.Store
	Clock   tollgate.Clock
	TTL     time.Duration // default DefaultQuoteTTL
}

// Price prices r now.
func (q *Quotes) Price(r Request) (Price, time.Time, error) {
	now := q.Clock.Now()
	p, err := q.Catalog.Price(r, now)
	return p, now, err
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
	err := q.Store.Read(ctx, func(tx store.Tx) error {
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
