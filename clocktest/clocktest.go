// Package clocktest gives tests a tollgate.Clock that moves only when told,
// so allowance resets, expiries and hold timeouts need no sleep.
package clocktest

import (
	"sync"
	"time"

	"tollgate"
)

// Clock is a tollgate.Clock that moves only when told. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

var _ tollgate.Clock = (*Clock)(nil)

// New returns a clock stopped at t, in UTC to the microsecond (the
// precision both stores keep).
func New(t time.Time) *Clock {
	return &Clock{t: t.UTC().Truncate(time.Microsecond)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d).Truncate(time.Microsecond)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t.UTC().Truncate(time.Microsecond)
	c.mu.Unlock()
}
