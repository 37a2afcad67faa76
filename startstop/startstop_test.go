package startstop

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoop: Start runs once however often it is called, Stop waits for the
// loop and is safe to call twice and at once, the caller's context ends
// the loop too, and a stopped loop starts again.
func TestLoop(t *testing.T) {
	t.Parallel()
	var l Loop
	var runs, running atomic.Int64
	run := func(ctx context.Context) {
		runs.Add(1)
		running.Add(1)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // Stop must wait for this
		running.Add(-1)
	}
	if !l.Start(context.Background(), run) || l.Start(context.Background(), run) {
		t.Fatal("Start: want true, then false while running")
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Stop() }()
	}
	wg.Wait()
	l.Stop()
	if got := running.Load(); got != 0 {
		t.Fatalf("after Stop, %d loops still running; want 0", got)
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("got %d runs, want 1", got)
	}
	if l.Running() {
		t.Fatal("Running after Stop: got true, want false")
	}

	ctx, cancel := context.WithCancel(context.Background())
	if !l.Start(ctx, run) {
		t.Fatal("a stopped loop did not start again")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if running.Load() != 0 {
		t.Fatal("the caller's context ended but the loop kept running")
	}
	l.Stop()
	if got := runs.Load(); got != 2 {
		t.Fatalf("got %d runs, want 2", got)
	}
}

// TestEvery calls at once when asked, else only after the first tick, and
// stops with its context.
func TestEvery(t *testing.T) {
	t.Parallel()
	for _, now := range []bool{true, false} {
		// With now, the interval is an hour: the only call that can come
		// is the first, at once.
		interval := time.Hour
		if !now {
			interval = 20 * time.Millisecond
		}
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		first := make(chan time.Duration, 1)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			Every(ctx, interval, now, func(context.Context) {
				if calls.Add(1) == 1 {
					first <- time.Since(start)
				}
			})
		}()
		select {
		case d := <-first:
			if !now && d < interval {
				t.Errorf("now=false: first call after %v, want after the first tick (%v)", d, interval)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("now=%v: no call in 10 s", now)
		}
		cancel()
		<-done
		n := calls.Load()
		time.Sleep(60 * time.Millisecond)
		if calls.Load() != n {
			t.Errorf("now=%v: calls went on after the context ended", now)
		}
	}
}
