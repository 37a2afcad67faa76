package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/jobs"
)

// receiver is a webhook endpoint that checks Standard Webhooks signatures
// itself, from the specification, and fails on demand.
type receiver struct {
	mu     sync.Mutex
	secret string
	fail   int // answer 500 this many more times
	got    []map[string]any
	bad    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(rc.secret, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	// Several signatures, space-separated, while a secret rotates: one
	// that matches is enough, as the specification says.
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || !slices.Contains(strings.Fields(sig), want) || id == "" {
		rc.bad = append(rc.bad, sig)
		w.WriteHeader(400)
		return
	}
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(500)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil || ev == nil {
		rc.bad = append(rc.bad, "body "+string(body)) // a test finding any fails
		w.WriteHeader(400)
		return
	}
	ev["webhook-id"] = id
	rc.got = append(rc.got, ev)
}

func TestWebhooksDeliverSignedWithRetries(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		rc := &receiver{fail: 4} // each event fails twice
		srv := httptest.NewServer(rc)
		defer srv.Close()
		var ep endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"` + srv.URL + `"}`}, http.StatusCreated, &ep)
		if !strings.HasPrefix(ep.Secret, "whsec_") {
			t.Fatalf("endpoint %+v: want a whsec_ secret", ep)
		}
		rc.secret = ep.Secret
		var list listView[endpointView]
		e.call(t, request{Method: "GET", Path: "/v1/webhook_endpoints", Key: adminKey}, http.StatusOK, &list)
		if len(list.Data) != 1 || list.Data[0].Secret != "" {
			t.Fatalf("list %+v: want the endpoint without its secret", list.Data)
		}

		// A purchase and a scheduled plan change each make an event.
		e.createAccount(t, "h", "free", "UTC")
		var co checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: adminKey, Body: `{"account_id":"h","pack_id":"pack_10"}`}, http.StatusCreated, &co)
		if status, _ := e.page(t, "POST", co.CheckoutURL); status != 200 {
			t.Fatal("confirm failed")
		}
		later := testStart.Add(20 * 24 * time.Hour).Format(time.RFC3339)
		e.call(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey, Body: `{"daily_allowances":{"video":"10"},"effective_at":"` + later + `"}`}, http.StatusCreated, nil)

		// The worker that sends them may be another process: build one on
		// the same database, as after a restart.
		w := &jobs.Webhooks{Records: e.l, Clock: e.clock, AllowPrivate: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if n, err := w.RunOnce(e.ctx); err != nil || n != 0 {
			t.Fatalf("first round: %d sent, %v; want 0 (the endpoint fails)", n, err)
		}
		if n, _ := w.RunOnce(e.ctx); n != 0 {
			t.Fatalf("a retry before its backoff was sent")
		}
		e.clock.Advance(5 * time.Second) // the first backoff
		if n, _ := w.RunOnce(e.ctx); n != 0 {
			t.Fatalf("second round: %d sent, want 0 (the endpoint fails again)", n)
		}
		e.clock.Advance(30 * time.Second)
		if n, err := w.RunOnce(e.ctx); err != nil || n != 2 {
			t.Fatalf("third round: %d sent, %v; want both events", n, err)
		}
		if n, _ := w.RunOnce(e.ctx); n != 0 {
			t.Fatalf("a delivered event was sent again")
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) != 0 || len(rc.got) != 2 {
			t.Fatalf("received %d good and %d badly signed, want 2 and 0", len(rc.got), len(rc.bad))
		}
		types := map[string]map[string]any{}
		for _, ev := range rc.got {
			types[ev["type"].(string)] = ev["data"].(map[string]any)
		}
		if d := types[tollgate.EventOrderCompleted]; d == nil || d["order_id"] != co.Order.ID || d["credits"] != "10" {
			t.Fatalf("order.completed %v", d)
		}
		if d := types[tollgate.EventPlanChangeScheduled]; d == nil || d["plan"] != "free" || d["version"] != float64(2) {
			t.Fatalf("plan.change_scheduled %v", d)
		}
	})
}

func TestWebhookEndpointBadInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		key := e.createKey(t, "a")
		for _, tc := range []struct {
			name, key, body string
			status          int
			code            tollgate.Code
		}{
			{"account key, the operator's events", key, `{"url":"https://example.test/hook","events":["ledger.verify_failed"]}`, 422, tollgate.CodeInvalidField},
			{"no url", adminKey, `{}`, 422, tollgate.CodeInvalidField},
			{"relative url", adminKey, `{"url":"/hook"}`, 422, tollgate.CodeInvalidField},
			{"ftp", adminKey, `{"url":"ftp://example.test/"}`, 422, tollgate.CodeInvalidField},
			{"unknown event", adminKey, `{"url":"https://example.test/hook","events":["credits.stolen"]}`, 422, tollgate.CodeInvalidField},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: tc.key, Body: tc.body}), tc.status, tc.code)
				e.unchanged(t, before)
			})
		}
	})
}

func TestWebhooksCreditsLowAndExpiring(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		rc := &receiver{}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		var ep endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey,
			Body: `{"url":"` + srv.URL + `","events":["credits.low","credits.expiring"]}`}, http.StatusCreated, &ep)
		rc.secret = ep.Secret
		e.call(t, request{Method: "POST", Path: "/v1/accounts", Key: adminKey,
			Body: `{"id":"low","name":"Low","plan":"free","low_balance_threshold":"5"}`}, http.StatusCreated, nil)
		e.grant(t, "low", `{"credits":"8"}`)
		e.grant(t, "low", `{"credits":"1","valid_for_days":5,"products":["assistant"]}`)
		// 30 from today's allowance plus 3 of the 8: 5 + 1 left, above 5.
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"low","product":"video","credits":"33"}`}, http.StatusCreated, nil)
		// Crossing below 5 fires once; staying below does not fire again.
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"low","product":"video","credits":"2"}`}, http.StatusCreated, nil)
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"low","product":"video","credits":"1"}`}, http.StatusCreated, nil)
		if _, err := e.l.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.l.Sweep(e.ctx); err != nil { // a second sweep sends no second notice
			t.Fatal(err)
		}
		w := &jobs.Webhooks{Records: e.l, Clock: e.clock, AllowPrivate: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if n, err := w.RunOnce(e.ctx); err != nil || n != 2 {
			t.Fatalf("delivered %d, %v; want credits.low and credits.expiring", n, err)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		byType := map[string]map[string]any{}
		for _, ev := range rc.got {
			byType[ev["type"].(string)] = ev["data"].(map[string]any)
		}
		if d := byType[tollgate.EventCreditsLow]; d == nil || d["available"] != "4" || d["threshold"] != "5" {
			t.Fatalf("credits.low %v, want 4 available under 5", d)
		}
		if d := byType[tollgate.EventCreditsExpiring]; d == nil || d["remaining"] != "1" {
			t.Fatalf("credits.expiring %v, want the 5-day grant's 1 credit", d)
		}
		rc.mu.Unlock()
		// Cycling across the threshold sends at most one an hour.
		cross := func() {
			e.grant(t, "low", `{"credits":"2"}`)
			e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"low","product":"video","credits":"2"}`}, http.StatusCreated, nil)
		}
		lows := func() int {
			if _, err := w.RunOnce(e.ctx); err != nil {
				t.Fatal(err)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			n := 0
			for _, ev := range rc.got {
				if ev["type"] == tollgate.EventCreditsLow {
					n++
				}
			}
			return n
		}
		for range 5 {
			cross()
		}
		if n := lows(); n != 1 {
			t.Fatalf("crossing the threshold 5 more times within the hour: %d credits.low in all, want 1", n)
		}
		e.clock.Advance(61 * time.Minute)
		cross()
		cross()
		if n := lows(); n != 2 {
			t.Fatalf("crossing it twice an hour later: %d credits.low in all, want 2", n)
		}
		rc.mu.Lock()
	})
}

// TestWebhookEndpointPrivateAddress: an endpoint at a loopback, private or
// link-local address is refused unless private addresses are allowed.
func TestWebhookEndpointPrivateAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	e.api.AllowPrivateWebhooks = false
	for _, u := range []string{"http://127.0.0.1:9/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x", "http://user:pw@example.com/x"} {
		r := e.do(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"` + u + `"}`})
		problemOf(t, r, http.StatusUnprocessableEntity, tollgate.CodeInvalidField)
	}
	e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"https://hooks.example.com/tollgate"}`}, http.StatusCreated, nil)
}

// TestWebhookEndpointManagement: an endpoint is disabled (sent nothing,
// queues nothing) and enabled, what it missed is sent again, its secret is
// rotated with both secrets signing during the overlap, and it is deleted.
func TestWebhookEndpointManagement(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		rc := &receiver{}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		var ep endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"` + srv.URL + `","events":["credits.low"]}`}, http.StatusCreated, &ep)
		rc.secret = ep.Secret
		w := &jobs.Webhooks{Records: e.l, Clock: e.clock, AllowPrivate: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		e.call(t, request{Method: "POST", Path: "/v1/accounts", Key: adminKey,
			Body: `{"id":"m","name":"M","plan":"free","low_balance_threshold":"5"}`}, http.StatusCreated, nil)
		low := func() { // crosses the threshold: one credits.low (an hour apart)
			e.clock.Advance(61 * time.Minute)
			e.grant(t, "m", `{"credits":"6"}`)
			e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"m","product":"assistant","credits":"2"}`}, http.StatusCreated, nil)
			e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"m","product":"assistant","credits":"4"}`}, http.StatusCreated, nil)
		}
		got := func() int {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			return len(rc.got)
		}
		var upd endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID, Key: adminKey, Body: `{"disabled":true}`}, http.StatusOK, &upd)
		if !upd.Disabled || upd.Secret != "" {
			t.Fatalf("disabled: %+v", upd)
		}
		before := e.clock.Now()
		low()
		if n, err := w.RunOnce(e.ctx); err != nil || n != 0 || got() != 0 {
			t.Fatalf("while disabled: %d sent, %d received, %v; want none", n, got(), err)
		}
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID, Key: adminKey, Body: `{"disabled":false}`}, http.StatusOK, nil)
		var rs resendView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID + "/resend", Key: adminKey,
			Body: `{"since":"` + before.Format(time.RFC3339Nano) + `"}`}, http.StatusOK, &rs)
		if rs.Queued != 1 {
			t.Fatalf("resend since the pause: queued %d, want the 1 event missed", rs.Queued)
		}
		if n, _ := w.RunOnce(e.ctx); n != 1 || got() != 1 {
			t.Fatalf("after resending: %d sent, %d received; want 1", n, got())
		}
		// Rotation: both secrets sign for the overlap (2 hours here), then
		// the new one alone. The receiver stays on the old secret.
		var rot endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID + "/rotate_secret", Key: adminKey, Body: `{"overlap_seconds":7200}`}, http.StatusOK, &rot)
		if rot.Secret == "" || rot.Secret == ep.Secret || rot.OldSecretUntil == nil {
			t.Fatalf("rotated: %+v; want a new secret and the old one's end", rot)
		}
		low() // 61 minutes on: within the overlap
		if n, _ := w.RunOnce(e.ctx); n != 1 {
			t.Fatalf("within the overlap, a receiver on the old secret verified %d of 1 deliveries", n)
		}
		low() // 122 minutes on: past it
		if n, _ := w.RunOnce(e.ctx); n != 0 {
			t.Fatalf("after the overlap, the old secret still verified %d deliveries", n)
		}
		rc.mu.Lock()
		rc.secret = rot.Secret // the receiver switches
		evID := rc.got[0]["webhook-id"].(string)
		rc.mu.Unlock()
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID + "/resend", Key: adminKey, Body: `{"event_id":"` + evID + `"}`}, http.StatusOK, nil)
		e.clock.Advance(10 * time.Minute) // past the failed delivery's backoff
		if n, _ := w.RunOnce(e.ctx); n != 2 {
			t.Fatalf("with the new secret: %d sent, want the event sent again and the one refused before", n)
		}
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID + "/resend", Key: adminKey, Body: `{"event_id":"evt_nope"}`}, http.StatusNotFound, nil)
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID + "/resend", Key: adminKey, Body: `{}`}, http.StatusUnprocessableEntity, nil)
		e.call(t, request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + ep.ID, Key: adminKey}, http.StatusOK, nil)
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints/" + ep.ID, Key: adminKey, Body: `{"disabled":true}`}, http.StatusNotFound, nil)
		var list listView[endpointView]
		e.call(t, request{Method: "GET", Path: "/v1/webhook_endpoints", Key: adminKey}, http.StatusOK, &list)
		if len(list.Data) != 0 {
			t.Fatalf("after delete: %d endpoints listed", len(list.Data))
		}
	})
}

// TestAccountWebhookEndpoints: an account key registers endpoints for its
// own account's events; it sees and changes only those, and may have a
// bounded number.
func TestAccountWebhookEndpoints(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		e.createAccount(t, "b", "free", "UTC")
		ka, kb := e.createKey(t, "a"), e.createKey(t, "b")
		var ep endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: ka, Body: `{"url":"https://example.test/a"}`}, 201, &ep)
		if ep.AccountID != "a" || len(ep.Events) != len(tollgate.AccountEventTypes) {
			t.Fatalf("got %+v, want a's endpoint taking the account's event types", ep)
		}
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"https://example.test/ops"}`}, 201, nil)
		var list listView[endpointView]
		e.call(t, request{Method: "GET", Path: "/v1/webhook_endpoints", Key: kb}, 200, &list)
		if len(list.Data) != 0 {
			t.Errorf("b lists %d endpoints, want none", len(list.Data))
		}
		e.call(t, request{Method: "GET", Path: "/v1/webhook_endpoints", Key: ka}, 200, &list)
		if len(list.Data) != 1 || list.Data[0].ID != ep.ID {
			t.Errorf("a lists %+v, want its own endpoint only", list.Data)
		}
		e.call(t, request{Method: "GET", Path: "/v1/webhook_endpoints", Key: adminKey}, 200, &list)
		if len(list.Data) != 2 {
			t.Errorf("the admin lists %d endpoints, want 2", len(list.Data))
		}
		for _, path := range []string{"/v1/webhook_endpoints/" + ep.ID, "/v1/webhook_endpoints/" + ep.ID + "/rotate_secret"} {
			problemOf(t, e.do(t, request{Method: "POST", Path: path, Key: kb, Body: `{}`}), 404, tollgate.CodeNotFound)
		}
		problemOf(t, e.do(t, request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + ep.ID, Key: kb}), 404, tollgate.CodeNotFound)
		for i := 1; i < MaxAccountEndpoints; i++ {
			e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: ka, Body: `{"url":"https://example.test/a"}`}, 201, nil)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: ka, Body: `{"url":"https://example.test/a"}`}), 409, tollgate.CodeConflict)
		e.call(t, request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + ep.ID, Key: ka}, 200, nil)
	})
}
