package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate"
)

func (e *env) createKeyWith(tb testing.TB, id, body string) keyView {
	tb.Helper()
	var k keyView
	e.call(tb, request{Method: "POST", Path: "/v1/accounts/" + id + "/keys", Key: adminKey, Body: body}, http.StatusCreated, &k)
	if k.Key == nil {
		tb.Fatal("a new key came without its secret")
	}
	return k
}

// TestKeyScopes: a read-only key reads and writes nothing; a write-only key
// reads nothing; a key for some products holds, uses, quotes and settles
// only those; an expired key is refused, also from the key cache; the list
// shows each key's restrictions.
func TestKeyScopes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "ks", "free", "UTC")
		e.grant(t, "ks", `{"credits":"100"}`)
		ro := *e.createKeyWith(t, "ks", `{"name":"dashboard","scopes":["read"]}`).Key
		wo := *e.createKeyWith(t, "ks", `{"scopes":["write"]}`).Key
		video := e.createKeyWith(t, "ks", `{"products":["video"]}`)
		exp := e.createKeyWith(t, "ks", `{"expires_at":"`+e.clock.Now().Add(time.Hour).Format(time.RFC3339)+`","limits":{"max_pending_holds":7}}`)
		before := e.balanceJSON(t, "ks")

		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: ro}, http.StatusOK, nil)
		for _, p := range []string{"/v1/holds", "/v1/usage"} {
			e.call(t, request{Method: "POST", Path: p, Key: ro, Body: `{"product":"video","credits":"1"}`}, http.StatusForbidden, nil)
		}
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: wo}, http.StatusForbidden, nil)
		if e.balanceJSON(t, "ks") != before {
			t.Fatal("a refused key changed the balance")
		}
		h := e.hold(t, wo, `{"product":"video","credits":"1"}`)
		e.call(t, request{Method: "POST", Path: "/v1/holds/" + h.ID + "/release", Key: ro}, http.StatusForbidden, nil)

		e.hold(t, *video.Key, `{"product":"video","credits":"1"}`)
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: *video.Key, Body: `{"product":"assistant","credits":"1"}`}, http.StatusForbidden, nil)
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: *video.Key, Body: `{"product":"stitch","credits":"1"}`}, http.StatusForbidden, nil)
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: *video.Key, Body: `{"product":"assistant","input_tokens":1000,"output_tokens":1000}`}, http.StatusForbidden, nil)
		other := e.hold(t, adminKey, `{"account_id":"ks","product":"assistant","credits":"1"}`)
		e.call(t, request{Method: "POST", Path: "/v1/holds/" + other.ID + "/capture", Key: *video.Key}, http.StatusForbidden, nil)
		e.call(t, request{Method: "POST", Path: "/v1/holds/" + other.ID + "/release", Key: *video.Key}, http.StatusForbidden, nil)
		var still holdView
		e.call(t, request{Method: "GET", Path: "/v1/holds/" + other.ID, Key: *video.Key}, http.StatusOK, &still)
		if still.Status != "pending" {
			t.Fatalf("a refused settle moved the hold to %s", still.Status)
		}

		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: *exp.Key}, http.StatusOK, nil) // now in the key cache
		e.clock.Advance(time.Hour)
		r := e.call(t, request{Method: "GET", Path: "/v1/balance", Key: *exp.Key}, http.StatusUnauthorized, nil)
		if !strings.Contains(string(r.Body), "expired") {
			t.Fatalf("expired key: %s", r.Body)
		}

		var list listView[keyView]
		e.call(t, request{Method: "GET", Path: "/v1/accounts/ks/keys", Key: adminKey}, http.StatusOK, &list)
		got := map[string]keyView{}
		for _, k := range list.Data {
			got[k.ID] = k
		}
		if k := got[video.ID]; len(k.Products) != 1 || k.Products[0] != tollgate.ProductVideo || len(k.Scopes) != 2 {
			t.Fatalf("the video key lists as %+v", k)
		}
		if k := got[exp.ID]; k.ExpiresAt == nil || k.Limits.MaxPendingHolds == nil || *k.Limits.MaxPendingHolds != 7 ||
			k.Limits.RequestsPerSecond != nil || k.Products != nil {
			t.Fatalf("the expiring key lists as %+v", k)
		}
		e.call(t, request{Method: "POST", Path: "/v1/accounts", Key: ro, Body: `{"id":"x","name":"x"}`}, http.StatusForbidden, nil)
	})
}

// TestRateLimit: a key's plan sets its rate, the key can lower it; a key
// over it gets 429 with Retry-After and Retry-After-Ms, other keys and the
// admin key do not; waiting as told is enough.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		var v planVersionView
		e.call(t, request{Method: "POST", Path: "/v1/plans/slow/versions", Key: adminKey,
			Body: `{"daily_allowances":{"video":"30"},"limits":{"requests_per_second":2}}`}, http.StatusCreated, &v)
		if v.Limits.RequestsPerSecond != 2 || v.Limits.ConcurrentRequests != tollgate.DefaultLimits.ConcurrentRequests {
			t.Fatalf("plan limits %+v", v.Limits)
		}
		e.createAccount(t, "rl", "slow", "UTC")
		k1, k2 := e.createKey(t, "rl"), e.createKey(t, "rl")
		one := *e.createKeyWith(t, "rl", `{"limits":{"requests_per_second":1}}`).Key
		get := func(key string) response {
			return e.do(t, request{Method: "GET", Path: "/v1/balance", Key: key})
		}
		for i := range 2 {
			r := get(k1)
			if r.Status != 200 {
				t.Fatalf("request %d of a burst of 2: %s", i+1, r)
			}
			// OpenAI's headers: the limit, what is left of the burst, and when it is whole.
			if r.Header.Get("X-Ratelimit-Limit-Requests") != "2" || r.Header.Get("X-Ratelimit-Remaining-Requests") != strconv.Itoa(1-i) ||
				r.Header.Get("X-Ratelimit-Reset-Requests") == "" {
				t.Errorf("request %d: x-ratelimit headers %v", i+1, r.Header)
			}
		}
		r := get(k1)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("the 3rd at once: %s", r)
		}
		ms, err := strconv.Atoi(r.Header.Get("Retry-After-Ms"))
		if err != nil || ms <= 0 || ms > 500 || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, Retry-After-Ms %q; want 1 and at most half a second",
				r.Header.Get("Retry-After"), r.Header.Get("Retry-After-Ms"))
		}
		if get(k2).Status != 200 {
			t.Fatal("another key of the account was limited")
		}
		if get(one).Status != 200 || get(one).Status != http.StatusTooManyRequests {
			t.Fatal("a key's own lower limit (1 a second) was not applied")
		}
		for range 50 {
			if r := e.do(t, request{Method: "GET", Path: "/v1/accounts/rl/balance", Key: adminKey}); r.Status != 200 {
				t.Fatalf("the admin key was limited: %s", r)
			}
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		if r := get(k1); r.Status != 200 {
			t.Fatalf("after waiting Retry-After-Ms: %s", r)
		}
	})
}

// TestConcurrencyLimit: a key with as many requests in flight as its limit
// is refused another until one ends; the slots are held for the whole
// request and given back however it ends.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "cl", "free", "UTC")
		e.grant(t, "cl", `{"credits":"10"}`)
		k := e.createKeyWith(t, "cl", `{"limits":{"concurrent_requests":2}}`)
		key := *k.Key
		lim := tollgate.Limits{RequestsPerSecond: 1000, ConcurrentRequests: 2}
		// One request of the key in flight (held here as a request would).
		if _, _, err := e.api.limits.acquire(k.ID, lim, time.Now()); err != nil {
			t.Fatal(err)
		}
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: key}, http.StatusOK, nil) // the second: within the limit
		if _, _, err := e.api.limits.acquire(k.ID, lim, time.Now()); err != nil {
			t.Fatal(err)
		}
		r := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"1"}`}, http.StatusTooManyRequests, nil)
		if r.Header.Get("Retry-After-Ms") != "100" || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("a third in flight: Retry-After %q, Retry-After-Ms %q", r.Header.Get("Retry-After"), r.Header.Get("Retry-After-Ms"))
		}
		if b := e.balance(t, "cl"); b.Held != cr("0") {
			t.Fatalf("the refused hold held %s", b.Held)
		}
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: e.createKey(t, "cl")}, http.StatusOK, nil) // another key
		e.api.limits.release(k.ID)
		e.hold(t, key, `{"product":"video","credits":"1"}`)
		// Refused and failed requests give their slot back too.
		for range 3 {
			e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"1000"}`}, http.StatusPaymentRequired, nil)
			e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{`}, http.StatusBadRequest, nil)
		}
		e.api.limits.release(k.ID)
		e.api.limits.mu.Lock()
		n := e.api.limits.keys[k.ID].inflight
		e.api.limits.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d requests still counted in flight", n)
		}
	})
}

// TestPendingHoldCapHTTP: the plan's cap answers 409 too_many_pending_holds
// and a key's own lower cap applies to that key only.
func TestPendingHoldCapHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.call(t, request{Method: "POST", Path: "/v1/plans/few/versions", Key: adminKey,
			Body: `{"daily_allowances":{},"limits":{"max_pending_holds":3}}`}, http.StatusCreated, nil)
		e.createAccount(t, "ph", "few", "UTC")
		e.grant(t, "ph", `{"credits":"100"}`)
		one := *e.createKeyWith(t, "ph", `{"limits":{"max_pending_holds":1}}`).Key
		plain := e.createKey(t, "ph")
		e.hold(t, one, `{"product":"video","credits":"1"}`)
		r := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: one, Body: `{"product":"video","credits":"1"}`}, http.StatusConflict, nil)
		if !strings.Contains(string(r.Body), `"code":"too_many_pending_holds"`) {
			t.Fatalf("over the key's cap: %s", r.Body)
		}
		e.hold(t, plain, `{"product":"video","credits":"1"}`)
		e.hold(t, plain, `{"product":"video","credits":"1"}`)
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: plain, Body: `{"product":"video","credits":"1"}`}, http.StatusConflict, nil)
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: `{"account_id":"ph","product":"video","credits":"1"}`}, http.StatusConflict, nil)
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: plain, Body: `{"product":"video","credits":"1"}`}, http.StatusCreated, nil)
	})
}
