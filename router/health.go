package router

import (
	"time"

	"tollgate/pricing"
)

// Circuit breaker defaults: after DefaultBreakerFailures failures in a
// row a provider is left out for DefaultBreakerOpen; then jobs may try it
// again (half open), and a success closes the breaker.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpen     = 30 * time.Second
)

func (r *Router) breakerLimits() (int, time.Duration) {
	n, d := r.BreakerFailures, r.BreakerOpen
	if n <= 0 {
		n = DefaultBreakerFailures
	}
	if d <= 0 {
		d = DefaultBreakerOpen
	}
	return n, d
}

type breaker struct {
	failures  int
	openUntil time.Time
}

// Healthy reports whether provider's circuit is closed: it may be given
// a job now.
func (r *Router) Healthy(provider string) bool { return r.healthy(provider) }

// healthy reports whether provider may be given a job now.
func (r *Router) healthy(provider string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.breakers[provider]
	n, _ := r.breakerLimits()
	return b == nil || b.failures < n || !r.Clock.Now().Before(b.openUntil)
}

// Succeeded records that provider answered as it should.
func (r *Router) Succeeded(provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.breakers, provider)
}

// Failed records a failure of provider's own (a 5xx, a timeout; not a
// refusal or a bad request), opening its breaker after several in a row.
func (r *Router) Failed(provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.breakers == nil {
		r.breakers = map[string]*breaker{}
	}
	b := r.breakers[provider]
	if b == nil {
		b = &breaker{}
		r.breakers[provider] = b
	}
	b.failures++
	if n, d := r.breakerLimits(); b.failures >= n {
		b.openUntil = r.Clock.Now().Add(d)
	}
}

// Observed records how long provider took to make a clip of model, moving
// its estimate a fifth of the way to it.
func (r *Router) Observed(provider, model string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.speed == nil {
		r.speed = map[string]time.Duration{}
	}
	k := provider + "/" + model
	if old, ok := r.speed[k]; ok {
		r.speed[k] = old + (took-old)/5
	} else {
		r.speed[k] = took
	}
}

// expected is the estimate for o: observed, else the catalog's.
func (r *Router) expected(o pricing.Offer) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.speed[o.Provider+"/"+o.UpstreamModel]; ok {
		return d
	}
	return time.Duration(o.ExpectedSeconds) * time.Second
}
