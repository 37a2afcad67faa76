// Package record is the storage contract for what Tollgate keeps beside the
// ledger's books: orders, packs, quotes, price rules, webhook endpoints and
// their deliveries, events, settings, payment events, the audit log and
// idempotency records. A Tx reads and writes them. It cannot write
// accounts, keys, grants, holds or the journal: only the ledger's committer
// does, through the wider store.Tx that embeds this one, and no package
// outside ledger and store/... may import store (an import test checks).
//
// Packages that keep records get a Tx from the ledger (ReadRecords,
// WriteRecords, WriteIdempotent), so that a record and the idempotency
// record and audit entry of the request that made it commit together.
//
// Every method returns tollgate.ErrNotFound for a missing row and
// tollgate.ErrConflict for a duplicate key, unless its comment says
// otherwise. Lists are ordered by id unless their comment says otherwise.
package record

import (
	"context"
	"errors"
	"time"

	"tollgate"
)

// ErrCommitUnknown is wrapped by a store's Write when COMMIT was sent but
// its answer was lost (the connection dropped): the transaction may or may
// not have taken effect. Never redo its work before the store's
// BatchStatus says it did not.
var ErrCommitUnknown = errors.New("the outcome of the commit is unknown")

// ErrUnavailable is wrapped by a store's Write and Read when the database
// could not be reached, dropped the connection or ran out of room before the
// commit: nothing was committed and the call may be retried. The store
// drops its idle connections, so a retry uses a fresh one.
var ErrUnavailable = errors.New("the database is unavailable")

// ErrFull is wrapped, with ErrUnavailable, when the database can grow no
// more: its disk is full, or it reached the size it is limited to. Reads
// still work; writes work again once there is room.
var ErrFull = errors.New("the database is full")

// Tx is one transaction over the records. Methods that write fail inside a
// read-only transaction.
type Tx interface {
	// PackPut inserts a pack or replaces the one with its id, which keeps
	// the time it was first made (CreatedAt).
	PackPut(ctx context.Context, p tollgate.Pack) error
	// PackList returns every pack, retired ones too, by id.
	PackList(ctx context.Context) ([]tollgate.Pack, error)

	// OrderInsert stores a new order. An order with the same id (or
	// provider reference) fails it with tollgate.ErrConflict, and the
	// transaction can go on.
	OrderInsert(ctx context.Context, o tollgate.Order) error
	// OrderByID returns an order; tollgate.ErrNotFound if there is none.
	OrderByID(ctx context.Context, id string) (tollgate.Order, error)
	// OrderByProviderRef finds an order by a payment provider's reference:
	// its checkout's or its payment's; tollgate.ErrNotFound if none has it.
	OrderByProviderRef(ctx context.Context, provider, ref string) (tollgate.Order, error)
	// OrderList pages through orders by id; AccountID empty lists all.
	OrderList(ctx context.Context, p OrderListParams) ([]tollgate.Order, error)
	// OrderSetRef records the provider's reference of an order that has
	// none yet, and reports whether it did (false for a missing order or
	// one that has a reference).
	OrderSetRef(ctx context.Context, id, ref string) (bool, error)
	// OrderSetProblem records why a payment naming the order was refused;
	// a missing order is no error.
	OrderSetProblem(ctx context.Context, id, problem string) error

	// SettingGet returns a stored setting; tollgate.ErrNotFound if unset.
	SettingGet(ctx context.Context, key string) (string, error)
	// SettingPut stores a setting unless it exists, and returns the value
	// that is stored: the first writer's.
	SettingPut(ctx context.Context, key, value string) (string, error)

	// PriceRuleInsert stores a price rule version; a version with the same
	// rule id and effective time fails with tollgate.ErrConflict. Stored
	// rules add to the catalog file's.
	PriceRuleInsert(ctx context.Context, r tollgate.PriceRule) error
	// PriceRuleList returns every stored version, by rule id then
	// effective time.
	PriceRuleList(ctx context.Context) ([]tollgate.PriceRule, error)

	// QuoteInsert stores a quote.
	QuoteInsert(ctx context.Context, q tollgate.Quote) error
	// QuoteByID returns a quote; tollgate.ErrNotFound if there is none.
	QuoteByID(ctx context.Context, id string) (tollgate.Quote, error)

	// EventEnqueue stores an event and a pending delivery to every enabled
	// endpoint that takes its type, in the caller's transaction. An event
	// id already stored fails with tollgate.ErrConflict.
	EventEnqueue(ctx context.Context, e tollgate.Event) error
	// EventLastAt returns when the account's ("" for none) last event of
	// type typ was made, and false if it has none.
	EventLastAt(ctx context.Context, accountID, typ string) (time.Time, bool, error)

	// EndpointInsert stores a webhook endpoint.
	EndpointInsert(ctx context.Context, e tollgate.Endpoint) error
	// EndpointList returns every endpoint, by id.
	EndpointList(ctx context.Context) ([]tollgate.Endpoint, error)
	// EndpointByID returns an endpoint; tollgate.ErrNotFound if there is
	// none.
	EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error)
	// EndpointUpdate writes an endpoint's event types, disabled flag and
	// secrets; tollgate.ErrNotFound if there is none.
	EndpointUpdate(ctx context.Context, e tollgate.Endpoint) error
	// EndpointDelete deletes an endpoint and the deliveries owed to it;
	// tollgate.ErrNotFound if there is none.
	EndpointDelete(ctx context.Context, id string) error
	// DeliveriesResend queues again, due at now with no attempt counted,
	// the endpoint's delivery of one event (eventID set) or of every event
	// of its types made at or after since, and returns how many.
	DeliveriesResend(ctx context.Context, endpointID, eventID string, since, now time.Time) (int64, error)
	// DeliveriesDue returns up to limit pending deliveries to enabled
	// endpoints whose next attempt is at or before now, oldest first, with
	// the endpoint's old secret while its rotation overlaps.
	DeliveriesDue(ctx context.Context, now time.Time, limit int) ([]tollgate.Delivery, error)
	// DeliveryClaim moves a due delivery's next attempt to until, if no one
	// else has since: only the claimer sends it. False when another did.
	DeliveryClaim(ctx context.Context, d tollgate.Delivery, until time.Time) (bool, error)
	// DeliveryDone records an attempt: delivered, or failed with the time
	// of the next attempt (zero to give up).
	DeliveryDone(ctx context.Context, d tollgate.Delivery, delivered bool, next time.Time, lastErr string) error

	// PaymentEventPut records a provider's event, or updates the record of
	// an event received before (same provider and event id): its order,
	// whether it matched, its outcome and when it was received change; its
	// id, type, object and creation time stay.
	PaymentEventPut(ctx context.Context, e tollgate.PaymentEvent) error
	// PaymentEventList pages through recorded events by id.
	PaymentEventList(ctx context.Context, p PaymentEventListParams) ([]tollgate.PaymentEvent, error)

	// AuditAppend adds entries to the audit log, which nothing changes or
	// deletes.
	AuditAppend(ctx context.Context, es []tollgate.AuditEntry) error
	// AuditList pages through the audit log by id.
	AuditList(ctx context.Context, p AuditListParams) ([]tollgate.AuditEntry, error)

	// VideoInsert stores a new video job at version 1 (v.Version is
	// ignored); an id taken fails with tollgate.ErrConflict.
	VideoInsert(ctx context.Context, v tollgate.Video) error
	// VideoByID returns a video job, deleted ones too, with its version;
	// tollgate.ErrNotFound if there is none.
	VideoByID(ctx context.Context, id string) (tollgate.Video, error)
	// VideoList pages through an account's videos, deleted ones left out
	// unless asked for,
	// by id (which sorts by creation time): ascending or descending from
	// After, exclusive.
	VideoList(ctx context.Context, p VideoListParams) ([]tollgate.Video, error)
	// VideoUpdate writes v over the stored job if its version is still
	// v.Version, and makes it v.Version+1. Another write since fails it
	// with tollgate.ErrConflict, a missing job with tollgate.ErrNotFound;
	// either way nothing changes and the transaction can go on.
	VideoUpdate(ctx context.Context, v tollgate.Video) error
	// VideosDue returns up to limit jobs whose NextAt is at or before now,
	// soonest first: the job runner's work.
	VideosDue(ctx context.Context, now time.Time, limit int) ([]tollgate.Video, error)
	// VideosEnded pages through every account's jobs that ended
	// (completed or failed) in [From, To), by when they ended, then id.
	VideosEnded(ctx context.Context, p VideosEndedParams) ([]tollgate.Video, error)

	// CameoInsert stores a new cameo; an id or a handle taken fails with
	// tollgate.ErrConflict.
	CameoInsert(ctx context.Context, c tollgate.Cameo) error
	// CameoUpdate writes a cameo's document (and frees its handle once it
	// is deleted); tollgate.ErrNotFound if there is none.
	CameoUpdate(ctx context.Context, c tollgate.Cameo) error
	// CameoByID returns a cameo, deleted ones included;
	// tollgate.ErrNotFound if there is none.
	CameoByID(ctx context.Context, id string) (tollgate.Cameo, error)
	// CameoByHandle returns the cameo with a handle (lowercase, without
	// the @); tollgate.ErrNotFound if there is none.
	CameoByHandle(ctx context.Context, handle string) (tollgate.Cameo, error)
	// CameoCount counts an account's cameos, deleted ones left out.
	CameoCount(ctx context.Context, accountID string) (int, error)
	// CameoList pages through an account's cameos by id, deleted ones
	// left out.
	CameoList(ctx context.Context, accountID, after string, limit int) ([]tollgate.Cameo, error)
	// CameoApprove records that a cameo's owner approved an account
	// (again: nothing changes).
	CameoApprove(ctx context.Context, cameoID, accountID string, at time.Time) error
	// CameoRevoke forgets an approval and reports whether it was there.
	CameoRevoke(ctx context.Context, cameoID, accountID string) (bool, error)
	// CameoApproved reports whether a cameo's owner approved an account.
	CameoApproved(ctx context.Context, cameoID, accountID string) (bool, error)
	// CameoApprovalCount counts a cameo's approved accounts.
	CameoApprovalCount(ctx context.Context, cameoID string) (int, error)
	// CameoApprovals pages through a cameo's approved accounts by id.
	CameoApprovals(ctx context.Context, cameoID, after string, limit int) ([]string, error)
	// CameoUsesOn is how many uses a cameo has on a day of its owner's
	// time zone (YYYY-MM-DD).
	CameoUsesOn(ctx context.Context, cameoID, day string) (int, error)
	// PublishedPut publishes a video, or changes its remix fee and switch
	// (keeping when it was first published).
	PublishedPut(ctx context.Context, p tollgate.Published) error
	// PublishedDelete unpublishes a video and reports whether it was
	// published.
	PublishedDelete(ctx context.Context, videoID string) (bool, error)
	// PublishedByID returns a published video's terms;
	// tollgate.ErrNotFound if it is not published.
	PublishedByID(ctx context.Context, videoID string) (tollgate.Published, error)
	// PublishedList pages through the published videos, newest first,
	// before (BeforeAt, BeforeID); a zero BeforeAt starts at the newest.
	PublishedList(ctx context.Context, beforeAt time.Time, beforeID string, limit int) ([]tollgate.Published, error)
	// CounterTop sums a board's counters over [from, to) (15-minute
	// boundaries) per subject, its whole UTC days from the daily counters, best first by uses (by "uses") or by net earnings (by
	// "net"), skipping offset.
	CounterTop(ctx context.Context, board string, from, to time.Time, by string, offset, limit int) ([]Counter, error)
	// CounterOwner returns the cameo and video counters of an owner's
	// subjects in the buckets in [from, to), by bucket.
	CounterOwner(ctx context.Context, ownerID string, from, to time.Time) ([]Counter, error)
	// OptInSet records whether an account appears on the creators'
	// leaderboard; OptedIn reads it.
	OptInSet(ctx context.Context, accountID string, in bool, at time.Time) error
	// OptedIn reports whether an account chose to appear on the creators'
	// leaderboard.
	OptedIn(ctx context.Context, accountID string) (bool, error)
	// PayoutByID returns a payout; tollgate.ErrNotFound if there is none.
	PayoutByID(ctx context.Context, id string) (tollgate.Payout, error)
	// PayoutList pages through an account's payouts by id.
	PayoutList(ctx context.Context, accountID, after string, limit int) ([]tollgate.Payout, error)
	// PayoutsPending pages through every pending payout by id.
	PayoutsPending(ctx context.Context, after string, limit int) ([]tollgate.Payout, error)
	// PayoutTotals sums the credits of each account's payouts that did not
	// fail (pending and paid), for verify.
	PayoutTotals(ctx context.Context) (map[string]tollgate.Credits, error)
	// PayoutRatePut adds a version of a currency's payout rate (the next
	// number) and returns it.
	PayoutRatePut(ctx context.Context, r tollgate.PayoutRate) (tollgate.PayoutRate, error)
	// PayoutRates lists every version of every currency's payout rate.
	PayoutRates(ctx context.Context) ([]tollgate.PayoutRate, error)
	// DestinationPut sets the Stripe connected account an account's
	// payouts go to; Destination reads it ("" when none).
	DestinationPut(ctx context.Context, accountID, stripeAccount string, at time.Time) error
	// Destination returns the Stripe connected account an account's
	// payouts go to, "" when none is set.
	Destination(ctx context.Context, accountID string) (string, error)
	// EarningList pages through the fees an owner was paid in [From, To),
	// by when, then id, after (AfterAt, AfterID).
	EarningList(ctx context.Context, p EarningListParams) ([]tollgate.Earning, error)
	// EarningTotals sums every owner's earnings, for verify.
	EarningTotals(ctx context.Context) ([]EarningTotal, error)

	// OrderSetReceipt records the provider's receipt and invoice links of
	// a paid order (either "" leaves the one stored); it fails with
	// tollgate.ErrNotFound for an order not paid through a provider
	// (Paid unset).
	OrderSetReceipt(ctx context.Context, id, receiptURL, invoiceURL string) error

	// PlanPricePut creates or replaces the price of a plan at an interval.
	PlanPricePut(ctx context.Context, p tollgate.PlanPrice) error
	// PlanPrices lists every plan's prices, by plan then interval.
	PlanPrices(ctx context.Context) ([]tollgate.PlanPrice, error)
	// SubscriptionPut creates or replaces a subscription (by id).
	SubscriptionPut(ctx context.Context, s tollgate.Subscription) error
	// SubscriptionByID returns a subscription; tollgate.ErrNotFound if
	// there is none.
	SubscriptionByID(ctx context.Context, id string) (tollgate.Subscription, error)
	// SubscriptionList pages through subscriptions by id: one account's
	// (AccountID set) or all, only those not ended (Open) or any.
	SubscriptionList(ctx context.Context, p SubscriptionListParams) ([]tollgate.Subscription, error)
	// InvoicePut creates or replaces an invoice (by id).
	InvoicePut(ctx context.Context, inv tollgate.Invoice) error
	// InvoiceList lists a subscription's invoices, oldest first.
	InvoiceList(ctx context.Context, subscriptionID string) ([]tollgate.Invoice, error)

	// IdempotencyByKey returns a remembered answer; tollgate.ErrNotFound
	// if the key has none.
	IdempotencyByKey(ctx context.Context, scope, key string) (Idempotency, error)
	// IdempotencyLock makes other transactions that lock the same key wait
	// until this one ends, so that concurrent requests with one key see
	// each other's answer rather than race to write it. SQLite's one
	// writer already serialises them.
	IdempotencyLock(ctx context.Context, scope, key string) error
}

// SubscriptionListParams pages through subscriptions by id.
type SubscriptionListParams struct {
	AccountID string // empty: every account's
	Open      bool   // only those whose EndedAt is unset
	After     string
	Limit     int // 0: no limit
}

// OrderListParams pages through orders by id.
type OrderListParams struct {
	AccountID string
	Status    tollgate.OrderStatus // empty: any
	After     string
	Limit     int // 0: no limit
}

// VideoListParams pages through one account's videos.
type VideoListParams struct {
	AccountID string
	Deleted   bool   // deleted jobs too
	After     string // an id; "" starts at the first (or, descending, the last)
	Desc      bool
	Limit     int // 1 or more
}

// Counter is a statement's or a leaderboard's counter: what a subject
// (a cameo, a published video, a creator) of an owner did in the 15
// minutes from Bucket, or (summed) over a period.
type Counter struct {
	Board            string // cameo, video or creator
	Subject          string
	OwnerID          string
	Bucket           time.Time // UTC, a multiple of 15 minutes; zero in sums
	Uses             int64
	Gross, Take, Net tollgate.Credits
}

// CounterSpan splits a period for the counters: the whole UTC days in it
// [DaysFrom, DaysTo), summed from the daily counters, and its edges
// [From, EdgeTo) and [EdgeFrom, To), summed from the 15-minute ones.
type CounterSpan struct {
	From, EdgeTo, DaysFrom, DaysTo, EdgeFrom, To time.Time
}

// CounterDays splits [from, to) (instants on 15-minute boundaries) into
// whole UTC days and the edges around them.
func CounterDays(from, to time.Time) CounterSpan {
	from, to = CounterBucket(from), CounterBucket(to)
	first := from.Truncate(24 * time.Hour)
	if first.Before(from) {
		first = first.Add(24 * time.Hour)
	}
	last := to.Truncate(24 * time.Hour)
	if !first.Before(last) { // no whole day: all of it from the 15 minutes
		return CounterSpan{From: from, EdgeTo: to, DaysFrom: from, DaysTo: from, EdgeFrom: to, To: to}
	}
	return CounterSpan{From: from, EdgeTo: first, DaysFrom: first, DaysTo: last, EdgeFrom: last, To: to}
}

// CounterBucket is the 15 minutes of UTC that t falls in.
func CounterBucket(t time.Time) time.Time { return t.UTC().Truncate(15 * time.Minute) }

// EarningTotal is what an owner was paid in all: Bad counts the rows whose
// gross is not their take plus their net, or that are negative.
type EarningTotal struct {
	OwnerID          string
	N                int
	Gross, Take, Net tollgate.Credits
	Bad              int
}

// EarningListParams select the fees paid to an owner in [From, To), after
// the row (AfterAt, AfterID), at most Limit.
type EarningListParams struct {
	OwnerID  string
	From, To time.Time
	AfterAt  time.Time
	AfterID  string
	Limit    int
}

// VideosEndedParams pages through the jobs that ended in a period.
type VideosEndedParams struct {
	To time.Time // exclusive
	// AfterAt and AfterID are the last job of the previous page: when it
	// ended and its id. The first page starts at the period's start and "".
	AfterAt time.Time
	AfterID string
	Limit   int // 1 or more
}

// PaymentEventListParams filters and pages payment events.
type PaymentEventListParams struct {
	Matched *bool // nil: both
	After   string
	Limit   int // 0: no limit
}

// AuditListParams filters and pages the audit log; empty filters match
// every entry.
type AuditListParams struct {
	AccountID, ActorKey, Action string
	// CreatedFrom and CreatedTo bound when entries were made: [from, to).
	CreatedFrom, CreatedTo time.Time
	After                  string
	Limit                  int // 0: no limit
}

// Idempotency is a remembered answer to a mutating request.
type Idempotency struct {
	Scope       string // who asked: an account id or "admin"
	Key         string // the client's Idempotency-Key
	RequestHash []byte // hash of method, path and body
	Status      int    // HTTP status of the answer
	Body        []byte // the answer, as sent
	CreatedAt   time.Time
}
