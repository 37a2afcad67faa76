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
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"tollgate"
	"tollgate/store"
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
	Logger     *slog.Logger
}

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

	batches, applied, retried, busy atomic.Int64

	cache *stateCache // nil unless Options.CacheState

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
	if opt.DefaultHoldTTL <= 0 {
		opt.DefaultHoldTTL = time.Hour
	}
	if opt.PlanNotice <= 0 {
		opt.PlanNotice = DefaultPlanNotice
	}
	if opt.IdempotencyTTL <= 0 {
		opt.IdempotencyTTL = 48 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	l := &Ledger{
		store: s, clock: opt.Clock, opt: opt, log: opt.Logger,
		ops:  make(chan *op, 8192),
		done: make(chan struct{}),
	}
	if opt.CacheState && opt.Committers == 1 {
		l.cache = newStateCache(200_000)
	}
	return l
}

// Store returns the ledger's store.
func (l *Ledger) Store() store.Store { return l.store }

// Clock returns the ledger's clock.
func (l *Ledger) Clock() tollgate.Clock { return l.clock }

// Start starts the committer. It returns at once.
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
func (l *Ledger) submit(ctx context.Context, o *op) (any, error) {
	o.done = make(chan struct{})
	l.mu.RLock()
	if l.stopped || !l.started {
		l.mu.RUnlock()
		return nil, tollgate.Errorf(tollgate.CodeUnavailable, "the ledger is shutting down; retry shortly")
	}
	select {
	case l.ops <- o:
	case <-ctx.Done():
		l.mu.RUnlock()
		return nil, ctx.Err()
	}
	l.mu.RUnlock()
	<-o.done
	return o.res, o.err
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

// run applies a batch in one transaction. If the transaction itself fails
// (a constraint, a lost connection), each operation is retried alone so only
// the guilty one fails.
func (l *Ledger) run(batch []*op) {
	l.batches.Add(1)
	l.applied.Add(int64(len(batch)))
	t := time.Now()
	b, err := l.apply(batch)
	l.busy.Add(int64(time.Since(t)))
	if l.cache != nil {
		if err == nil {
			l.cache.store(b)
		} else { // what was committed is unknown: read afresh
			l.cache = newStateCache(l.cache.max)
		}
	}
	if err != nil && len(batch) > 1 {
		l.retried.Add(1)
		for _, o := range batch {
			l.run([]*op{o})
		}
		return
	}
	for _, o := range batch {
		if err != nil {
			o.res, o.err = nil, err
			if tollgate.ErrorCode(err) == tollgate.CodeInternal {
				l.log.Error("ledger transaction failed", "op", o.kind, "err", err)
			}
		} else {
			o.res, o.err = o.pendingRes, o.pendingErr
		}
		close(o.done)
	}
}

func (l *Ledger) apply(ops []*op) (*batch, error) {
	ctx := context.Background()
	var b *batch
	err := l.store.Write(ctx, func(tx store.Tx) error {
		for _, o := range ops {
			o.pendingRes, o.pendingErr = nil, nil
		}
		b = newBatch(l, tx, l.clock.Now())
		if err := b.load(ctx, ops); err != nil {
			return err
		}
		for _, o := range ops {
			if o.pendingErr != nil { // failed while loading, e.g. unknown hold
				continue
			}
			o.pendingRes, o.pendingErr = b.do(ctx, o)
		}
		b.flush()
		if b.w.Empty() {
			return nil
		}
		return tx.Apply(ctx, &b.w)
	})
	return b, err
}

// Stats counts the committer's work since the ledger started.
type Stats struct {
	Batches    int64         // transactions run by the committer
	Operations int64         // operations applied, retries included
	Retried    int64         // batches whose transaction failed and were retried op by op
	Busy       time.Duration // time spent in transactions, summed over committers
}

// Stats returns the committer's counters. It is safe for concurrent use.
func (l *Ledger) Stats() Stats {
	return Stats{Batches: l.batches.Load(), Operations: l.applied.Load(), Retried: l.retried.Load(), Busy: time.Duration(l.busy.Load())}
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
