package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tollgate"
	"tollgate/ledger"
)

// limiter holds each account key's request rate and requests in flight on
// this instance. Rates are a generic cell rate algorithm: a key may send
// one request per interval on average, and a burst of as many as its
// per-second rate.
type limiter struct {
	mu     sync.Mutex
	keys   map[string]*keyUse
	pruned time.Time
}

type keyUse struct {
	tat      time.Time // theoretical arrival time of the next request
	inflight int
	last     time.Time
}

// ConcurrencyRetry is what a request refused for too many in flight is told
// to wait: requests usually end within it.
const ConcurrencyRetry = 100 * time.Millisecond

// acquire admits one request of key under lim at now, or returns a
// rate_limited error saying how long to wait. An admitted request must call
// release when it ends. It reports how many more requests the key may send
// at once, and how long until its burst is whole again.
func (l *limiter) acquire(key string, lim tollgate.Limits, now time.Time) (int, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*keyUse{}
	}
	if now.Sub(l.pruned) > time.Minute {
		for k, u := range l.keys {
			if u.inflight == 0 && now.Sub(u.last) > time.Minute && !u.tat.After(now) {
				delete(l.keys, k)
			}
		}
		l.pruned = now
	}
	u := l.keys[key]
	if u == nil {
		u = &keyUse{}
		l.keys[key] = u
	}
	u.last = now
	if u.inflight >= lim.ConcurrentRequests {
		return 0, ConcurrencyRetry, &tollgate.Error{Code: tollgate.CodeRateLimited, RetryAfter: ConcurrencyRetry,
			Message: "this key has " + strconv.Itoa(u.inflight) + " requests in flight, its limit; wait for one to end"}
	}
	interval := time.Second / time.Duration(lim.RequestsPerSecond)
	tolerance := interval * time.Duration(lim.RequestsPerSecond-1)
	tat := u.tat
	if tat.Before(now) {
		tat = now
	}
	if wait := tat.Sub(now) - tolerance; wait > 0 {
		return 0, tat.Sub(now), &tollgate.Error{Code: tollgate.CodeRateLimited, RetryAfter: wait,
			Message: "this key sent more than " + strconv.Itoa(lim.RequestsPerSecond) + " requests a second, its limit; retry after the time in Retry-After"}
	}
	u.tat = tat.Add(interval)
	u.inflight++
	left := 0 // whole intervals of slack left in the burst, rounded down
	if slack := now.Add(tolerance).Sub(u.tat); slack >= 0 {
		left = int(slack/interval) + 1
	}
	return left, u.tat.Sub(now), nil
}

// rateHeaders tells a key its limit as OpenAI's API does: the requests a
// second it may send, how many it may send now, and when its burst is
// whole again.
func rateHeaders(h http.Header, lim tollgate.Limits, remaining int, reset time.Duration) {
	h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(lim.RequestsPerSecond))
	h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(max(remaining, 0)))
	h.Set("X-Ratelimit-Reset-Requests", reset.Round(time.Millisecond).String())
}

func (l *limiter) release(key string) {
	l.mu.Lock()
	if u := l.keys[key]; u != nil {
		u.inflight--
	}
	l.mu.Unlock()
}

// keyLimits are the limits of an account key: its plan's in force now (or
// the defaults), lowered by the key's own.
func (s *Server) keyLimits(vs []tollgate.PlanVersion, k tollgate.APIKey, plan string) tollgate.Limits {
	lim := tollgate.DefaultLimits
	if v := ledger.PlanAt(vs, plan, s.l.Clock().Now()); v != nil {
		lim = v.Limits.Or(tollgate.DefaultLimits)
	}
	return lim.Min(k.Limits)
}

// planVersions returns the plan versions, read again at most every
// planCacheTTL.
func (s *Server) planVersions(ctx context.Context) []tollgate.PlanVersion {
	s.plans.mu.Lock()
	defer s.plans.mu.Unlock()
	if time.Since(s.plans.at) > planCacheTTL {
		if vs, err := s.l.Plans(ctx); err == nil {
			s.plans.vs, s.plans.at = vs, time.Now()
		}
	}
	return s.plans.vs
}
