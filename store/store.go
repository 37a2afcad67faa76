// Package store defines the storage contract of Tollgate: a Store opens
// transactions, and a Tx reads and writes accounts, keys, plans, grants, holds,
// journal entries and idempotency records. store/sqlite and store/postgres
// implement it; store/storetest is the conformance suite both must pass.
//
// A Store holds no business rules: the ledger decides what to write, and a
// Tx writes it. Every method returns tollgate.ErrNotFound for a missing row and
// tollgate.ErrConflict for a duplicate key.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tollgate"
)

// Store is a database holding one Tollgate installation. It is safe for
// concurrent use.
type Store interface {
	// Write runs fn in a read-write transaction and commits it if fn returns
	// nil. On SQLite writes are serialised on one connection; on PostgreSQL
	// rows locked with AccountsLock serialise writers across instances.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in a read-only transaction that sees one snapshot.
	Read(ctx context.Context, fn func(Tx) error) error
	// Migrate applies every embedded migration not yet applied.
	Migrate(ctx context.Context) error
	// Kind names the store: "sqlite" or "postgres".
	Kind() string
	// WriteConcurrency is how many write transactions the store usefully
	// runs at once: 1 for SQLite's single writer, more for PostgreSQL.
	WriteConcurrency() int
	// BatchStatus tells whether the transaction that wrote batch id (see
	// Writes.Batch) committed, looking on a fresh connection. It is the
	// first thing to call after Write fails with ErrCommitUnknown. It
	// returns BatchInProgress while the database still runs that
	// transaction, and an error when it cannot tell.
	BatchStatus(ctx context.Context, id int64) (BatchState, error)
	// Close releases the store's connections.
	Close() error
}

// ErrCommitUnknown is wrapped by Write when COMMIT was sent but its answer
// was lost (the connection dropped): the transaction may or may not have
// taken effect. Never redo its work before BatchStatus says it did not.
var ErrCommitUnknown = errors.New("the outcome of the commit is unknown")

// ErrUnavailable is wrapped by Write and Read when the database could not be
// reached, dropped the connection or ran out of room before the commit:
// nothing was committed and the call may be retried. The store drops its
// idle connections, so a retry uses a fresh one.
var ErrUnavailable = errors.New("the database is unavailable")

// BatchState is what BatchStatus found.
type BatchState int

// Batch states.
const (
	BatchNotCommitted BatchState = iota // it rolled back, or never reached the database
	BatchCommitted
	BatchInProgress // the database is still running it: ask again
)

func (s BatchState) String() string {
	switch s {
	case BatchCommitted:
		return "committed"
	case BatchInProgress:
		return "in progress"
	}
	return "not committed"
}

// ConflictError is returned by Apply when rows could not be inserted
// because another transaction wrote rows with the same unique key since the
// caller looked: the transaction must roll back. It names the rows, so the
// caller can drop the operations that made them and apply the rest.
type ConflictError struct {
	Batch       bool             // the batch id was taken: apply again with another
	Grants      []string         // ids of grants whose (account, external_ref) was taken
	Holds       []string         // ids of holds whose quote had paid for another hold
	Idempotency []IdempotencyKey // records whose key was taken
}

// IdempotencyKey names an idempotency record.
type IdempotencyKey struct{ Scope, Key string }

// Is makes a ConflictError match tollgate.ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == tollgate.ErrConflict }

func (e *ConflictError) Error() string {
	var parts []string
	if e.Batch {
		parts = append(parts, "the batch id")
	}
	if len(e.Grants) > 0 {
		parts = append(parts, fmt.Sprintf("grants %v", e.Grants))
	}
	if len(e.Holds) > 0 {
		parts = append(parts, fmt.Sprintf("holds %v", e.Holds))
	}
	if len(e.Idempotency) > 0 {
		parts = append(parts, fmt.Sprintf("idempotency keys %v", e.Idempotency))
	}
	return "apply: taken meanwhile by another transaction: " + strings.Join(parts, ", ")
}

// Tx is one transaction. Methods that write fail inside Read.
type Tx interface {
	AccountInsert(ctx context.Context, a tollgate.Account) error
	AccountByID(ctx context.Context, id string) (tollgate.Account, error)
	// AccountsLock returns the accounts with the given ids, sorted by id, and
	// locks them until the transaction ends. Callers lock every account a
	// transaction touches in one call, so instances never deadlock. Missing
	// ids are left out of the result.
	AccountsLock(ctx context.Context, ids []string) ([]tollgate.Account, error)
	AccountList(ctx context.Context, p AccountListParams) ([]tollgate.Account, error)
	AccountUpdate(ctx context.Context, a tollgate.Account) error

	APIKeyInsert(ctx context.Context, k tollgate.APIKey) error
	APIKeyByHash(ctx context.Context, hash []byte) (tollgate.APIKey, error)
	APIKeyAdminExists(ctx context.Context) (bool, error)
	// APIKeyList returns the keys of an account ("" for admin keys),
	// revoked ones too, by id.
	APIKeyList(ctx context.Context, accountID string) ([]tollgate.APIKey, error)
	// APIKeyRevoke marks the account's key revoked at t if it is not
	// already, and returns the key; tollgate.ErrNotFound if it has none
	// with that id.
	APIKeyRevoke(ctx context.Context, accountID, id string, t time.Time) (tollgate.APIKey, error)
	// APIKeyTouch records that the key was used at t.
	APIKeyTouch(ctx context.Context, id string, t time.Time) error

	PlanVersionInsert(ctx context.Context, v tollgate.PlanVersion) error
	PlanVersionList(ctx context.Context) ([]tollgate.PlanVersion, error)

	// GrantsOpen returns the grants of the accounts whose expiry has not been
	// applied and that either have credits left or are daily allowances (so
	// the ledger knows today's allowance exists even when spent), ordered by
	// account id then id.
	GrantsOpen(ctx context.Context, accountIDs []string) ([]tollgate.Grant, error)
	GrantsByID(ctx context.Context, ids []string) ([]tollgate.Grant, error)
	GrantList(ctx context.Context, p GrantListParams) ([]tollgate.Grant, error)
	// GrantsDue returns up to limit account ids holding a grant that
	// GrantsOpen would return and whose expires_at is at or before now.
	GrantsDue(ctx context.Context, now time.Time, limit int) ([]string, error)

	HoldsByID(ctx context.Context, ids []string) ([]tollgate.Hold, error)
	// HoldsPending returns the pending holds of the accounts, those expiring
	// at or before dueBy only when dueBy is non-zero.
	HoldsPending(ctx context.Context, accountIDs []string, dueBy time.Time) ([]tollgate.Hold, error)
	// HoldsPendingTotal sums what the account's pending holds expiring
	// after t hold.
	HoldsPendingTotal(ctx context.Context, accountID string, t time.Time) (tollgate.Credits, error)
	// HoldsPendingCount counts the pending holds of the accounts (in id
	// order) by the key that made them.
	HoldsPendingCount(ctx context.Context, accountIDs []string) ([]PendingCount, error)

	// PaymentEventPut records a provider's event, or updates the record of
	// an event received before (keeping its id).
	PaymentEventPut(ctx context.Context, e tollgate.PaymentEvent) error
	// PaymentEventList pages through recorded events by id.
	PaymentEventList(ctx context.Context, p PaymentEventListParams) ([]tollgate.PaymentEvent, error)

	// AuditAppend adds entries to the audit log, which nothing changes or
	// deletes.
	AuditAppend(ctx context.Context, es []tollgate.AuditEntry) error
	// AuditList pages through the audit log by id.
	AuditList(ctx context.Context, p AuditListParams) ([]tollgate.AuditEntry, error)
	// HoldsDue returns up to limit account ids with a pending hold whose
	// expires_at is at or before now.
	HoldsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	HoldList(ctx context.Context, p HoldListParams) ([]tollgate.Hold, error)
	// HoldsByQuote returns the holds made with any of the quotes.
	HoldsByQuote(ctx context.Context, quoteIDs []string) ([]tollgate.Hold, error)

	EntryList(ctx context.Context, p EntryListParams) ([]tollgate.Entry, error)
	// EntryTotals sums the journal by account, book and grant.
	EntryTotals(ctx context.Context) ([]EntryTotal, error)
	// TxnsUnbalanced returns the ids of journal transactions whose entries
	// do not sum to zero, with their sums.
	TxnsUnbalanced(ctx context.Context) ([]TxnSum, error)

	// GrantByRef returns the account's grant with that external reference.
	GrantByRef(ctx context.Context, accountID, ref string) (tollgate.Grant, error)

	// PackPut inserts a pack or replaces the one with its id.
	PackPut(ctx context.Context, p tollgate.Pack) error
	PackList(ctx context.Context) ([]tollgate.Pack, error)

	// OrderInsert stores a new order. An order with the same id (or
	// provider reference) fails it with tollgate.ErrConflict, and the
	// transaction can go on.
	OrderInsert(ctx context.Context, o tollgate.Order) error
	OrderByID(ctx context.Context, id string) (tollgate.Order, error)
	// OrderByProviderRef finds an order by a payment provider's reference:
	// its checkout's or its payment's.
	OrderByProviderRef(ctx context.Context, provider, ref string) (tollgate.Order, error)
	// OrderList pages through orders by id; AccountID empty lists all.
	OrderList(ctx context.Context, p OrderListParams) ([]tollgate.Order, error)
	// OrderSetRef records the provider's reference of an order that has
	// none yet, and reports whether it did.
	OrderSetRef(ctx context.Context, id, ref string) (bool, error)
	// OrderSetProblem records why a payment naming the order was refused.
	OrderSetProblem(ctx context.Context, id, problem string) error

	// SettingGet returns a stored setting; SettingPut stores one unless it
	// exists, and returns the value that is stored.
	SettingGet(ctx context.Context, key string) (string, error)
	SettingPut(ctx context.Context, key, value string) (string, error)

	// PriceRuleInsert stores a price rule version; PriceRuleList returns
	// every stored version. They add to the catalog file's rules.
	PriceRuleInsert(ctx context.Context, r tollgate.PriceRule) error
	PriceRuleList(ctx context.Context) ([]tollgate.PriceRule, error)

	// GrantsExpiringUnnoticed returns up to limit grants, daily allowances
	// left out, with credits left that expire after from and at or before
	// to, and for which no event with id ExpiringEventID(grant) exists.
	GrantsExpiringUnnoticed(ctx context.Context, from, to time.Time, limit int) ([]tollgate.Grant, error)

	// EventLastAt returns when the account's last event of type typ was
	// made, and false if it has none.
	EventLastAt(ctx context.Context, accountID, typ string) (time.Time, bool, error)

	EndpointInsert(ctx context.Context, e tollgate.Endpoint) error
	EndpointList(ctx context.Context) ([]tollgate.Endpoint, error)
	EndpointByID(ctx context.Context, id string) (tollgate.Endpoint, error)
	// EndpointUpdate writes an endpoint's event types, disabled flag and
	// secrets.
	EndpointUpdate(ctx context.Context, e tollgate.Endpoint) error
	// EndpointDelete deletes an endpoint and the deliveries owed to it.
	EndpointDelete(ctx context.Context, id string) error
	// DeliveriesResend queues again, due at now with no attempt counted,
	// the endpoint's delivery of one event (eventID set) or of every event
	// of its types made at or after since, and returns how many.
	DeliveriesResend(ctx context.Context, endpointID, eventID string, since, now time.Time) (int64, error)
	// EventEnqueue stores an event and a pending delivery to every
	// endpoint that takes its type, in the caller's transaction.
	EventEnqueue(ctx context.Context, e tollgate.Event) error
	// DeliveriesDue returns up to limit pending deliveries to enabled
	// endpoints whose next attempt is at or before now, oldest first, with
	// the endpoint's old secret while its rotation overlaps.
	DeliveriesDue(ctx context.Context, now time.Time, limit int) ([]tollgate.Delivery, error)
	// DeliveryClaim moves a due delivery's next attempt to until, if no one
	// else has since: only the claimer sends it.
	DeliveryClaim(ctx context.Context, d tollgate.Delivery, until time.Time) (bool, error)
	// DeliveryDone records an attempt: delivered, or failed with the time
	// of the next attempt (zero to give up).
	DeliveryDone(ctx context.Context, d tollgate.Delivery, delivered bool, next time.Time, lastErr string) error

	QuoteInsert(ctx context.Context, q tollgate.Quote) error
	QuoteByID(ctx context.Context, id string) (tollgate.Quote, error)

	IdempotencyByKey(ctx context.Context, scope, key string) (Idempotency, error)
	// IdempotencyLock makes other transactions that lock the same key wait
	// until this one ends, so that concurrent requests with one key see
	// each other's answer rather than race to write it. SQLite's one
	// writer already serialises them.
	IdempotencyLock(ctx context.Context, scope, key string) error
	// IdempotencyPurge deletes records created before t and returns how many.
	IdempotencyPurge(ctx context.Context, before time.Time) (int64, error)
	// BatchPurge deletes the ids of batches written before t and returns
	// how many.
	BatchPurge(ctx context.Context, before time.Time) (int64, error)

	// Apply writes a batch of inserts and updates built by the ledger, in
	// bulk, and the batch id when w.Batch is set. It fails with
	// *ConflictError when a grant, a hold or an idempotency record it
	// inserts meets one with the same unique key, or the batch id is taken.
	Apply(ctx context.Context, w *Writes) error
}

// AccountListParams pages through accounts by id.
type AccountListParams struct {
	After string
	Limit int
}

// GrantListParams pages through an account's grants by id.
type GrantListParams struct {
	AccountID string
	Source    tollgate.GrantSource // empty: any
	// Open, when not nil, keeps the grants usable at Now (true: not
	// expired by then, nor closed) or the others (false).
	Open  *bool
	Now   time.Time
	After string
	Limit int // 0: no limit
}

// HoldListParams pages through holds by id; AccountID empty lists all.
type HoldListParams struct {
	AccountID string
	Status    tollgate.HoldStatus // empty: any
	// Now, when set, counts a pending hold past its expiry as expired, as
	// reads do before the sweeper has moved it: for Status pending and
	// expired.
	Now     time.Time
	Product tollgate.Product // empty: any
	// CreatedFrom and CreatedTo bound when holds were made: [from, to);
	// zero is unbounded.
	CreatedFrom, CreatedTo time.Time
	After                  string
	Limit                  int // 0: no limit
}

// OrderListParams pages through orders by id.
type OrderListParams struct {
	AccountID string
	Status    tollgate.OrderStatus // empty: any
	After     string
	Limit     int // 0: no limit
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

// PendingCount is how many pending holds one key of an account made; KeyID
// "" counts those made with an admin key.
type PendingCount struct {
	AccountID, KeyID string
	N                int
}

// EntryListParams pages through an account's journal by entry id. The
// filters left empty match every entry.
type EntryListParams struct {
	AccountID string
	Kind      tollgate.TxnKind
	Book      tollgate.Book
	GrantID   string
	HoldID    string
	TxnID     string
	// CreatedFrom and CreatedTo bound when entries were written:
	// [from, to); zero is unbounded.
	CreatedFrom, CreatedTo time.Time
	After                  int64
	Limit                  int
}

// Match reports whether e passes p's filters (the account and the page
// aside).
func (p *EntryListParams) Match(e *tollgate.Entry) bool {
	return (p.Kind == "" || e.Kind == p.Kind) && (p.Book == "" || e.Book == p.Book) &&
		(p.GrantID == "" || e.GrantID == p.GrantID) && (p.HoldID == "" || e.HoldID == p.HoldID) &&
		(p.TxnID == "" || e.TxnID == p.TxnID) &&
		(p.CreatedFrom.IsZero() || !e.CreatedAt.Before(p.CreatedFrom)) &&
		(p.CreatedTo.IsZero() || e.CreatedAt.Before(p.CreatedTo))
}

// EntryTotal is the sum of the journal for one account, book and grant.
type EntryTotal struct {
	AccountID string
	Book      tollgate.Book
	GrantID   string
	Sum       tollgate.Credits
}

// TxnSum is a journal transaction and the sum of its entries.
type TxnSum struct {
	TxnID string
	Sum   tollgate.Credits
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

// GrantUpdate sets a grant's remainder and refund owed and, once, its expiry.
type GrantUpdate struct {
	ID         string
	Amount     tollgate.Credits // zero keeps it; raised when an upgrade tops up an allowance
	Remaining  tollgate.Credits
	RefundOwed tollgate.Credits
	ExpiredAt  *time.Time
	Frozen     bool
}

// HoldUpdate settles a hold.
type HoldUpdate struct {
	ID        string
	Status    tollgate.HoldStatus
	Captured  tollgate.Credits
	SettledAt *time.Time
}

// OrderUpdate moves an order on: it applies only if the order's status and
// refunded credits are still FromStatus and FromRefunded (the ledger read
// them under its account lock), and fails with tollgate.ErrNotFound if not.
// PaymentRef, when set, replaces the order's.
type OrderUpdate struct {
	ID              string
	FromStatus      tollgate.OrderStatus
	FromRefunded    tollgate.Credits
	Status          tollgate.OrderStatus
	GrantID         string
	RefundedCredits tollgate.Credits
	PaymentRef      string
	CompletedAt     *time.Time
	RefundedAt      *time.Time
	DisputeID       string
	DisputeStatus   tollgate.DisputeStatus
}

// Writes is a batch of rows for Apply. The ledger coalesces updates so that
// each grant and hold appears at most once.
type Writes struct {
	// Batch, when not zero, is written to the batches table, so that
	// BatchStatus can tell whether this transaction committed. BatchID
	// makes one.
	Batch        int64
	Grants       []tollgate.Grant
	Holds        []tollgate.Hold
	Entries      []tollgate.Entry
	GrantUpdates []GrantUpdate
	HoldUpdates  []HoldUpdate
	OrderUpdates []OrderUpdate
	Idempotency  []Idempotency
	Events       []tollgate.Event // enqueued with EventEnqueue
	Audit        []tollgate.AuditEntry
	// AccountPending sets accounts' counts of pending holds.
	AccountPending []AccountPending
}

// AccountPending is an account's new count of pending holds.
type AccountPending struct {
	ID string
	N  int
}

// Empty reports whether w writes nothing.
func (w *Writes) Empty() bool {
	return w.Batch == 0 && len(w.Grants) == 0 && len(w.Holds) == 0 && len(w.Entries) == 0 &&
		len(w.GrantUpdates) == 0 && len(w.HoldUpdates) == 0 && len(w.OrderUpdates) == 0 && len(w.Idempotency) == 0 && len(w.Events) == 0 &&
		len(w.Audit) == 0 && len(w.AccountPending) == 0
}

// Reset empties w, keeping its capacity.
func (w *Writes) Reset() {
	w.Batch = 0
	w.Grants, w.Holds, w.Entries = w.Grants[:0], w.Holds[:0], w.Entries[:0]
	w.GrantUpdates, w.HoldUpdates, w.Idempotency = w.GrantUpdates[:0], w.HoldUpdates[:0], w.Idempotency[:0]
	w.OrderUpdates = w.OrderUpdates[:0]
	w.Events = w.Events[:0]
	w.Audit = w.Audit[:0]
	w.AccountPending = w.AccountPending[:0]
}

// ExpiringEventID is the id of a grant's credits.expiring event: one per
// grant, so a notice is sent once.
func ExpiringEventID(grantID string) string { return "evt_expiring_" + grantID }

// BatchID returns a new batch id for a batch made at t: its time in
// microseconds, shifted left 8 bits, with 8 random bits below, so that ids
// sort by time and BatchPurge can delete by id. Two batches may draw the
// same id; Apply then fails with a ConflictError naming the batch.
func BatchID(t time.Time, random uint8) int64 {
	return t.UnixMicro()<<8 | int64(random)
}

// BatchIDBefore returns the smallest batch id of a batch made at t.
func BatchIDBefore(t time.Time) int64 { return t.UnixMicro() << 8 }
