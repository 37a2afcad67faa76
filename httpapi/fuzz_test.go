package httpapi

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"tollgate"
)

// fuzzEnvs returns an env per store for a fuzz target: SQLite, and
// PostgreSQL when TOLLGATE_TEST_DATABASE_URL is set. Each has account "fz"
// with plenty of credits and account "other".
func fuzzEnvs(f *testing.F) []*env {
	f.Helper()
	envs := []*env{newEnv(f, openSQLite)}
	if os.Getenv("TOLLGATE_TEST_DATABASE_URL") != "" {
		envs = append(envs, newEnv(f, openPostgres))
	}
	for _, e := range envs {
		e.createAccount(f, "fz", "free", "Europe/Paris")
		e.createAccount(f, "other", "pro", "UTC")
		for range 3 {
			e.grant(f, "fz", mustJSON(f, map[string]any{"credits": tollgate.MaxCredits}))
		}
	}
	return envs
}

// fuzzPost posts body to path on every env with the admin key: the answer
// must never be a 5xx, every refusal must be a problem with a code, the
// answer must match the OpenAPI document, and the ledger must verify.
func fuzzPost(t *testing.T, envs []*env, path string, body []byte, after func(e *env, r response)) {
	for _, e := range envs {
		r := e.do(t, request{Method: "POST", Path: path, Key: adminKey, Body: string(body),
			Header: map[string]string{"Content-Type": "application/json"}})
		if r.Status >= 500 {
			t.Fatalf("%s: got %d for body %q: %s\nlogs: %s", e.store.Kind(), r.Status, body, r.Body, e.logs.String())
		}
		if r.Status < 200 || r.Status > 299 {
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: got Content-Type %q for a %d, want application/problem+json", e.store.Kind(), ct, r.Status)
			}
			var p Problem
			if err := json.Unmarshal(r.Body, &p); err != nil || p.Code == "" || p.Status != r.Status {
				t.Errorf("%s: got %d with body %s, want a problem with a code (err %v)", e.store.Kind(), r.Status, r.Body, err)
			}
		} else if after != nil {
			after(e, r)
		}
		e.verify(t)
		if logs := e.logs.String(); logs != "" {
			e.logs.Reset()
			t.Errorf("%s: the server logged errors for body %q:\n%s", e.store.Kind(), body, logs)
		}
	}
}

var holdSeeds = []string{
	`{"account_id":"fz","product":"video","credits":"1"}`,
	`{"account_id":"fz","product":"video","credits":"12.5","ttl_seconds":60}`,
	`{"account_id":"fz","product":"assistant","credits":0.000001,"metadata":{"job":"j1","run":"2"}}`,
	`{"account_id":"fz","product":"stitch","credits":"1000000000"}`,
	`{"account_id":"other","product":"video","credits":"100.000001"}`,
	`{"account_id":"fz","product":"video","credits":"1","ttl_seconds":604800}`,
	`{"account_id":"nobody","product":"video","credits":"1"}`,
	`{"account_id":"fz","product":"image","credits":"1"}`,
	`{"account_id":"fz","product":"video","credits":"-1"}`,
	`{"account_id":"fz","product":"video","credits":"1.0000001"}`,
	`{"account_id":"fz","product":"video","credits":"99999999999999999999"}`,
	`{"account_id":"fz","product":"video","credits":1e3}`,
	`{"account_id":"fz","product":"video","credits":null}`,
	`{"account_id":"fz","product":"video","credits":{}}`,
	`{"account_id":"fz","product":"video","credits":"1","ttl_seconds":0}`,
	`{"account_id":"fz","product":"video","credits":"1","metadata":{"":"x"}}`,
	`{"account_id":"fz","product":"video","credits":"1","extra":true}`,
	`{"account_id":"fz","product":"video","credits":"1"} trailing`,
	`{"account_id":"fz","product":"video","credits":"1"`,
	`[{"account_id":"fz"}]`,
	`null`,
	``,
	`{}`,
	"{\"account_id\":\"fz\",\"product\":\"video\",\"credits\":\"\xff\"}",
	`{"account_id":"fz\u0000","product":"video","credits":"1"}`, // NUL: refused before any store sees it
}

func FuzzDecodeHold(f *testing.F) {
	for _, s := range holdSeeds {
		f.Add([]byte(s))
	}
	envs := fuzzEnvs(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, envs, "/v1/holds", body, func(e *env, r response) {
			var h holdView
			if err := json.Unmarshal(r.Body, &h); err != nil {
				t.Fatalf("decode hold %s: %v", r.Body, err)
			}
			if h.Status != "pending" || h.Credits <= 0 || h.Credits > tollgate.MaxCredits {
				t.Errorf("got hold %+v, want a pending hold of (0, MaxCredits]", h)
			}
			// Give the credits back, so that later inputs can hold too.
			e.call(t, request{Method: "POST", Path: "/v1/holds/" + h.ID + "/release", Key: adminKey}, http.StatusOK, nil)
		})
	})
}

var grantSeeds = []string{
	`{"credits":"1"}`,
	`{"credits":"100","source":"purchase","valid_for_days":365,"external_ref":"pay_1"}`,
	`{"credits":12.5,"source":"promo","products":["assistant","stitch"],"priority":-5}`,
	`{"credits":"1","effective_at":"2027-01-01T00:00:00Z","expires_at":"2027-02-01T00:00:00+01:00"}`,
	`{"credits":"1","expires_at":"9999-12-31T23:59:59Z"}`,
	`{"credits":"1","effective_at":"9999-12-31T23:00:00-05:00"}`,
	`{"credits":"1","effective_at":"9999-12-01T00:00:00Z","valid_for_days":36500}`,
	`{"credits":"1","effective_at":"0000-01-01T00:00:00+01:00"}`,
	`{"credits":"1","source":"allowance"}`,
	`{"credits":"1","products":["video","video"]}`,
	`{"credits":"1","expires_at":"2020-01-01T00:00:00Z"}`,
	`{"credits":"1","expires_at":"2027-01-01T00:00:00Z","valid_for_days":1}`,
	`{"credits":"1","priority":1001}`,
	`{"credits":"1","external_ref":"` + strings.Repeat("r", 201) + `"}`,
	`{"credits":"0"}`,
	`{"credits":"1000000000.000001"}`,
	`{"credits":true}`,
	`{"credits":"1","valid_for_days":0}`,
	`{"credits":"1","valid_for_days":"1"}`,
	`{"credits":"1"}{}`,
	`{"credits":`,
	`{"credits":"1","external_ref":"x\u0000"}`, // NUL: refused before any store sees it
	`[]`,
	``,
}

func FuzzDecodeGrant(f *testing.F) {
	for _, s := range grantSeeds {
		f.Add([]byte(s))
	}
	envs := fuzzEnvs(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, envs, "/v1/accounts/other/grants", body, func(e *env, r response) {
			var g grantView
			if err := json.Unmarshal(r.Body, &g); err != nil {
				t.Fatalf("decode grant %s: %v", r.Body, err)
			}
			if g.Credits <= 0 || g.Credits > tollgate.MaxCredits || g.Remaining != g.Credits {
				t.Errorf("got grant %+v, want (0, MaxCredits] with all remaining", g)
			}
			// The balance must still be readable.
			e.call(t, request{Method: "GET", Path: "/v1/accounts/other/balance", Key: adminKey}, http.StatusOK, nil)
		})
	})
}
