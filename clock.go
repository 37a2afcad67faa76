package tollgate

import (
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"sync"
	"time"
)

// Clock tells the time. The ledger reads it once per transaction; tests inject
// clocktest.Clock so allowance resets, expiries and hold timeouts need no sleep.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// SystemClock is the real clock, in UTC truncated to microseconds (the
// precision both stores keep).
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

var locCache sync.Map

// LoadLocation loads an IANA time zone, caching it; an unknown name gives UTC.
func LoadLocation(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	if l, ok := locCache.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	locCache.Store(name, l)
	return l
}

// NextMidnight returns the first local midnight strictly after t in loc.
func NextMidnight(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).UTC()
}

// LocalDate returns t's calendar date in loc as "2006-01-02".
func LocalDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02")
}
