// Package payment sells credit packs: orders, checkout through a payment
// provider (Stripe, or the dev provider that moves no money), and the grant
// of a paid order's credits, exactly once.
package payment

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/keygate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// Provider takes payments. Implementations: Dev here, Stripe in stripe.go.
type Provider interface {
	// Name is stored on orders: "dev" or "stripe".
	Name() string
	// Checkout starts paying for an order and returns where to send the
	// buyer and the provider's reference for the payment. back holds the
	// paths (under the server's public URL) the buyer returns to.
	Checkout(ctx context.Context, o tollgate.Order, back Return) (checkoutURL, ref string, err error)
}

// Dev is the payment provider for development and demos: its checkout page
// is served by Tollgate itself and says plainly that no money moves.
type Dev struct {
	BaseURL string // where Tollgate is reached, e.g. http://127.0.0.1:8080
}

// Name returns "dev".
func (Dev) Name() string { return "dev" }

// Return is where a buyer comes back to from the provider's checkout: paths
// of signed pages that show the order's state without a key.
type Return struct {
	Done, Cancelled string
}

// Checkout returns the local confirmation page of the order.
func (d Dev) Checkout(_ context.Context, o tollgate.Order, _ Return) (string, string, error) {
	return d.BaseURL + "/checkout/dev/" + o.ID, "dev_" + o.ID, nil
}

// ErrPurchasesUnavailable is returned by Checkout on a server that has no
// payment provider and is not in demo mode: nobody can buy, and nobody can
// mint credits through the development checkout.
var ErrPurchasesUnavailable = tollgate.Errorf(tollgate.CodeForbidden,
	"buying credits is not available on this server: it has no payment provider (TOLLGATE_STRIPE_SECRET_KEY) and is not in demo mode")

// Service sells packs. It is safe for concurrent use.
type Service struct {
	Ledger *ledger.Ledger
	// Provider takes payments; nil when the server sells nothing (no
	// payment provider, not in demo mode).
	Provider Provider
	Clock    tollgate.Clock
	// Defaults are the packs a new database starts with.
	Defaults []tollgate.Pack

	// subs applies one subscription's events one at a time, so that two
	// events of it arriving together do not race their fetches.
	subs    keygate.Gate
	mu      sync.Mutex
	packs   []tollgate.Pack
	packsAt time.Time
	sold    map[string]bool // plans with a price
	soldAt  time.Time
	secret  []byte
}

const packCacheTTL = 5 * time.Second

// Seed stores the default packs in a database that has never had any, and
// the secret that signs checkout links.
func (s *Service) Seed(ctx context.Context) error {
	var b, mark [32]byte
	_, _ = rand.Read(b[:])
	_, _ = rand.Read(mark[:8]) // not the secret's bits: settings may be read by more than the secret's users
	first := hex.EncodeToString(mark[:8])
	return s.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		// The defaults go in once, on the first start; packs the operator
		// changes or retires afterwards stay as they are.
		seeded, err := tx.SettingPut(ctx, "packs_seeded", first)
		if err != nil {
			return err
		}
		if seeded == first {
			for _, p := range s.Defaults {
				if err := tx.PackPut(ctx, p); err != nil {
					return err
				}
			}
		}
		secret, err := tx.SettingPut(ctx, "link_secret", hex.EncodeToString(b[:]))
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.secret, _ = hex.DecodeString(secret)
		s.mu.Unlock()
		return nil
	})
}

// Packs returns every pack, active or not, cached for a few seconds.
func (s *Service) Packs(ctx context.Context) ([]tollgate.Pack, error) {
	s.mu.Lock()
	if time.Since(s.packsAt) < packCacheTTL {
		ps := s.packs
		s.mu.Unlock()
		return ps, nil
	}
	s.mu.Unlock()
	var ps []tollgate.Pack
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		ps, err = tx.PackList(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	s.mu.Lock()
	s.packs, s.packsAt = ps, time.Now()
	s.mu.Unlock()
	return ps, nil
}

// PutPack creates or changes a pack. Orders already made keep their terms.
func (s *Service) PutPack(ctx context.Context, p tollgate.Pack, k *ledger.Idempotency) (tollgate.Pack, error) {
	p.CreatedAt = s.Clock.Now()
	res, err := s.Ledger.WriteIdempotent(ctx, k, func(tx record.Tx) (any, error) {
		if err := tx.PackPut(ctx, p); err != nil {
			return nil, err
		}
		// A pack changed keeps the time it was first made: answer it as
		// stored, as later reads show it.
		ps, err := tx.PackList(ctx)
		if err != nil {
			return nil, err
		}
		for _, stored := range ps {
			if stored.ID == p.ID {
				p.CreatedAt = stored.CreatedAt
			}
		}
		return p, s.Ledger.Audit(ctx, tx, "pack.put", "", p.ID, map[string]any{"credits": p.Credits, "price": p.Price,
			"valid_for_days": p.ValidForDays, "products": p.Products, "active": p.Active})
	})
	if err != nil {
		return tollgate.Pack{}, err
	}
	s.mu.Lock()
	s.packsAt = time.Time{}
	s.mu.Unlock()
	return res.(tollgate.Pack), nil
}

// Checkout is CheckoutIn at the pack's default currency.
func (s *Service) Checkout(ctx context.Context, accountID, packID string, k *ledger.Idempotency) (tollgate.Order, string, error) {
	return s.CheckoutIn(ctx, accountID, packID, "", k)
}

// CheckoutIn makes an order for one pack at its price in currency ("" for
// its default) and starts its payment; the order records the currency
// paid. It fails with not_found for an unknown account or pack,
// invalid_field for an inactive pack or a currency it is not sold in,
// unavailable when the provider cannot be reached, and
// ErrPurchasesUnavailable without a provider.
func (s *Service) CheckoutIn(ctx context.Context, accountID, packID, currency string, k *ledger.Idempotency) (tollgate.Order, string, error) {
	if s.Provider == nil {
		return tollgate.Order{}, "", ErrPurchasesUnavailable
	}
	acct, err := s.Ledger.Account(ctx, accountID)
	if err != nil {
		return tollgate.Order{}, "", err
	}
	if acct.Status != tollgate.AccountActive {
		return tollgate.Order{}, "", tollgate.Errorf(tollgate.CodeAccountSuspended, "account %s is %s and may not buy credits", acct.ID, acct.Status)
	}
	packs, err := s.Packs(ctx)
	if err != nil {
		return tollgate.Order{}, "", err
	}
	var pack *tollgate.Pack
	for i := range packs {
		if packs[i].ID == packID {
			pack = &packs[i]
		}
	}
	if pack == nil {
		return tollgate.Order{}, "", tollgate.Errorf(tollgate.CodeNotFound, "pack %q not found; see GET /v1/packs", packID)
	}
	if !pack.Active {
		return tollgate.Order{}, "", tollgate.FieldError("pack_id", "pack %s is no longer sold; see GET /v1/packs", packID)
	}
	price, ok := pack.PriceIn(currency)
	if !ok {
		return tollgate.Order{}, "", tollgate.FieldError("currency", "pack %s is sold in %s, not %q", pack.ID, strings.Join(pack.Currencies(), ", "), currency)
	}
	o := tollgate.Order{ID: tollgate.NewID("order"), AccountID: acct.ID, PackID: pack.ID, Credits: pack.Credits, Price: price,
		ValidForDays: pack.ValidForDays, Products: pack.Products, Status: tollgate.OrderPending, Provider: s.Provider.Name(),
		CreatedAt: s.Clock.Now(), TaxBehavior: s.TaxBehavior(price.Currency)}
	if k != nil {
		// A retry with the same key, after a failure anywhere below, finds
		// the same order and the provider's same checkout.
		o.ID = orderIDFor(k)
	}
	// The order goes in first, so that a payment made at the provider can
	// never name an order that does not exist.
	if err := s.insertOrder(ctx, &o, k); err != nil {
		return tollgate.Order{}, "", err
	}
	checkoutURL, ref, err := s.Provider.Checkout(ctx, o, s.ReturnOf(o.ID))
	if err != nil {
		return tollgate.Order{}, "", tollgate.Errorf(tollgate.CodeUnavailable, "the payment provider could not start a checkout (%v); nothing was charged, retry shortly", err)
	}
	res, err := s.Ledger.WriteIdempotent(ctx, k, func(tx record.Tx) (any, error) {
		if _, err := tx.OrderSetRef(ctx, o.ID, ref); err != nil {
			return nil, err
		}
		cur, err := tx.OrderByID(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		return Started{Order: cur, URL: checkoutURL}, nil
	})
	if err != nil {
		return tollgate.Order{}, "", err
	}
	st := res.(Started)
	return st.Order, st.URL, nil
}

// TaxBehavior is how a price in currency relates to tax on this server:
// as the Stripe provider's tax policy says, none computed otherwise.
func (s *Service) TaxBehavior(currency string) tollgate.TaxBehavior {
	if st, ok := s.Provider.(*Stripe); ok && st != nil {
		return st.Tax.Behavior(currency)
	}
	return tollgate.TaxNone
}

// OpenOrderFor is how long an open order is offered again rather than a new
// one made: under the 24 hours Stripe keeps an idempotency key, so asking
// Stripe again for its session gives the same session.
const OpenOrderFor = 23 * time.Hour

// CheckoutOpen starts paying for a pack from an offer link: an order of the
// account for that pack made within OpenOrderFor and still pending is taken
// up (its checkout again), so following links many times makes one order.
// Otherwise it is Checkout without an Idempotency-Key.
func (s *Service) CheckoutOpen(ctx context.Context, accountID, packID, currency string) (tollgate.Order, string, error) {
	if s.Provider == nil {
		return tollgate.Order{}, "", ErrPurchasesUnavailable
	}
	var orders []tollgate.Order
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		orders, err = tx.OrderList(ctx, record.OrderListParams{AccountID: accountID})
		return err
	})
	if err != nil {
		return tollgate.Order{}, "", err
	}
	now := s.Clock.Now()
	for i := len(orders) - 1; i >= 0; i-- {
		o := orders[i]
		if o.PackID == packID && o.Status == tollgate.OrderPending && o.Provider == s.Provider.Name() && now.Sub(o.CreatedAt) < OpenOrderFor &&
			(currency == "" || o.Price.Currency == currency) {
			u, _, err := s.Provider.Checkout(ctx, o, s.ReturnOf(o.ID))
			if err != nil {
				return tollgate.Order{}, "", tollgate.Errorf(tollgate.CodeUnavailable, "the payment provider could not start a checkout (%v); nothing was charged, retry shortly", err)
			}
			return o, u, nil
		}
	}
	return s.CheckoutIn(ctx, accountID, packID, currency, nil)
}

// orderIDFor is the id of the order a checkout with Idempotency-Key k makes.
func orderIDFor(k *ledger.Idempotency) string {
	h := sha256.Sum256([]byte(k.Scope + "\x00" + k.Key))
	return "order_k" + hex.EncodeToString(h[:13])
}

// insertOrder stores a new pending order. With an Idempotency-Key, a
// request already answered is replayed, and an order left by an earlier
// attempt of the same request is taken up (o is set to it).
func (s *Service) insertOrder(ctx context.Context, o *tollgate.Order, k *ledger.Idempotency) error {
	_, err := s.Ledger.WriteIdempotent(ctx, nil, func(tx record.Tx) (any, error) {
		if k != nil {
			if err := s.Ledger.CheckIdempotent(ctx, tx, k); err != nil {
				return nil, err
			}
		}
		err := tx.OrderInsert(ctx, *o)
		if !errors.Is(err, tollgate.ErrConflict) || k == nil {
			return nil, err
		}
		prev, err := tx.OrderByID(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		if prev.AccountID != o.AccountID || prev.PackID != o.PackID {
			return nil, tollgate.Errorf(tollgate.CodeIdempotencyMismatch,
				"Idempotency-Key %q was used with another request; use a new key for a new request", k.Key)
		}
		*o = prev
		return nil, nil
	})
	return err
}

// Started is an order and the URL where its buyer pays.
type Started struct {
	Order tollgate.Order
	URL   string
}

// Order returns an order; with accountID set, another account's order is
// not found.
func (s *Service) Order(ctx context.Context, id, accountID string) (tollgate.Order, error) {
	var o tollgate.Order
	if !tollgate.CleanText(id) || len(id) > 200 {
		return o, tollgate.Errorf(tollgate.CodeNotFound, "order %q not found", id)
	}
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		o, err = tx.OrderByID(ctx, id)
		return err
	})
	if errors.Is(err, tollgate.ErrNotFound) || (err == nil && accountID != "" && o.AccountID != accountID) {
		return tollgate.Order{}, tollgate.Errorf(tollgate.CodeNotFound, "order %s not found", id)
	}
	return o, err
}

// Complete grants a paid order's credits, valid ValidForDays from paidAt,
// and marks the order completed, in one transaction, exactly once: a
// repeat (a retried webhook, a second click) finds the order completed and
// changes nothing. It fails with not_found for an unknown order and
// conflict for a refunded one.
func (s *Service) Complete(ctx context.Context, orderID string, paidAt time.Time) (tollgate.Order, error) {
	res, err := s.Ledger.CompleteOrder(ctx, ledger.CompleteOrderParams{OrderID: orderID, PaidAt: paidAt})
	if err != nil {
		return res.Order, fmt.Errorf("complete order %s: %w", orderID, err)
	}
	return res.Order, nil
}

// Refunder is a Provider that refunds payments (Stripe). The dev provider
// moves no money, so its orders are refunded at once in the ledger.
type Refunder interface {
	// Refund asks the provider to refund amount (minor units) of the
	// order's payment, once per idempotencyKey, and returns the refund's
	// id; it fails with conflict for an order not paid through it.
	Refund(ctx context.Context, o tollgate.Order, amount int64, idempotencyKey string) (refundID string, err error)
}

// RefundStarted is what RefundPayment did.
type RefundStarted struct {
	Order    tollgate.Order
	Amount   int64  // minor units of the order's currency
	RefundID string // the provider's, "" for the dev provider
	// Applied is true when the credits were taken back at once (the dev
	// provider); with Stripe they follow its charge.refunded event.
	Applied bool
}

// RefundPayment refunds amount (minor units; nil: all that is left) of a
// completed order's payment. Through Stripe it asks for the refund, under
// a key derived from k (or a new one without k), and the ledger follows
// Stripe's charge.refunded event exactly once; for a dev order it records
// the refund at once. It fails with not_found, conflict for an order not
// paid or fully refunded, and invalid_field for an amount above what is
// left.
func (s *Service) RefundPayment(ctx context.Context, orderID string, amount *int64, k *ledger.Idempotency) (RefundStarted, error) {
	o, err := s.Order(ctx, orderID, "")
	if err != nil {
		return RefundStarted{}, err
	}
	if o.Status != tollgate.OrderCompleted {
		return RefundStarted{}, tollgate.Errorf(tollgate.CodeConflict, "order %s is %s; only a paid order can be refunded", o.ID, o.Status)
	}
	// What was refunded so far, in money: the credits' share, rounded down
	// (a refund covers its credits rounded up).
	done, _ := tollgate.MulDivFloor(int64(o.RefundedCredits), o.Price.Amount, int64(o.Credits))
	left := o.Price.Amount - done
	a := left
	if amount != nil {
		a = *amount
	}
	if a <= 0 || a > left {
		return RefundStarted{}, tollgate.FieldError("amount", "must be from 1 to %d (what is left of %d %s paid)", left, o.Price.Amount, o.Price.Currency)
	}
	if rf, ok := s.Provider.(Refunder); ok && o.Provider != "dev" {
		key := "refund-" + o.ID + "-" + tollgate.NewID("r")
		if k != nil {
			key = "refund-" + o.ID + "-" + orderIDFor(k)
		}
		id, err := rf.Refund(ctx, o, a, key)
		if err != nil {
			return RefundStarted{}, err
		}
		return RefundStarted{Order: o, Amount: a, RefundID: id}, nil
	}
	if o.Provider != "dev" {
		return RefundStarted{}, tollgate.Errorf(tollgate.CodeConflict, "order %s was paid through %s, which this server is not configured for", o.ID, o.Provider)
	}
	res, err := s.Ledger.RefundOrder(ctx, ledger.RefundOrderParams{OrderID: o.ID, Refunded: done + a, Total: o.Price.Amount})
	if err != nil {
		return RefundStarted{}, err
	}
	return RefundStarted{Order: res.Order, Amount: a, Applied: true}, nil
}

// ReturnOf returns the signed paths a buyer of order id comes back to.
func (s *Service) ReturnOf(id string) Return {
	q := "?sig=" + s.sign("return", id)
	return Return{Done: "/checkout/done/" + id + q, Cancelled: "/checkout/cancelled/" + id + q}
}

// CheckReturn verifies the signature of a page ReturnOf made for order id.
func (s *Service) CheckReturn(id, sig string) bool {
	want := s.sign("return", id)
	return want != "" && hmac.Equal([]byte(want), []byte(sig))
}

// Orders lists orders by id, of one account (accountID set) or all, in one
// status or any, a page at a time (limit; after the order id after).
func (s *Service) Orders(ctx context.Context, accountID string, status tollgate.OrderStatus, after string, limit int) ([]tollgate.Order, error) {
	var os []tollgate.Order
	if accountID != "" {
		// An account's orders are never deleted, so listing after the
		// account is looked up misses none.
		if _, err := s.Ledger.Account(ctx, accountID); err != nil {
			return nil, err
		}
	}
	err := s.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		os, err = tx.OrderList(ctx, record.OrderListParams{AccountID: accountID, Status: status, After: after, Limit: limit})
		return err
	})
	return os, err
}

// OfferLink returns a signed link that starts a checkout of pack for the
// account when opened, in currency ("" for the pack's default), valid for
// a day: the checkout_url of a 402's offers.
func (s *Service) OfferLink(baseURL, accountID, packID, currency string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10)
	v := url.Values{"account": {accountID}, "pack": {packID}, "exp": {exp}}
	if currency == "" {
		v.Set("sig", s.sign(accountID, packID, exp))
	} else {
		v.Set("currency", currency)
		v.Set("sig", s.sign(accountID, packID, exp, currency))
	}
	return baseURL + "/checkout/start?" + v.Encode()
}

// CheckOfferLink verifies a link made by OfferLink and returns its
// account, pack and currency.
func (s *Service) CheckOfferLink(q url.Values, now time.Time) (accountID, packID, currency string, err error) {
	accountID, packID, exp, currency := q.Get("account"), q.Get("pack"), q.Get("exp"), q.Get("currency")
	want := s.sign(accountID, packID, exp)
	if currency != "" {
		want = s.sign(accountID, packID, exp, currency)
	}
	if want == "" || !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
		return "", "", "", tollgate.Errorf(tollgate.CodeNotFound, "this checkout link is not valid; ask for a new one")
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > t {
		return "", "", "", tollgate.Errorf(tollgate.CodeNotFound, "this checkout link has expired; ask for a new one")
	}
	return accountID, packID, currency, nil
}

func (s *Service) sign(parts ...string) string {
	s.mu.Lock()
	secret := s.secret
	s.mu.Unlock()
	if len(secret) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}
