// Package store defines the committer's storage contract: a Store opens
// transactions, and a Tx reads and writes accounts, keys, plans, grants,
// holds and journal entries, and the records of store/record. Only the
// ledger and the stores import it. store/sqlite and store/postgres
// implement it; store/storetest is the contract suite both must pass.
//
// A Store holds no business rules: the ledger decides what to write, and a
// Tx writes it. Every method returns tollgate.ErrNotFound for a missing row and
// tollgate.ErrConflict for a duplicate key.
package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"tollgate"
	"tollgate/store/record"
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
	// first thing to call after Write fails with record.ErrCommitUnknown. It
	// returns BatchInProgress while the database still runs that
	// transaction, and an error when it cannot tell.
	BatchStatus(ctx context.Context, id int64) (BatchState, error)
	// Schema compares the migrations applied to the database with those
	// this binary embeds. It fails only when it cannot read them.
	Schema(ctx context.Context) (SchemaState, error)
	// Close releases the store's connections.
	Close() error
}

// SchemaState is what Schema found, each list in name order.
type SchemaState struct {
	Applied []string // applied to the database
	Pending []string // embedded here, not applied yet: Migrate applies them
	Unknown []string // applied, but not embedded here: a newer binary migrated the database
	// Expand are those of Unknown that only add (tables, columns,
	// indexes): a binary that does not know them may still run.
	Expand []string
}

// Compatible is nil when this binary can run on the database: every
// migration applied to it is known here, or only adds to the schema (an
// expand migration, as a rolling upgrade applies while older instances
// still serve).
func (s SchemaState) Compatible() error {
	var contract []string
	for _, v := range s.Unknown {
		if !slices.Contains(s.Expand, v) {
			contract = append(contract, v)
		}
	}
	if len(contract) == 0 {
		return nil
	}
	return fmt.Errorf("the database was migrated by a newer tollgate (migrations %s): run that version or a newer one, "+
		"or restore a backup taken before the upgrade (README, \"Upgrades\")", strings.Join(contract, ", "))
}

// Applied is a migration recorded in a database, and whether it only
// expands the schema ("expand") or not ("contract").
type Applied struct {
	Version, Compat string
}

// Expand and Contract are a migration's compatibility with binaries that
// do not know it.
const (
	Expand   = "expand"
	Contract = "contract"
)

// MigrationCompat reads a migration's compatibility from its SQL: a line
// "-- compat: expand" declares that it only adds; anything else is a
// contract migration, which binaries that do not know it refuse.
func MigrationCompat(sql string) string {
	for _, line := range strings.Split(sql, "\n") {
		if strings.TrimSpace(line) == "-- compat: expand" {
			return Expand
		}
	}
	return Contract
}

// CompareSchema builds a SchemaState from the applied and the embedded
// migrations.
func CompareSchema(applied []Applied, embedded []string) SchemaState {
	var s SchemaState
	known := map[string]bool{}
	for _, v := range embedded {
		known[v] = true
	}
	done := map[string]bool{}
	for _, a := range applied {
		v := a.Version
		done[v] = true
		s.Applied = append(s.Applied, v)
		if !known[v] {
			s.Unknown = append(s.Unknown, v)
			if a.Compat == Expand {
				s.Expand = append(s.Expand, v)
			}
		}
	}
	for _, v := range embedded {
		if !done[v] {
			s.Pending = append(s.Pending, v)
		}
	}
	slices.Sort(s.Applied)
	slices.Sort(s.Pending)
	slices.Sort(s.Unknown)
	slices.Sort(s.Expand)
	return s
}

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
	Videos      []string         // ids of video jobs written by another since they were read
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
	if len(e.Videos) > 0 {
		parts = append(parts, fmt.Sprintf("videos %v", e.Videos))
	}
	return "apply: taken meanwhile by another transaction: " + strings.Join(parts, ", ")
}

// Tx is one transaction of the ledger's committer: the records of
// record.Tx, and the accounts, keys, plans, grants, holds and journal that
// only the ledger writes. Methods that write fail inside Read. Ids missing
// from an id list are left out of the answer, not an error.
type Tx interface {
	record.Tx

	// AccountInsert stores a new account; tollgate.ErrConflict if its id
	// is taken.
	AccountInsert(ctx context.Context, a tollgate.Account) error
	// AccountByID returns an account; tollgate.ErrNotFound if there is
	// none.
	AccountByID(ctx context.Context, id string) (tollgate.Account, error)
	// AccountsLock returns the accounts with the given ids, sorted by id, and
	// locks them until the transaction ends. Callers lock every account a
	// transaction touches in one call, so instances never deadlock. Missing
	// ids are left out of the result.
	AccountsLock(ctx context.Context, ids []string) ([]tollgate.Account, error)
	// LockAccounts locks q.AccountIDs as AccountsLock does and then reads,
	// each as its own method would: the open grants of the accounts found
	// (GrantsOpen), their pending holds expiring at or before q.DueBy
	// (HoldsPending; none for a zero DueBy), the holds q.Holds names (HoldsByID) and, with
	// q.Plans, every plan version (PlanVersionList). The reads come after
	// the lock, so they see what the last holder of the lock committed.
	// PostgreSQL sends it all in one round trip.
	LockAccounts(ctx context.Context, q LockQuery) (Locked, error)
	// AccountList pages through accounts by id.
	AccountList(ctx context.Context, p AccountListParams) ([]tollgate.Account, error)
	// AccountUpdate writes an account's name, plan, time zone, status,
	// low-balance threshold and scheduled changes (not its pending-hold
	// count, which Apply sets); tollgate.ErrNotFound if there is none.
	AccountUpdate(ctx context.Context, a tollgate.Account) error

	// APIKeyInsert stores a key (its hash, never its secret);
	// tollgate.ErrConflict if its id or hash is taken.
	APIKeyInsert(ctx context.Context, k tollgate.APIKey) error
	// APIKeyByHash returns the key, revoked or not, whose secret hashes to
	// hash; tollgate.ErrNotFound if there is none.
	APIKeyByHash(ctx context.Context, hash []byte) (tollgate.APIKey, error)
	// APIKeyAdminExists reports whether an admin key that is not revoked
	// is stored.
	APIKeyAdminExists(ctx context.Context) (bool, error)
	// APIKeyList returns the keys of an account ("" for admin keys),
	// revoked ones too, by id.
	APIKeyList(ctx context.Context, accountID string) ([]tollgate.APIKey, error)
	// APIKeyRevoke marks the account's key revoked at t if it is not
	// already, and returns the key; tollgate.ErrNotFound if it has none
	// with that id.
	APIKeyRevoke(ctx context.Context, accountID, id string, t time.Time) (tollgate.APIKey, error)
	// APIKeyTouch records that the key was used at t; a missing key is no
	// error.
	APIKeyTouch(ctx context.Context, id string, t time.Time) error

	// PlanVersionInsert stores a plan version; tollgate.ErrConflict if the
	// plan has that version number.
	PlanVersionInsert(ctx context.Context, v tollgate.PlanVersion) error
	// PlanVersionList returns every plan version, by plan then version.
	PlanVersionList(ctx context.Context) ([]tollgate.PlanVersion, error)

	// GrantsOpen returns the grants of the accounts whose expiry has not been
	// applied and that either have credits left or are daily allowances (so
	// the ledger knows today's allowance exists even when spent), ordered by
	// account id then id.
	GrantsOpen(ctx context.Context, accountIDs []string) ([]tollgate.Grant, error)
	// GrantsByID returns the grants with the given ids, by id.
	GrantsByID(ctx context.Context, ids []string) ([]tollgate.Grant, error)
	// GrantList pages through grants by id.
	GrantList(ctx context.Context, p GrantListParams) ([]tollgate.Grant, error)
	// GrantByRef returns the account's grant with that external reference;
	// tollgate.ErrNotFound if there is none.
	GrantByRef(ctx context.Context, accountID, ref string) (tollgate.Grant, error)
	// GrantsDue returns up to limit account ids holding a grant that
	// GrantsOpen would return and whose expires_at is at or before now.
	GrantsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	// GrantsExpiringUnnoticed returns up to limit grants, daily allowances
	// left out, with credits left that expire after from and at or before
	// to, and for which no event with id ExpiringEventID(grant) exists.
	GrantsExpiringUnnoticed(ctx context.Context, from, to time.Time, limit int) ([]tollgate.Grant, error)

	// HoldsByID returns the holds with the given ids, by id.
	HoldsByID(ctx context.Context, ids []string) ([]tollgate.Hold, error)
	// HoldsByQuote returns the holds made with any of the quotes, by id.
	HoldsByQuote(ctx context.Context, quoteIDs []string) ([]tollgate.Hold, error)
	// HoldsPending returns the pending holds of the accounts, by account id
	// then id; those expiring at or before dueBy only when dueBy is
	// non-zero.
	HoldsPending(ctx context.Context, accountIDs []string, dueBy time.Time) ([]tollgate.Hold, error)
	// AccountState reads what an account's balance is computed from: the
	// account, its grants that are open (as GrantsOpen) or that pending
	// holds hold credits on (Held above zero), by id, its pending holds
	// expiring at or before dueBy, by id, and every plan version (as
	// PlanVersionList). It fails with ErrNotFound for an unknown account.
	// PostgreSQL sends the reads in one round trip.
	AccountState(ctx context.Context, accountID string, dueBy time.Time) (AccountState, error)
	// HoldsPendingCount counts the pending holds of the accounts by the key
	// that made them, by account id then key id.
	HoldsPendingCount(ctx context.Context, accountIDs []string) ([]PendingCount, error)
	// HoldsDue returns up to limit account ids with a pending hold whose
	// expires_at is at or before now.
	HoldsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	// HoldList pages through holds by id.
	HoldList(ctx context.Context, p HoldListParams) ([]tollgate.Hold, error)

	// EntryList pages through an account's journal by entry id.
	EntryList(ctx context.Context, p EntryListParams) ([]tollgate.Entry, error)
	// EntryTotals sums the journal by account, book and grant.
	EntryTotals(ctx context.Context) ([]EntryTotal, error)
	// TxnsUnbalanced returns the ids of journal transactions whose entries
	// do not sum to zero, with their sums.
	TxnsUnbalanced(ctx context.Context) ([]TxnSum, error)

	// IdempotencyPurge deletes records created before t and returns how many.
	IdempotencyPurge(ctx context.Context, before time.Time) (int64, error)
	// BatchPurge deletes the ids of batches written before t and returns
	// how many.
	BatchPurge(ctx context.Context, before time.Time) (int64, error)

	// Apply writes a batch of inserts and updates built by the ledger, in
	// bulk, and the batch id when w.Batch is set. It fails with
	// *ConflictError when a grant, a hold or an idempotency record it
	// inserts meets one with the same unique key, or the batch id is taken;
	// with tollgate.ErrNotFound when a row it updates is missing; and,
	// writing nothing, when w fails Check.
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

// LockQuery is what Tx.LockAccounts locks and reads.
type LockQuery struct {
	AccountIDs []string // sorted, unique
	DueBy      time.Time
	Holds      []string
	Plans      bool
}

// Locked is what Tx.LockAccounts read.
type Locked struct {
	Accounts []tollgate.Account // found, by id
	Grants   []tollgate.Grant   // open, by account id then id
	Overdue  []tollgate.Hold    // by account id then id
	Holds    []tollgate.Hold    // by id
	Plans    []tollgate.PlanVersion
}

// AccountState is what Tx.AccountState reads.
type AccountState struct {
	Account tollgate.Account
	Grants  []tollgate.Grant // open, or with credits held
	Overdue []tollgate.Hold  // pending, expiring at or before dueBy
	Plans   []tollgate.PlanVersion
}

// GrantUpdate sets a grant's remainder, what is held on it and its refund
// owed and, once, its expiry.
type GrantUpdate struct {
	ID         string
	Amount     tollgate.Credits // zero keeps it; raised when an upgrade tops up an allowance
	Remaining  tollgate.Credits
	Held       tollgate.Credits
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
	// Paid, when set, replaces what the order records as paid.
	Paid *tollgate.Paid
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
	Idempotency  []record.Idempotency
	Events       []tollgate.Event // enqueued with EventEnqueue
	Audit        []tollgate.AuditEntry
	// AccountPending sets accounts' counts of pending holds.
	AccountPending []AccountPending
	// Videos are new video jobs, inserted as VideoInsert does.
	Videos []tollgate.Video
	// VideoUpdates are written as VideoUpdate does: a job whose version
	// moved on meanwhile fails the transaction with a ConflictError
	// naming it.
	VideoUpdates []tollgate.Video
	// CameoUses change cameos' counts of uses per day (by Delta).
	CameoUses []CameoUse
	// Earnings are fees paid at captures, for statements.
	Earnings []tollgate.Earning
	// Counters are added to the statements' and leaderboards' counters.
	Counters []record.Counter
	// Payouts are new payouts; PayoutUpdates change pending ones (a payout
	// no longer pending fails the transaction with tollgate.ErrConflict).
	Payouts       []tollgate.Payout
	PayoutUpdates []tollgate.Payout
}

// CameoUse changes a cameo's count of uses on a day of its owner's time
// zone (YYYY-MM-DD).
type CameoUse struct {
	CameoID string
	Day     string
	Delta   int
}

// AccountPending is an account's new count of pending holds.
type AccountPending struct {
	ID string
	N  int
}

// Check refuses a w that updates one grant, hold, order or account's count
// twice: Apply writes updates in bulk, and the stores would disagree on
// which of two wins. The ledger coalesces them, so this is a bug.
func (w *Writes) Check() error {
	if err := once("grant", len(w.GrantUpdates), func(i int) string { return w.GrantUpdates[i].ID }); err != nil {
		return err
	}
	if err := once("hold", len(w.HoldUpdates), func(i int) string { return w.HoldUpdates[i].ID }); err != nil {
		return err
	}
	if err := once("order", len(w.OrderUpdates), func(i int) string { return w.OrderUpdates[i].ID }); err != nil {
		return err
	}
	if err := once("video", len(w.VideoUpdates), func(i int) string { return w.VideoUpdates[i].ID }); err != nil {
		return err
	}
	return once("account's pending holds", len(w.AccountPending), func(i int) string { return w.AccountPending[i].ID })
}

func once(what string, n int, id func(int) string) error {
	if n < 2 {
		return nil
	}
	seen := make(map[string]struct{}, n)
	for i := range n {
		if _, ok := seen[id(i)]; ok {
			return fmt.Errorf("apply: the %s %s is updated twice in one batch", what, id(i))
		}
		seen[id(i)] = struct{}{}
	}
	return nil
}

// Empty reports whether w writes nothing.
func (w *Writes) Empty() bool {
	return w.Batch == 0 && len(w.Grants) == 0 && len(w.Holds) == 0 && len(w.Entries) == 0 &&
		len(w.GrantUpdates) == 0 && len(w.HoldUpdates) == 0 && len(w.OrderUpdates) == 0 && len(w.Idempotency) == 0 && len(w.Events) == 0 &&
		len(w.Audit) == 0 && len(w.AccountPending) == 0 && len(w.Videos) == 0 && len(w.VideoUpdates) == 0 && len(w.CameoUses) == 0 &&
		len(w.Earnings) == 0 && len(w.Counters) == 0 && len(w.Payouts) == 0 && len(w.PayoutUpdates) == 0
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
