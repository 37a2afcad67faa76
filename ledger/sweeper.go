package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"tollgate"
	"tollgate/startstop"
	"tollgate/store"
)

// Sweeper applies due grant expiries and hold timeouts in the background,
// and forgets idempotency keys past their time. Reads and writes apply the
// same rules on their own, so a late sweep never makes a balance wrong; it
// only moves the journal forward. Start and Stop are safe to call twice.
type Sweeper struct {
	l        *Ledger
	interval time.Duration
	loop     startstop.Loop
}

// NewSweeper returns a sweeper that runs every interval (default 5s).
func NewSweeper(l *Ledger, interval time.Duration) *Sweeper {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &Sweeper{l: l, interval: interval}
}

// Start begins sweeping, at once and then every interval, until Stop or
// until ctx ends. It always returns nil.
func (s *Sweeper) Start(ctx context.Context) error {
	s.loop.Start(ctx, func(ctx context.Context) {
		startstop.Every(ctx, s.interval, true, func(ctx context.Context) {
			if _, err := s.l.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.l.log.Warn("sweep failed; retrying at the next tick", "err", err)
			}
		})
	})
	return nil
}

// Stop stops sweeping and waits for a sweep in progress.
func (s *Sweeper) Stop() { s.loop.Stop() }

// Sweep settles every account with a due expiry or hold timeout, and purges
// old idempotency keys. It returns how many accounts it settled.
func (l *Ledger) Sweep(ctx context.Context) (int, error) {
	const page = 500
	n := 0
	for pages := 0; pages < 1000; pages++ { // bounded: each page settles what it finds
		now := l.clock.Now()
		var ids []string
		err := l.store.Read(ctx, func(tx store.Tx) error {
			g, err := tx.GrantsDue(ctx, now, page)
			if err != nil {
				return err
			}
			h, err := tx.HoldsDue(ctx, now, page)
			if err != nil {
				return err
			}
			ids = append(g, h...)
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("sweep: %w", err)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) == 0 {
			break
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		for i, id := range ids {
			wg.Add(1)
			go func() { // concurrent, so they share batches
				defer wg.Done()
				errs[i] = l.SweepAccount(ctx, id)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return n, fmt.Errorf("sweep: %w", err)
		}
		n += len(ids)
		if len(ids) < page {
			break
		}
	}
	if err := l.noticeExpiring(ctx); err != nil {
		return n, fmt.Errorf("sweep: %w", err)
	}
	cutoff := l.clock.Now().Add(-l.opt.IdempotencyTTL)
	err := l.store.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.IdempotencyPurge(ctx, cutoff); err != nil {
			return err
		}
		// Batch ids carry the wall clock's time, not the ledger's.
		_, err := tx.BatchPurge(ctx, time.Now().Add(-l.opt.IdempotencyTTL))
		return err
	})
	if err != nil {
		return n, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

// ExpiringNotice is how long before a grant expires its credits.expiring
// event is sent.
const ExpiringNotice = 7 * 24 * time.Hour

// noticeExpiring enqueues one credits.expiring event for each grant with
// credits left that expires within ExpiringNotice.
func (l *Ledger) noticeExpiring(ctx context.Context) error {
	now := l.clock.Now()
	var gs []tollgate.Grant
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		gs, err = tx.GrantsExpiringUnnoticed(ctx, now, now.Add(ExpiringNotice), 500)
		return err
	})
	if err != nil || len(gs) == 0 {
		return err
	}
	for _, g := range gs {
		ev, err := tollgate.NewEvent(tollgate.EventCreditsExpiring, g.AccountID, now, map[string]any{
			"account_id": g.AccountID, "grant_id": g.ID, "source": g.Source, "remaining": g.Remaining, "expires_at": g.ExpiresAt})
		if err != nil {
			return err
		}
		ev.ID = store.ExpiringEventID(g.ID)
		err = l.store.Write(ctx, func(tx store.Tx) error { return tx.EventEnqueue(ctx, ev) })
		if err != nil && !errors.Is(err, tollgate.ErrConflict) { // conflict: another instance sent it
			return err
		}
	}
	return nil
}
