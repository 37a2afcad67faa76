// Package ledger holds Tollgate's credit rules: the burn-down order, daily
// allowances, holds and their settlement, grant expiry and the double-entry
// journal. It decides what to write; a store.Store writes it.
//
// Writes go through a group committer: every call enqueues an operation, and
// one goroutine per Ledger applies all queued operations in one transaction
// with one durable commit. An operation that fails (say, for want of credits)
// is rejected alone; the rest of its batch commits. Accounts touched by a
// batch are locked in id order, so many instances sharing one PostgreSQL
// database never deadlock. Several operations on one grant become one row
// update.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tollgate"
	"tollgate/keygate"
	"tollgate/store"
	"tollgate/store/record"
)

// Options tune a Ledger. The zero value is usable.
type Options struct {
	Clock tollgate.Clock // default tollgate.SystemClock
	// MaxBatch caps the operations applied in one transaction. 1 gives one
	// transaction per operation: the naive baseline the benchmarks compare with.
	MaxBatch int // default 2048
	// Committers is how many batches may be in flight at once, each in its
	// own transaction. One suits SQLite (one writer); PostgreSQL overlaps
	// round trips and uses more cores with several. Accounts are locked in id
	// order, so committers never deadlock; on a shared account they queue.
	Committers int // default: the store's WriteConcurrency
	// CacheState keeps recently used accounts' grants and pending holds in
	// memory between batches, so a batch need not read them. Only for a
	// ledger that is its database's one writer (SQLite with its file locked
	// by this process); it needs Committers to be 1 and is off otherwise.
	CacheState bool
	// DefaultHoldTTL is how long a hold lasts when the caller gives no TTL.
	DefaultHoldTTL time.Duration // default 1 hour
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	IdempotencyTTL time.Duration // default 48 hours
	// PlanNotice is how far ahead a plan cut must be announced.
	PlanNotice time.Duration // default DefaultPlanNotice (14 days)
	// AdminKeys, when set, are the only admin keys (TOLLGATE_ADMIN_KEY,
	// several while one is being rotated): they are not stored, and admin
	// keys stored in the database are refused.
	AdminKeys []string
	// BatchTimeout bounds one batch's transaction: a database that hangs
	// fails the batch, which is tried again like one it could not reach,
	// rather than holding every caller forever.
	BatchTimeout time.Duration // default DefaultBatchTimeout
	// AccountReads bounds the reads of one account (its balance, its
	// grants, holds and journal) running at once in this process; more
	// wait their turn, so that one account's readers cannot take the
	// database from the others.
	AccountReads int // default DefaultAccountReads
	Logger       *slog.Logger
	// OnBatch, when set, is told of each batch committed: its operations
	// and how long its transaction took (metrics).
	OnBatch func(ops int, took time.Duration)
}

// DefaultAccountReads is Options.AccountReads' default.
const DefaultAccountReads = 2

// DefaultBatchTimeout is Options.BatchTimeout's default: far beyond what a
// batch takes (milliseconds), short enough that a hung database is noticed.
const DefaultBatchTimeout = 30 * time.Second

// Limits on metadata: one level of string keys and string values, bounded
// so that an account cannot grow the database at will through it.
const (
	MaxMetadataKeys     = 16
	MaxMetadataKeyLen   = 40   // bytes
	MaxMetadataValueLen = 500  // bytes
	MaxMetadataBytes    = 4096 // keys and values together
)

// Limits on what callers may ask.
const (
	MinHoldTTL = time.Second
	MaxHoldTTL = 7 * 24 * time.Hour
)

// Ledger is the credit ledger. It is safe for concurrent use; Start must be
// called before any write.
type Ledger struct {
	store store.Store
	clock tollgate.Clock
	opt   Options
	log   *slog.Logger

	batches, applied, retried, unknown, busy atomic.Int64
	conflicts                                atomic.Int64
	lastBatch                                atomic.Int64

	// loader reads what batches need: through the state cache with
	// Options.CacheState, from the database otherwise.
	loader loader
	cached bool

	adminKeys map[string]tollgate.APIKey // by hash, from Options.AdminKeys

	// plansGen counts the writes of plan versions; with the state cache,
	// the committer keeps the plan versions it read (plans, read at
	// generation plansAt) until it moves.
	plansGen atomic.Int64
	plans    []tollgate.PlanVersion
	plansAt  int64
	gate     *keygate.Gate // reads of one account at once: Options.AccountReads

	ops      chan *op
	mu       sync.RWMutex // guards stopped against sends on ops
	stopped  bool
	started  bool
	done     chan struct{}
	stopOnce sync.Once
}

// New returns a Ledger over s.
func New(s store.Store, opt Options) *Ledger {
	if opt.Clock == nil {
		opt.Clock = tollgate.SystemClock{}
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 2048
	}
	if opt.Committers <= 0 {
		opt.Committers = max(1, s.WriteConcurrency())
	}
	if opt.BatchTimeout <= 0 {
		opt.BatchTimeout = DefaultBatchTimeout
	}
	if opt.DefaultHoldTTL <= 0 {
		opt.DefaultHoldTTL = time.Hour
	}
	if opt.PlanNotice <= 0 {
		opt.PlanNotice = DefaultPlanNotice
	}
	if opt.IdempotencyTTL <= 0 {
		opt.IdempotencyTTL = 48 * time.Hour
	}
	if opt.AccountReads <= 0 {
		opt.AccountReads = DefaultAccountReads
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	l := &Ledger{
		store: s, clock: opt.Clock, opt: opt, log: opt.Logger,
		gate: keygate.New(opt.AccountReads),
		ops:  make(chan *op, 8192),
		done: make(chan struct{}),
	}
	l.loader = newDBLoader()
	if opt.CacheState && opt.Committers == 1 {
		l.loader, l.cached = &cachingLoader{db: newDBLoader(), c: newStateCache(200_000), maxPending: tollgate.DefaultLimits.MaxPendingHolds}, true
	}
	if len(opt.AdminKeys) > 0 {
		l.adminKeys = map[string]tollgate.APIKey{}
		for _, secret := range opt.AdminKeys {
			h := HashKey(secret)
			// The id is the hash's start, so it stays the same across
			// restarts: idempotency records are scoped by it.
			l.adminKeys[string(h)] = tollgate.APIKey{ID: "key_env_" + hex.EncodeToString(h[:8]), Hash: h}
		}
	}
	return l
}

// Clock returns the ledger's clock.
func (l *Ledger) Clock() tollgate.Clock { return l.clock }

// Start starts the committer. It returns at once; the committer runs until
// Stop, or until ctx ends, which stops it as Stop does.
func (l *Ledger) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return errors.New("ledger: already started")
	}
	l.started = true
	var wg sync.WaitGroup
	for range l.opt.Committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.commitLoop()
		}()
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			l.Stop()
		case <-l.done:
		}
	}()
	return nil
}

// Stop stops taking operations, applies those already queued and returns
// when they are committed. It is safe to call twice.
func (l *Ledger) Stop() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.stopped = true
		started := l.started
		close(l.ops)
		l.mu.Unlock()
		if started {
			<-l.done
		}
	})
}

// submit queues o and waits for its outcome. Once queued, an operation is
// applied even if ctx ends, so the answer always tells what happened.
func (l *Ledger) submit(ctx context.Context, o *op) error {
	o.done = make(chan struct{})
	l.mu.RLock()
	if l.stopped || !l.started {
		l.mu.RUnlock()
		return tollgate.Errorf(tollgate.CodeUnavailable, "the ledger is shutting down; retry shortly")
	}
	select {
	case l.ops <- o:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	<-o.done
	return o.err
}

// drain appends queued operations to batch without waiting.
func (l *Ledger) drain(batch []*op) []*op {
	for len(batch) < l.opt.MaxBatch {
		select {
		case o, ok := <-l.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (l *Ledger) commitLoop() {
	batch := make([]*op, 0, l.opt.MaxBatch)
	for first := range l.ops {
		batch = append(batch[:0], first)
		// Callers answered by the last commit are still resubmitting: give
		// them a moment (a yield, not a sleep) so the batch fills up.
		for round := 0; round < 3 && len(batch) < l.opt.MaxBatch; round++ {
			n := len(batch)
			batch = l.drain(batch)
			if len(batch) == n && round > 0 {
				break
			}
			runtime.Gosched()
		}
		l.run(batch)
	}
}

// Limits of the committer's retries when the database fails.
const (
	maxAttempts = 6                      // transactions tried for one batch before it is answered 503
	lookupFor   = 4 * time.Second        // how long a commit whose answer was lost is looked up
	retryPause  = 100 * time.Millisecond // first pause before trying again; doubles each time
)

// run applies a batch in one transaction and answers its operations. Every
// operation answered took effect exactly once; one answered 503 took effect
// at most once. When the transaction fails:
//
//   - the answer to COMMIT was lost: the batch id is looked up on a fresh
//     connection first. Committed, the operations are answered with their
//     results; not committed, the batch is applied again; still not known,
//     each is answered outcome_unknown.
//   - a row met a unique key another transaction took meanwhile: the
//     operations that made those rows are taken out, the rest applied
//     again, and those operations then run alone, where they see what the
//     other transaction wrote. An operation that writes a video job
//     another transaction wrote since it was read is answered conflict at
//     once: alone, it would meet the same.
//   - the connection was lost before COMMIT: nothing was committed; the
//     batch is applied again on a fresh connection, a few times, before
//     its operations are answered unavailable.
//   - a statement failed: nothing was committed; each operation is tried
//     alone, so only the guilty one fails.
func (l *Ledger) run(ops []*op) {
	l.batches.Add(1)
	var alone []*op // run after the batch, each in a transaction of its own
	defer func() {
		for _, o := range alone {
			l.run([]*op{o})
		}
	}()
	pause := retryPause
	for attempt := 1; ; attempt++ {
		l.applied.Add(int64(len(ops)))
		t := time.Now()
		b, err := l.apply(ops)
		took := time.Since(t)
		l.busy.Add(int64(took))
		if err == nil {
			if l.opt.OnBatch != nil {
				l.opt.OnBatch(len(ops), took)
			}
			l.loader.committed(b)
			l.answer(ops, nil)
			return
		}
		l.loader.failed() // what was committed is not known here: read afresh
		var conflict *store.ConflictError
		switch {
		case errors.Is(err, record.ErrCommitUnknown):
			l.unknown.Add(1)
			state := store.BatchNotCommitted // a batch that wrote nothing has nothing to look up
			if b.w.Batch != 0 {
				state = l.lookup(b.w.Batch)
			}
			switch state {
			case store.BatchCommitted:
				l.answer(ops, nil)
				return
			case store.BatchNotCommitted:
				l.log.Warn("ledger: a commit's answer was lost and the batch had not committed: applying it again", "batch", b.w.Batch, "ops", len(ops), "err", err)
			default:
				l.log.Error("ledger: a commit's answer was lost and its outcome is still unknown", "batch", b.w.Batch, "ops", len(ops), "err", err)
				l.answer(ops, tollgate.Errorf(tollgate.CodeOutcomeUnknown,
					"the database connection dropped while this request was being committed, and whether it took effect is not known yet; "+
						"retry with the same Idempotency-Key (a request that took effect is answered as it was), or check before retrying without one"))
				return
			}
		case errors.As(err, &conflict):
			// A video job written since its operation read it is stale
			// for good: that operation is answered now, the rest go on.
			var stale []*op
			for _, id := range conflict.Videos {
				if o := b.owner[id]; o != nil && !slices.Contains(stale, o) {
					stale = append(stale, o)
				}
			}
			if len(stale) > 0 {
				l.conflicts.Add(int64(len(stale)))
				l.answer(stale, tollgate.Errorf(tollgate.CodeConflict, "the video job was written by another since it was read: read it again"))
				if ops = without(ops, stale); len(ops) == 0 {
					return
				}
				if !conflict.Batch && len(conflict.Grants) == 0 && len(conflict.Holds) == 0 && len(conflict.Idempotency) == 0 {
					continue
				}
			}
			guilty := b.owners(conflict)
			if len(guilty) == 0 && !conflict.Batch {
				l.log.Error("ledger: a conflict no operation owns", "err", err)
				l.answer(ops, err)
				return
			}
			l.conflicts.Add(int64(len(guilty)))
			ops = without(ops, guilty)
			for _, o := range guilty {
				// Alone, an operation sees the other's row and fails or
				// replays in memory; one that still meets a taken key
				// after a few tries is answered with the conflict.
				if o.conflicts++; o.conflicts > 3 {
					l.answer([]*op{o}, err)
				} else {
					alone = append(alone, o)
				}
			}
			if len(ops) == 0 {
				return
			}
		case errors.Is(err, record.ErrFull):
			// Waiting a few milliseconds makes no room: answer now.
			l.log.Error("ledger: the database is full; writes are refused until there is room, reads still work", "err", err)
			l.answer(ops, FullError())
			return
		case errors.Is(err, record.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			l.log.Warn("ledger: the database is unavailable or too slow; trying again", "attempt", attempt, "err", err)
		default:
			if len(ops) > 1 {
				l.retried.Add(1)
				alone = append(alone, ops...)
				return
			}
			l.answer(ops, err)
			return
		}
		if attempt >= maxAttempts {
			if errors.Is(err, record.ErrCommitUnknown) { // looked up above: it did not commit
				cause := err.Error()
				if i := strings.LastIndex(cause, ": "); i >= 0 {
					cause = cause[i+2:]
				}
				l.answer(ops, tollgate.Errorf(tollgate.CodeUnavailable, "the database failed at commit (%s), and the ledger checked that "+
					"nothing was changed: retry shortly; if it lasts, the operator should look at the database's disk", cause))
				return
			}
			l.answer(ops, tollgate.Errorf(tollgate.CodeUnavailable, "the database is unavailable (%v); nothing was changed: retry shortly", err))
			return
		}
		if !errors.As(err, &conflict) {
			l.retried.Add(1)
			time.Sleep(pause)
			pause *= 2
		}
	}
}

// answer gives every operation its result, or err for all when not nil.
func (l *Ledger) answer(ops []*op, err error) {
	for _, o := range ops {
		if err != nil {
			o.err = err
			if tollgate.ErrorCode(err) == tollgate.CodeInternal {
				l.log.Error("ledger transaction failed", "op", o.String(), "err", err)
			}
		} else {
			o.err = o.pendingErr
		}
		close(o.done)
	}
}

// lookup asks the store, for up to lookupFor, whether batch id committed.
// It returns BatchInProgress when it could not tell.
func (l *Ledger) lookup(id int64) store.BatchState {
	deadline := time.Now().Add(lookupFor)
	pause := retryPause
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)+time.Second)
		st, err := l.store.BatchStatus(ctx, id)
		cancel()
		if err == nil && st != store.BatchInProgress {
			return st
		}
		if err != nil {
			l.log.Warn("ledger: looking up a batch whose commit answer was lost", "batch", id, "err", err)
		}
		if time.Now().Add(pause).After(deadline) {
			return store.BatchInProgress
		}
		time.Sleep(pause)
		pause *= 2
	}
}

// batchID returns a new batch id: the wall clock's time (not the ledger's
// clock, which tests stop) and random bits, increasing within the process.
func (l *Ledger) batchID() int64 {
	var r [1]byte
	_, _ = rand.Read(r[:])
	id := store.BatchID(time.Now(), r[0])
	for {
		last := l.lastBatch.Load()
		if id <= last {
			id = last + 1
		}
		if l.lastBatch.CompareAndSwap(last, id) {
			return id
		}
	}
}

func without(ops, drop []*op) []*op {
	out := ops[:0:0]
	for _, o := range ops {
		if !slices.Contains(drop, o) {
			out = append(out, o)
		}
	}
	return out
}

func (l *Ledger) apply(ops []*op) (*batch, error) {
	// Not the callers' contexts: once queued, an operation is applied
	// whatever becomes of its caller, so the answer tells what happened.
	ctx, cancel := context.WithTimeout(context.Background(), l.opt.BatchTimeout)
	defer cancel()
	var b *batch
	err := l.store.Write(ctx, func(tx store.Tx) error {
		for _, o := range ops {
			o.pendingErr = nil
		}
		b = newBatch(l, tx, l.clock.Now())
		if err := b.load(ctx, ops); err != nil {
			return err
		}
		for _, o := range ops {
			if o.pendingErr != nil { // failed while loading, e.g. unknown hold
				continue
			}
			b.cur = o
			o.pendingErr = b.do(ctx, o)
		}
		b.cur = nil
		if err := b.flush(ctx); err != nil {
			return err
		}
		if b.w.Empty() {
			return nil
		}
		b.w.Batch = l.batchID()
		return tx.Apply(ctx, &b.w)
	})
	return b, err
}

// Stats counts the committer's work since the ledger started.
type Stats struct {
	Batches    int64         // batches run by the committer
	Operations int64         // operations applied, retries included
	Retried    int64         // batches whose transaction failed and were applied again, whole or op by op
	Unknown    int64         // commits whose answer was lost, looked up
	Conflicts  int64         // operations taken out of a batch because a row of theirs met a key taken meanwhile
	Busy       time.Duration // time spent in transactions, summed over committers
}

// Stats returns the committer's counters. It is safe for concurrent use.
func (l *Ledger) Stats() Stats {
	return Stats{Batches: l.batches.Load(), Operations: l.applied.Load(), Retried: l.retried.Load(), Unknown: l.unknown.Load(), Conflicts: l.conflicts.Load(),
		Busy: time.Duration(l.busy.Load())}
}

// Replayed is returned, as an error, by a call whose Idempotency-Key was seen
// before with the same request: Status and Body are the first answer.
type Replayed struct {
	Status int
	Body   []byte
}

func (r *Replayed) Error() string { return fmt.Sprintf("idempotent replay (status %d)", r.Status) }

// Idempotency identifies a request for replay. Render turns the call's
// result into the answer to remember; it runs inside the transaction.
type Idempotency struct {
	Scope  string
	Key    string
	Hash   []byte
	Render func(result any) (status int, body []byte)
}

// FullError is the answer to a write the database had no room for.
func FullError() *tollgate.Error {
	e := tollgate.Errorf(tollgate.CodeUnavailable, "the database is full (its disk, or the size it is limited to): nothing was changed. "+
		"Reads still work; writes work again by themselves once the operator makes room: retry later")
	e.RetryAfter = 30 * time.Second
	return e
}

// Health says whether the ledger can take operations now: its committer
// runs, the database answers a read within timeout, and this binary knows
// every migration applied to the database. It names the first thing
// wrong; nil means ready.
func (l *Ledger) Health(ctx context.Context, timeout time.Duration) error {
	l.mu.RLock()
	running := l.started && !l.stopped
	l.mu.RUnlock()
	if !running {
		return errors.New("the committer is not running (starting, or shutting down)")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := l.store.Read(ctx, func(store.Tx) error { return nil }); err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	s, err := l.store.Schema(ctx)
	if err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	return s.Compatible()
}

// batchPlans returns the plan versions a batch prices allowances with:
// read in its transaction, or with the state cache (this ledger the
// database's one writer), kept from an earlier batch until this ledger
// writes a plan version. Only the committer calls it.
func (l *Ledger) batchPlans(ctx context.Context, tx interface {
	PlanVersionList(context.Context) ([]tollgate.PlanVersion, error)
}) ([]tollgate.PlanVersion, error) {
	if !l.cached {
		return tx.PlanVersionList(ctx)
	}
	gen := l.plansGen.Load() // before reading: a write after it makes the next batch read again
	if l.plans != nil && l.plansAt == gen {
		return l.plans, nil
	}
	vs, err := tx.PlanVersionList(ctx)
	if err != nil {
		return nil, err
	}
	l.plans, l.plansAt = vs, gen
	return vs, nil
}

// plansWritten says that plan versions may have been written: batches read
// them again.
func (l *Ledger) plansWritten() { l.plansGen.Add(1) }
