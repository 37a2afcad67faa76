package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"tollgate"
)

// badCase is a request that must get a 4xx problem and change nothing.
// Path may name the fixture's holds as {held}, {settled}, {released} and
// {bobs}. Key is "admin", "alice", "bob", "wrong" or "" for none.
type badCase struct {
	name         string
	method, path string
	key          string
	body         string
	header       map[string]string
	status       int
	code         tollgate.Code
}

// fixture is what the bad input tests act on: alice (with a grant, a
// pending, a captured and a released hold) and bob (with a pending hold).
type fixture struct {
	keys  map[string]string
	holds map[string]string
}

func newFixture(t *testing.T, e *env) fixture {
	t.Helper()
	e.createAccount(t, "alice", "free", "UTC")
	e.createAccount(t, "bob", "pro", "Asia/Tokyo")
	f := fixture{
		keys:  map[string]string{"admin": adminKey, "alice": e.createKey(t, "alice"), "bob": e.createKey(t, "bob"), "wrong": "tg_not_a_key"},
		holds: map[string]string{},
	}
	e.grant(t, "alice", `{"credits":"100","source":"purchase","external_ref":"seed"}`)
	f.holds["held"] = e.hold(t, adminKey, `{"account_id":"alice","product":"video","credits":"10"}`).ID
	f.holds["settled"] = e.hold(t, adminKey, `{"account_id":"alice","product":"video","credits":"5"}`).ID
	e.call(t, request{Method: "POST", Path: "/v1/holds/" + f.holds["settled"] + "/capture", Key: adminKey}, http.StatusOK, nil)
	f.holds["released"] = e.hold(t, adminKey, `{"account_id":"alice","product":"stitch","credits":"1"}`).ID
	e.call(t, request{Method: "POST", Path: "/v1/holds/" + f.holds["released"] + "/release", Key: adminKey}, http.StatusOK, nil)
	f.holds["bobs"] = e.hold(t, adminKey, `{"account_id":"bob","product":"video","credits":"2"}`).ID
	var c cameoView
	e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: adminKey, Body: `{"account_id":"alice","name":"Lux","policy":"approved"}`}, http.StatusCreated, &c)
	f.holds["cameo"] = c.ID
	return f
}

func (f fixture) request(c badCase) request {
	path := c.path
	for name, id := range f.holds {
		path = strings.ReplaceAll(path, "{"+name+"}", id)
	}
	return request{Method: c.method, Path: path, Key: f.keys[c.key], Body: c.body, Header: c.header}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	cases := badInputCases()
	forEachStore(t, func(t *testing.T, e *env) {
		f := newFixture(t, e)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := e.world(t)
				r := e.do(t, f.request(c))
				problemOf(t, r, c.status, c.code)
				if c.status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("got no WWW-Authenticate header on a 401")
				}
				e.unchanged(t, before)
			})
		}
	})
}

// The endpoints that take a body, with a body each accepts.
var bodyEndpoints = []struct {
	name, path, good string
	optional         bool // an empty body is fine
}{
	{"account", "/v1/accounts", `{"id":"carol","name":"Carol"}`, false},
	{"key", "/v1/accounts/alice/keys", `{}`, true},
	{"grant", "/v1/accounts/alice/grants", `{"credits":"1"}`, false},
	{"hold", "/v1/holds", `{"account_id":"alice","product":"video","credits":"1"}`, false},
	{"usage", "/v1/usage", `{"account_id":"alice","product":"video","credits":"1"}`, false},
	{"capture", "/v1/holds/{held}/capture", `{"credits":"1"}`, true},
	{"release", "/v1/holds/{held}/release", `{}`, true},
	{"cameo", "/v1/cameos", `{"account_id":"alice","name":"Mira"}`, false},
	{"cameo change", "/v1/cameos/{cameo}", `{"fee":"1"}`, false},
	{"cameo approval", "/v1/cameos/{cameo}/approvals", `{"account_id":"bob"}`, false},
	{"payout rate", "/v1/payout_rates", `{"currency":"usd","minor_per_credit":30}`, false},
	{"payout", "/v1/payouts", `{"account_id":"alice"}`, false},
	{"payout destination", "/v1/payouts/destination", `{"account_id":"alice","stripe_account":"acct_1"}`, false},
	{"leaderboard opt-in", "/v1/leaderboards/opt_in", `{"account_id":"alice","opt_in":true}`, false},
}

func badInputCases() []badCase {
	var cs []badCase
	add := func(c badCase) { cs = append(cs, c) }

	// The body as a whole, on every endpoint that reads one.
	shapes := []struct {
		name, body string
		code       tollgate.Code
	}{
		{"malformed", `{"credits": 1,}`, tollgate.CodeMalformedJSON},
		{"bare word", `{"credits": one}`, tollgate.CodeMalformedJSON},
		{"truncated", `{"credits":"1"`, tollgate.CodeMalformedJSON},
		{"truncated string", `{"credits":"1`, tollgate.CodeMalformedJSON},
		{"only a brace", `{`, tollgate.CodeMalformedJSON},
		{"trailing garbage", `{} x`, tollgate.CodeMalformedJSON},
		{"trailing brace", `{}}`, tollgate.CodeMalformedJSON},
		{"two objects", `{}{}`, tollgate.CodeMalformedJSON},
		{"array", `[{}]`, tollgate.CodeMalformedJSON},
		{"empty array", `[]`, tollgate.CodeMalformedJSON},
		{"string", `"{}"`, tollgate.CodeMalformedJSON},
		{"number", `42`, tollgate.CodeMalformedJSON},
		{"byte order mark", "\xef\xbb\xbf{}", tollgate.CodeMalformedJSON},
		{"invalid UTF-8 outside strings", "{\xff}", tollgate.CodeMalformedJSON},
		{"unknown field", `{"surprise":1}`, tollgate.CodeUnknownField},
		{"unknown field beside known ones", `{"credits":"1","amount":"1"}`, tollgate.CodeUnknownField},
	}
	for _, ep := range bodyEndpoints {
		for _, s := range shapes {
			add(badCase{name: ep.name + "/" + s.name, method: "POST", path: ep.path, key: "admin", body: s.body, status: 400, code: s.code})
		}
		if !ep.optional {
			add(badCase{name: ep.name + "/empty body", method: "POST", path: ep.path, key: "admin", body: "", status: 400, code: tollgate.CodeMalformedJSON})
			add(badCase{name: ep.name + "/blank body", method: "POST", path: ep.path, key: "admin", body: " \n\t ", status: 400, code: tollgate.CodeMalformedJSON})
		}
		// A JSON body labelled as a form, as curl -d sends it, is read as JSON.
		add(badCase{name: ep.name + "/a real form", method: "POST", path: ep.path, key: "admin", body: "credits=1&name=C",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 400, code: tollgate.CodeMalformedJSON})
		for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/jsonx", "application/json; =bad", "json", "text/json"} {
			add(badCase{name: ep.name + "/content type " + ct, method: "POST", path: ep.path, key: "admin", body: ep.good,
				header: map[string]string{"Content-Type": ct}, status: 415, code: tollgate.CodeUnsupportedMedia})
		}
		big := ep.good[:len(ep.good)-1] + `,"pad":"` + strings.Repeat("x", 64<<10) + `"}`
		if ep.good == `{}` {
			big = `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
		}
		add(badCase{name: ep.name + "/oversized", method: "POST", path: ep.path, key: "admin", body: big, status: 413, code: tollgate.CodeBodyTooLarge})
		add(badCase{name: ep.name + "/oversized whitespace", method: "POST", path: ep.path, key: "admin", body: ep.good + strings.Repeat(" ", 64<<10), status: 413, code: tollgate.CodeBodyTooLarge})
		for i, k := range []string{strings.Repeat("k", 256), "tab\there", "ключ"} {
			add(badCase{name: fmt.Sprintf("%s/bad Idempotency-Key %d", ep.name, i), method: "POST", path: ep.path, key: "admin", body: ep.good,
				header: map[string]string{"Idempotency-Key": k}, status: 422, code: tollgate.CodeInvalidField})
		}
	}
	add(badCase{name: "hold/member names are case-sensitive", method: "POST", path: "/v1/holds", key: "admin",
		body: `{"ACCOUNT_ID":"alice","Product":"video","CREDITS":"1"}`, status: 400, code: tollgate.CodeUnknownField})

	// Credits, wherever they are required.
	badCredits := []string{`"-1"`, `-1`, `"0"`, `0`, `"-0"`, `"0.0000001"`, `"99999999999999999999"`, `99999999999999999999`,
		`"9223372036854775808"`, `"-9223372036854775809"`, `"1000000000.000001"`, `1000000000.000001`, `"1.0000001"`, `1.0000001`,
		`"abc"`, `true`, `false`, `{}`, `[]`, `["1"]`, `null`, `""`, `"1e3"`, `1e3`, `1E3`, `" 1"`, `"1 "`, `"1_000"`, `"0x10"`, `"NaN"`,
		`"Infinity"`, `"5."`, `"."`, `"-"`, `"+"`, `"1,5"`, `"١"`, `"\"1\""`}
	credited := []struct{ name, path, tmpl string }{
		{"grant", "/v1/accounts/alice/grants", `{"credits":%s}`},
		{"hold", "/v1/holds", `{"account_id":"alice","product":"video","credits":%s}`},
		{"usage", "/v1/usage", `{"account_id":"alice","product":"video","credits":%s}`},
	}
	for _, ep := range credited {
		for _, v := range badCredits {
			add(badCase{name: ep.name + "/credits " + v, method: "POST", path: ep.path, key: "admin", body: fmt.Sprintf(ep.tmpl, v), status: 422, code: tollgate.CodeInvalidField})
		}
		missing := strings.Replace(ep.tmpl, `,"credits":%s`, ``, 1)
		missing = strings.Replace(missing, `"credits":%s`, ``, 1)
		add(badCase{name: ep.name + "/credits missing", method: "POST", path: ep.path, key: "admin", body: missing, status: 422, code: tollgate.CodeInvalidField})
	}
	for _, v := range badCredits {
		switch v {
		case `"0"`, `0`, `"-0"`: // capturing nothing is allowed
			continue
		}
		add(badCase{name: "capture/credits " + v, method: "POST", path: "/v1/holds/{held}/capture", key: "admin", body: `{"credits":` + v + `}`, status: 422, code: tollgate.CodeInvalidField})
	}

	// Holds and usage.
	for _, path := range []string{"/v1/holds", "/v1/usage"} {
		ep := strings.TrimPrefix(path, "/v1/")
		for _, p := range []string{`"image"`, `""`, `"VIDEO"`, `" video"`, `5`, `null`, `["video"]`} {
			add(badCase{name: ep + "/product " + p, method: "POST", path: path, key: "admin", body: `{"account_id":"alice","product":` + p + `,"credits":"1"}`, status: 422, code: tollgate.CodeInvalidField})
		}
		add(badCase{name: ep + "/product missing", method: "POST", path: path, key: "admin", body: `{"account_id":"alice","credits":"1"}`, status: 422, code: tollgate.CodeInvalidField})
		add(badCase{name: ep + "/account_id missing with an admin key", method: "POST", path: path, key: "admin", body: `{"product":"video","credits":"1"}`, status: 422, code: tollgate.CodeInvalidField})
		add(badCase{name: ep + "/account_id a number", method: "POST", path: path, key: "admin", body: `{"account_id":7,"product":"video","credits":"1"}`, status: 422, code: tollgate.CodeInvalidField})
		add(badCase{name: ep + "/unknown account", method: "POST", path: path, key: "admin", body: `{"account_id":"nobody","product":"video","credits":"1"}`, status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: ep + "/another account's id", method: "POST", path: path, key: "alice", body: `{"account_id":"bob","product":"video","credits":"1"}`, status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: ep + "/account id with NUL", method: "POST", path: path, key: "admin", body: `{"account_id":"alice\u0000","product":"video","credits":"1"}`, status: 404, code: tollgate.CodeNotFound})
		for _, md := range []string{`{"k":1}`, `{"k":{"a":"b"}}`, `{"":"v"}`, `{"` + strings.Repeat("k", 41) + `":"v"}`,
			`{"k":"` + strings.Repeat("v", 501) + `"}`, manyKeys(17), bigMetadata(), `"k=v"`, `["k"]`} {
			add(badCase{name: ep + "/metadata " + md[:min(len(md), 12)], method: "POST", path: path, key: "alice", body: `{"product":"video","credits":"1","metadata":` + md + `}`, status: 422, code: tollgate.CodeInvalidField})
		}
		add(badCase{name: ep + "/insufficient credits", method: "POST", path: path, key: "alice", body: `{"product":"assistant","credits":"100.000001"}`, status: 402, code: tollgate.CodeInsufficientCredits})
	}
	for _, ttl := range []string{`0`, `-1`, `604801`, `"60"`, `1.5`, `1e2`, `9223372036854775808`, `true`, `null`} {
		if ttl == `null` { // null is absent: the default
			continue
		}
		add(badCase{name: "hold/ttl_seconds " + ttl, method: "POST", path: "/v1/holds", key: "alice", body: `{"product":"video","credits":"1","ttl_seconds":` + ttl + `}`, status: 422, code: tollgate.CodeInvalidField})
	}
	add(badCase{name: "usage/ttl_seconds", method: "POST", path: "/v1/usage", key: "alice", body: `{"product":"video","credits":"1","ttl_seconds":60}`, status: 422, code: tollgate.CodeInvalidField})

	// Grants.
	grantBodies := []struct{ name, body string }{
		{"source allowance", `{"credits":"1","source":"allowance"}`},
		{"source unknown", `{"credits":"1","source":"gift"}`},
		{"source a number", `{"credits":"1","source":5}`},
		{"products unknown", `{"credits":"1","products":["image"]}`},
		{"products twice", `{"credits":"1","products":["video","video"]}`},
		{"products a string", `{"credits":"1","products":"video"}`},
		{"products of numbers", `{"credits":"1","products":[1]}`},
		{"expires_at not a time", `{"credits":"1","expires_at":"tomorrow"}`},
		{"expires_at without zone", `{"credits":"1","expires_at":"2027-01-01T00:00:00"}`},
		{"expires_at a date", `{"credits":"1","expires_at":"2027-01-01"}`},
		{"expires_at a number", `{"credits":"1","expires_at":1798761600}`},
		{"expires_at past", `{"credits":"1","expires_at":"2020-01-01T00:00:00Z"}`},
		{"expires_at now", `{"credits":"1","expires_at":"2026-11-21T09:00:00Z"}`},
		{"expires_at before effective_at", `{"credits":"1","effective_at":"2027-06-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}`},
		{"expires_at and valid_for_days", `{"credits":"1","expires_at":"2027-01-01T00:00:00Z","valid_for_days":30}`},
		{"expires_at after year 9999 in UTC", `{"credits":"1","expires_at":"9999-12-31T23:00:00-05:00"}`},
		{"effective_at after year 9999 in UTC", `{"credits":"1","effective_at":"9999-12-31T23:00:00-05:00"}`},
		{"effective_at before year 1 in UTC", `{"credits":"1","effective_at":"0000-01-01T00:30:00+01:00"}`},
		{"valid_for_days past year 9999", `{"credits":"1","effective_at":"9999-12-01T00:00:00Z","valid_for_days":365}`},
		{"effective_at not a time", `{"credits":"1","effective_at":"2026-13-01T00:00:00Z"}`},
		{"valid_for_days 0", `{"credits":"1","valid_for_days":0}`},
		{"valid_for_days negative", `{"credits":"1","valid_for_days":-1}`},
		{"valid_for_days too many", `{"credits":"1","valid_for_days":36501}`},
		{"valid_for_days a string", `{"credits":"1","valid_for_days":"30"}`},
		{"valid_for_days a fraction", `{"credits":"1","valid_for_days":1.5}`},
		{"priority too high", `{"credits":"1","priority":1001}`},
		{"priority too low", `{"credits":"1","priority":-1001}`},
		{"priority a string", `{"credits":"1","priority":"high"}`},
		{"priority overflowing", `{"credits":"1","priority":99999999999999999999}`},
		{"external_ref too long", `{"credits":"1","external_ref":"` + strings.Repeat("r", 201) + `"}`},
		{"external_ref a number", `{"credits":"1","external_ref":1}`},
	}
	for _, g := range grantBodies {
		add(badCase{name: "grant/" + g.name, method: "POST", path: "/v1/accounts/alice/grants", key: "admin", body: g.body, status: 422, code: tollgate.CodeInvalidField})
	}
	add(badCase{name: "grant/external_ref with NUL", method: "POST", path: "/v1/accounts/alice/grants", key: "admin", body: `{"credits":"1","external_ref":"r\u0000"}`, status: 422, code: tollgate.CodeInvalidField})
	add(badCase{name: "grant/external_ref repeated", method: "POST", path: "/v1/accounts/alice/grants", key: "admin", body: `{"credits":"1","external_ref":"seed"}`, status: 409, code: tollgate.CodeConflict})
	add(badCase{name: "grant/unknown account", method: "POST", path: "/v1/accounts/nobody/grants", key: "admin", body: `{"credits":"1"}`, status: 404, code: tollgate.CodeNotFound})

	// Accounts.
	accountBodies := []struct {
		name, body string
		status     int
		code       tollgate.Code
	}{
		{"timezone unknown", `{"name":"C","timezone":"Mars/Olympus"}`, 422, tollgate.CodeInvalidField},
		{"timezone Local", `{"name":"C","timezone":"Local"}`, 422, tollgate.CodeInvalidField},
		{"timezone local", `{"name":"C","timezone":"local"}`, 422, tollgate.CodeInvalidField},
		{"timezone path", `{"name":"C","timezone":"../../etc/passwd"}`, 422, tollgate.CodeInvalidField},
		{"timezone a number", `{"name":"C","timezone":1}`, 422, tollgate.CodeInvalidField},
		{"plan unknown", `{"name":"C","plan":"gold"}`, 422, tollgate.CodeInvalidField},
		{"plan a number", `{"name":"C","plan":1}`, 422, tollgate.CodeInvalidField},
		{"id taken", `{"id":"alice","name":"C"}`, 409, tollgate.CodeConflict},
		{"id starting with a dash", `{"id":"-c","name":"C"}`, 422, tollgate.CodeInvalidField},
		{"id with a space", `{"id":"c d","name":"C"}`, 422, tollgate.CodeInvalidField},
		{"id with a slash", `{"id":"c/d","name":"C"}`, 422, tollgate.CodeInvalidField},
		{"id too long", `{"id":"` + strings.Repeat("c", 65) + `","name":"C"}`, 422, tollgate.CodeInvalidField},
		{"id not ASCII", `{"id":"çà","name":"C"}`, 422, tollgate.CodeInvalidField},
		{"id a number", `{"id":7,"name":"C"}`, 422, tollgate.CodeInvalidField},
		{"name missing", `{"id":"carol"}`, 422, tollgate.CodeInvalidField},
		{"name blank", `{"name":"   "}`, 422, tollgate.CodeInvalidField},
		{"name too long", `{"name":"` + strings.Repeat("n", 201) + `"}`, 422, tollgate.CodeInvalidField},
		{"name a number", `{"name":5}`, 422, tollgate.CodeInvalidField},
		{"name with NUL", `{"name":"C\u0000"}`, 422, tollgate.CodeInvalidField},
	}
	for _, a := range accountBodies {
		add(badCase{name: "account/" + a.name, method: "POST", path: "/v1/accounts", key: "admin", body: a.body, status: a.status, code: a.code})
	}
	add(badCase{name: "key/unknown account", method: "POST", path: "/v1/accounts/nobody/keys", key: "admin", status: 404, code: tollgate.CodeNotFound})
	// Strictness on purpose: compressed bodies, bad UTF-8, members twice,
	// names spelled with escapes, amounts not written as JSON numbers are.
	gz := map[string]string{"Content-Encoding": "gzip"}
	add(badCase{name: "hold/gzip", method: "POST", path: "/v1/holds", key: "alice", body: `{"product":"video","credits":"1"}`, header: gz, status: 415, code: tollgate.CodeUnsupportedMedia})
	add(badCase{name: "hold/invalid UTF-8", method: "POST", path: "/v1/holds", key: "alice", body: "{\"product\":\"video\",\"credits\":\"1\",\"metadata\":{\"k\":\"\xff\"}}", status: 400, code: tollgate.CodeMalformedJSON})
	add(badCase{name: "hold/a member twice", method: "POST", path: "/v1/holds", key: "alice", body: `{"product":"video","credits":"1","credits":"1000"}`, status: 400, code: tollgate.CodeMalformedJSON})
	add(badCase{name: "hold/an escaped name", method: "POST", path: "/v1/holds", key: "alice", body: `{"product":"video","\u0043redits":"1"}`, status: 400, code: tollgate.CodeUnknownField})
	for _, a := range []string{`"+1"`, `".5"`, `"007"`} {
		add(badCase{name: "hold/credits " + a, method: "POST", path: "/v1/holds", key: "alice", body: `{"product":"video","credits":` + a + `}`, status: 422, code: tollgate.CodeInvalidField})
	}
	add(badCase{name: "key/body with an unknown field", method: "POST", path: "/v1/accounts/alice/keys", key: "admin", body: `{"scope":"all"}`, status: 400, code: tollgate.CodeUnknownField})
	for _, b := range []string{`{"scopes":"all"}`, `{"scopes":["admin"]}`, `{"scopes":[]}`, `{"scopes":["read","read"]}`,
		`{"products":["music"]}`, `{"products":[]}`, `{"expires_at":"2000-01-01T00:00:00Z"}`, `{"expires_at":"tomorrow"}`,
		`{"limits":{"requests_per_second":0}}`, `{"limits":{"max_pending_holds":-1}}`, `{"limits":{"concurrent_requests":10001}}`} {
		add(badCase{name: "key/" + b, method: "POST", path: "/v1/accounts/alice/keys", key: "admin", body: b, status: 422, code: tollgate.CodeInvalidField})
	}
	add(badCase{name: "key/an unknown limit", method: "POST", path: "/v1/accounts/alice/keys", key: "admin", body: `{"limits":{"rps":1}}`, status: 400, code: tollgate.CodeUnknownField})
	add(badCase{name: "plan/a limit of zero", method: "POST", path: "/v1/plans/free/versions", key: "admin", body: `{"daily_allowances":{"video":"30"},"limits":{"requests_per_second":0}}`, status: 422, code: tollgate.CodeInvalidField})
	add(badCase{name: "key/name too long", method: "POST", path: "/v1/accounts/alice/keys", key: "admin", body: `{"name":"` + strings.Repeat("n", 101) + `"}`, status: 422, code: tollgate.CodeInvalidField})
	add(badCase{name: "key/name with a control character", method: "POST", path: "/v1/accounts/alice/keys", key: "admin", body: `{"name":"a\u0007b"}`, status: 422, code: tollgate.CodeInvalidField})
	add(badCase{name: "key/revoke an unknown key", method: "POST", path: "/v1/accounts/alice/keys/key_nope/revoke", key: "admin", status: 404, code: tollgate.CodeNotFound})
	add(badCase{name: "key/revoke by an account key", method: "POST", path: "/v1/accounts/alice/keys/key_nope/revoke", key: "alice", status: 403, code: tollgate.CodeForbidden})
	add(badCase{name: "key/list an unknown account's", method: "GET", path: "/v1/accounts/nobody/keys", key: "admin", status: 404, code: tollgate.CodeNotFound})

	// Settling holds.
	add(badCase{name: "capture/more than held", method: "POST", path: "/v1/holds/{held}/capture", key: "alice", body: `{"credits":"10.000001"}`, status: 422, code: tollgate.CodeCaptureExceedsHold})
	add(badCase{name: "capture/far more than held", method: "POST", path: "/v1/holds/{held}/capture", key: "admin", body: `{"credits":"1000000000"}`, status: 422, code: tollgate.CodeCaptureExceedsHold})
	for _, h := range []string{"settled", "released"} {
		add(badCase{name: "capture/" + h, method: "POST", path: "/v1/holds/{" + h + "}/capture", key: "alice", status: 409, code: tollgate.CodeHoldNotPending})
		add(badCase{name: "capture/" + h + " partly", method: "POST", path: "/v1/holds/{" + h + "}/capture", key: "admin", body: `{"credits":"1"}`, status: 409, code: tollgate.CodeHoldNotPending})
		add(badCase{name: "release/" + h, method: "POST", path: "/v1/holds/{" + h + "}/release", key: "alice", status: 409, code: tollgate.CodeHoldNotPending})
	}
	add(badCase{name: "release/with credits", method: "POST", path: "/v1/holds/{held}/release", key: "admin", body: `{"credits":"1"}`, status: 400, code: tollgate.CodeUnknownField})
	for _, op := range []string{"capture", "release"} {
		add(badCase{name: op + "/unknown hold", method: "POST", path: "/v1/holds/hold_nope/" + op, key: "admin", status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: op + "/another account's hold", method: "POST", path: "/v1/holds/{bobs}/" + op, key: "alice", status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: op + "/hold id with NUL", method: "POST", path: "/v1/holds/%00/" + op, key: "admin", status: 404, code: tollgate.CodeNotFound})
	}
	add(badCase{name: "get hold/unknown", method: "GET", path: "/v1/holds/hold_nope", key: "admin", status: 404, code: tollgate.CodeNotFound})
	add(badCase{name: "get hold/another account's", method: "GET", path: "/v1/holds/{bobs}", key: "alice", status: 404, code: tollgate.CodeNotFound})
	add(badCase{name: "get hold/id with NUL", method: "GET", path: "/v1/holds/%00", key: "admin", status: 404, code: tollgate.CodeNotFound})
	add(badCase{name: "get hold/id not UTF-8", method: "GET", path: "/v1/holds/%FF", key: "admin", status: 404, code: tollgate.CodeNotFound})

	// Account reads.
	for _, sub := range []string{"", "/balance", "/entries"} {
		add(badCase{name: "get account" + sub + "/unknown", method: "GET", path: "/v1/accounts/nobody" + sub, key: "admin", status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: "get account" + sub + "/another account's", method: "GET", path: "/v1/accounts/bob" + sub, key: "alice", status: 404, code: tollgate.CodeNotFound})
		add(badCase{name: "get account" + sub + "/id not UTF-8", method: "GET", path: "/v1/accounts/%FF" + sub, key: "admin", status: 404, code: tollgate.CodeNotFound})
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "limit=1e1", "limit=99999999999999999999", "cursor=abc", "cursor=-5", "cursor=1e3", "cursor=99999999999999999999", "cursor=0x10"} {
		add(badCase{name: "entries/" + q, method: "GET", path: "/v1/accounts/alice/entries?" + q, key: "alice", status: 422, code: tollgate.CodeInvalidField})
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit="} {
		if q == "limit=" { // empty is the default
			continue
		}
		add(badCase{name: "list accounts/" + q, method: "GET", path: "/v1/accounts?" + q, key: "admin", status: 422, code: tollgate.CodeInvalidField})
	}

	// Keys.
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/accounts", `{"name":"C"}`},
		{"GET", "/v1/accounts", ""},
		{"GET", "/v1/accounts/alice", ""},
		{"POST", "/v1/accounts/alice/keys", ""},
		{"POST", "/v1/accounts/alice/grants", `{"credits":"1"}`},
		{"GET", "/v1/accounts/alice/balance", ""},
		{"GET", "/v1/balance", ""},
		{"GET", "/v1/accounts/alice/entries", ""},
		{"POST", "/v1/holds", `{"account_id":"alice","product":"video","credits":"1"}`},
		{"GET", "/v1/holds/{held}", ""},
		{"POST", "/v1/holds/{held}/capture", ""},
		{"POST", "/v1/holds/{held}/release", ""},
		{"POST", "/v1/usage", `{"account_id":"alice","product":"video","credits":"1"}`},
	}
	for _, r := range routes {
		name := r.method + " " + r.path
		add(badCase{name: "auth/no key/" + name, method: r.method, path: r.path, body: r.body, status: 401, code: tollgate.CodeUnauthorized})
		add(badCase{name: "auth/wrong key/" + name, method: r.method, path: r.path, key: "wrong", body: r.body, status: 401, code: tollgate.CodeUnauthorized})
	}
	for _, h := range []string{"Basic YWRtaW4tc2VjcmV0", "Bearer", "Bearer ", "admin-secret", "Bearer  admin-secret", "Token admin-secret", "Bearer admin", "Bearer admin-secret-x"} {
		add(badCase{name: "auth/Authorization " + h, method: "POST", path: "/v1/holds", body: `{"account_id":"alice","product":"video","credits":"1"}`,
			header: map[string]string{"Authorization": h}, status: 401, code: tollgate.CodeUnauthorized})
	}
	for _, r := range []int{0, 1, 3, 4} { // the admin's
		r := routes[r]
		add(badCase{name: "auth/account key/" + r.method + " " + r.path, method: r.method, path: r.path, key: "alice", body: r.body, status: 403, code: tollgate.CodeForbidden})
	}
	add(badCase{name: "auth/admin key on /v1/balance", method: "GET", path: "/v1/balance", key: "admin", status: 403, code: tollgate.CodeForbidden})
	add(badCase{name: "auth/account key naming another account", method: "POST", path: "/v1/accounts/bob/grants", key: "alice", body: `{"credits":"1"}`, status: 403, code: tollgate.CodeForbidden})

	// No such endpoint.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/nope"}, {"GET", "/"}, {"GET", "/v2/balance"}, {"POST", "/v1/holds/{held}/refund"},
	} {
		add(badCase{name: "route/" + r.method + " " + r.path, method: r.method, path: r.path, key: "admin", status: 404, code: tollgate.CodeNotFound})
	}
	// A known path with another method.
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/v1/holds/{held}"}, {"PUT", "/v1/accounts"}, {"GET", "/v1/holds"},
		{"GET", "/v1/usage"}, {"POST", "/v1/balance"}, {"PATCH", "/v1/accounts/alice"},
	} {
		add(badCase{name: "route/" + r.method + " " + r.path, method: r.method, path: r.path, key: "admin", status: 405, code: tollgate.CodeMethodNotAllowed})
	}
	// Cameos, statements, leaderboards and payouts.
	for _, c := range []struct {
		name, method, path, key, body string
		status                        int
		code                          tollgate.Code
	}{
		{"cameo/negative daily limit", "POST", "/v1/cameos", "admin", `{"account_id":"alice","name":"X","daily_limit":-1}`, 422, tollgate.CodeInvalidField},
		{"cameo/fee not a number", "POST", "/v1/cameos", "admin", `{"account_id":"alice","name":"X","fee":"lots"}`, 422, tollgate.CodeInvalidField},
		{"cameo/name of control characters", "POST", "/v1/cameos", "admin", `{"account_id":"alice","name":"a\u0007b"}`, 422, tollgate.CodeInvalidField},
		{"cameo/another account's", "POST", "/v1/cameos", "bob", `{"account_id":"alice","name":"X"}`, 404, tollgate.CodeNotFound},
		{"cameo change/unknown policy", "POST", "/v1/cameos/{cameo}", "alice", `{"policy":"all"}`, 422, tollgate.CodeInvalidField},
		{"cameo change/by another account", "POST", "/v1/cameos/{cameo}", "bob", `{"fee":"0"}`, 404, tollgate.CodeNotFound},
		{"cameo change/unknown cameo", "POST", "/v1/cameos/char_none", "admin", `{"fee":"0"}`, 404, tollgate.CodeNotFound},
		{"cameo approval/unknown account", "POST", "/v1/cameos/{cameo}/approvals", "alice", `{"account_id":"nobody"}`, 422, tollgate.CodeInvalidField},
		{"cameo approval/the owner", "POST", "/v1/cameos/{cameo}/approvals", "alice", `{"account_id":"alice"}`, 422, tollgate.CodeInvalidField},
		{"cameo revoke/not approved", "DELETE", "/v1/cameos/{cameo}/approvals/bob", "alice", ``, 404, tollgate.CodeNotFound},
		{"cameo verify/not a likeness waiting", "POST", "/v1/cameos/{cameo}/verify", "admin", ``, 422, tollgate.CodeInvalidField},
		{"cameo verify/by an account", "POST", "/v1/cameos/{cameo}/verify", "alice", ``, 403, tollgate.CodeForbidden},
		{"payout rate/bad currency", "POST", "/v1/payout_rates", "admin", `{"currency":"dollars","minor_per_credit":30}`, 422, tollgate.CodeInvalidField},
		{"payout rate/zero", "POST", "/v1/payout_rates", "admin", `{"currency":"usd","minor_per_credit":0}`, 422, tollgate.CodeInvalidField},
		{"payout rate/by an account", "POST", "/v1/payout_rates", "alice", `{"currency":"usd","minor_per_credit":30}`, 403, tollgate.CodeForbidden},
		{"payout/no rate", "POST", "/v1/payouts", "alice", `{"credits":"1"}`, 422, tollgate.CodeInvalidField},
		{"payout/another account's", "POST", "/v1/payouts", "bob", `{"account_id":"alice"}`, 404, tollgate.CodeNotFound},
		{"payout destination/not a Stripe account", "POST", "/v1/payouts/destination", "admin", `{"account_id":"alice","stripe_account":"bank 42"}`, 422, tollgate.CodeInvalidField},
		{"payout mark/unknown", "POST", "/v1/payouts/po_none/mark", "admin", `{"status":"paid"}`, 404, tollgate.CodeNotFound},
		{"leaderboard opt-in/missing", "POST", "/v1/leaderboards/opt_in", "alice", `{}`, 422, tollgate.CodeInvalidField},
		{"leaderboard/unknown board", "GET", "/v1/leaderboards?board=songs", "alice", ``, 422, tollgate.CodeInvalidField},
		{"earnings/bad date", "GET", "/v1/earnings?from=tomorrow", "alice", ``, 422, tollgate.CodeInvalidField},
		{"published/bad cursor", "GET", "/v1/published_videos?cursor=video_none", "alice", ``, 422, tollgate.CodeInvalidField},
	} {
		add(badCase{name: c.name, method: c.method, path: c.path, key: c.key, body: c.body, status: c.status, code: c.code})
	}
	return cs
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	b.WriteByte('}')
	return b.String()
}

// bigMetadata is 9 keys of 500-byte values: within the count, over 4 KiB.
func bigMetadata() string {
	var b strings.Builder
	b.WriteString("{")
	for i := range 9 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":"%s"`, i, strings.Repeat("v", 500))
	}
	b.WriteString("}")
	return b.String()
}
