// Package startstop runs the background loops of Tollgate's services (the
// sweeper, webhook delivery, payment reconciliation) the same way: Start
// launches a loop with a context that ends when its caller's does or Stop
// is called, and Stop waits until the loop has returned. Start and Stop
// are safe to call twice and from several goroutines.
package startstop

import (
	"context"
	"sync"
	"time"
)

// Loop is one background loop. The zero value is stopped and ready.
type Loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs run in a goroutine of its own, with a context that ends when
// ctx ends or Stop is called. It reports false, starting nothing, if the
// loop is running already.
func (l *Loop) Start(ctx context.Context, run func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.cancel, l.done = cancel, done
	go func() {
		defer close(done)
		run(ctx)
	}()
	return true
}

// Stop ends the loop's context and waits for run to return. A stopped
// loop can be started again.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	l.mu.Lock()
	if l.done == done {
		l.cancel, l.done = nil, nil
	}
	l.mu.Unlock()
}

// Running reports whether the loop has been started and not stopped.
func (l *Loop) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cancel != nil
}

// Every calls fn every interval until ctx ends: at once first when now is
// true, else after the first interval. A call in progress when ctx ends is
// waited for.
func Every(ctx context.Context, interval time.Duration, now bool, fn func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if now {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}
