package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tollgate"
)

// TestKeysListAndRevoke: keys are listed by name and prefix without their
// secrets; a revoked key is refused at once by the instance that revoked
// it, and by another instance within that instance's key cache lifetime.
func TestKeysListAndRevoke(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "kim", "free", "UTC")
		var made keyView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/kim/keys", Key: adminKey, Body: `{"name":"ci runner"}`}, http.StatusCreated, &made)
		if made.Key == nil || made.Name != "ci runner" || !strings.HasPrefix(*made.Key, made.Prefix) || len(made.Prefix) != 10 {
			t.Fatalf("made %+v: want the secret, the name and a 10-character prefix of it", made)
		}
		secret := *made.Key
		e.createKey(t, "kim")
		e.call(t, request{Method: "GET", Path: "/v1/balance", Key: secret}, http.StatusOK, nil)

		var list listView[keyView]
		e.call(t, request{Method: "GET", Path: "/v1/accounts/kim/keys", Key: adminKey}, http.StatusOK, &list)
		if len(list.Data) != 2 {
			t.Fatalf("got %d keys, want 2", len(list.Data))
		}
		for _, k := range list.Data {
			if k.Key != nil || k.RevokedAt != nil {
				t.Fatalf("listed %+v: want no secret, not revoked", k)
			}
		}
		if k := list.Data[0]; k.ID != made.ID || k.LastUsedAt == nil {
			t.Fatalf("first key listed %+v: want %s with a last use", k, made.ID)
		}

		// Another instance on the same database, trusting keys 300 ms.
		cfg := e.api.Config
		cfg.Log, cfg.KeyCacheTTL = slog.New(slog.NewTextHandler(io.Discard, nil)), 300*time.Millisecond
		other := New(cfg)
		osrv := httptest.NewServer(other)
		defer osrv.Close()
		use := func(base string) int {
			req, _ := http.NewRequest("GET", base+"/v1/balance", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close() // only the status matters here
			return res.StatusCode
		}
		if st := use(osrv.URL); st != http.StatusOK {
			t.Fatalf("the other instance: got %d before revocation, want 200", st)
		}
		var revoked keyView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/kim/keys/" + made.ID + "/revoke", Key: adminKey}, http.StatusOK, &revoked)
		if revoked.RevokedAt == nil || revoked.Key != nil {
			t.Fatalf("revoked %+v: want revoked_at and no secret", revoked)
		}
		if st := use(e.srv.URL); st != http.StatusUnauthorized {
			t.Fatalf("the revoking instance: got %d right after, want 401", st)
		}
		began := time.Now()
		for use(osrv.URL) != http.StatusUnauthorized {
			if time.Since(began) > 2*time.Second {
				t.Fatal("the other instance still accepts the revoked key after 2 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if took := time.Since(began); took > time.Second {
			t.Fatalf("the other instance refused the key after %v, want within its 300 ms cache", took)
		}
		// Revoking again changes nothing.
		var again keyView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/kim/keys/" + made.ID + "/revoke", Key: adminKey}, http.StatusOK, &again)
		if !again.RevokedAt.Equal(*revoked.RevokedAt) {
			t.Fatalf("revoked again: revoked_at %v, want %v", again.RevokedAt, revoked.RevokedAt)
		}
		e.call(t, request{Method: "POST", Path: "/v1/accounts/other/keys/" + made.ID + "/revoke", Key: adminKey}, http.StatusNotFound, nil)
	})
}

// TestListHolds: an account's holds, filtered by status (an overdue pending
// hold is expired, as every read sees it), product and time, a page at a
// time; another account's key sees none of them.
func TestListHolds(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "lh", "free", "UTC")
		key := e.createKey(t, "lh")
		e.grant(t, "lh", `{"credits":"100"}`)
		var short holdView
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"1","ttl_seconds":60}`}, http.StatusCreated, &short)
		for range 3 {
			e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"1"}`}, http.StatusCreated, nil)
		}
		mid := e.clock.Now()
		e.clock.Advance(2 * time.Minute) // the short hold is now overdue
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: key, Body: `{"product":"assistant","credits":"1"}`}, http.StatusCreated, nil)
		list := func(q string) listView[holdView] {
			var l listView[holdView]
			e.call(t, request{Method: "GET", Path: "/v1/accounts/lh/holds" + q, Key: key}, http.StatusOK, &l)
			return l
		}
		if l := list(""); len(l.Data) != 5 || l.HasMore {
			t.Fatalf("all: %d, has_more %v; want 5", len(l.Data), l.HasMore)
		}
		if l := list("?status=pending"); len(l.Data) != 3 {
			t.Fatalf("pending: %d, want 3 (the overdue one is expired)", len(l.Data))
		}
		if l := list("?status=expired"); len(l.Data) != 1 || l.Data[0].ID != short.ID || l.Data[0].Status != "expired" {
			t.Fatalf("expired: %+v, want the short hold", l.Data)
		}
		if l := list("?product=assistant"); len(l.Data) != 1 || l.Data[0].Object != "usage" {
			t.Fatalf("assistant: %+v, want the usage", l.Data)
		}
		if l := list("?created_after=" + mid.Add(time.Second).Format(time.RFC3339)); len(l.Data) != 1 {
			t.Fatalf("after the middle: %d, want 1", len(l.Data))
		}
		first := list("?limit=2")
		second := list("?limit=2&cursor=" + first.NextCursor)
		third := list("?limit=2&cursor=" + second.NextCursor)
		if !first.HasMore || !second.HasMore || third.HasMore || len(third.Data) != 1 || first.Data[1].ID >= second.Data[0].ID {
			t.Fatalf("pages: %d %v, %d %v, %d %v", len(first.Data), first.HasMore, len(second.Data), second.HasMore, len(third.Data), third.HasMore)
		}
		e.call(t, request{Method: "GET", Path: "/v1/accounts/lh/holds?status=done", Key: key}, http.StatusUnprocessableEntity, nil)
		e.createAccount(t, "other", "free", "UTC")
		e.call(t, request{Method: "GET", Path: "/v1/accounts/lh/holds", Key: e.createKey(t, "other")}, http.StatusNotFound, nil)
	})
}

// TestListOrders: the operator lists every order, or one account's, by
// status; an account's key lists its own orders only.
func TestListOrders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "o1", "free", "UTC")
		e.createAccount(t, "o2", "free", "UTC")
		k1 := e.createKey(t, "o1")
		var paid checkoutView
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: k1, Body: `{"pack_id":"pack_10"}`}, http.StatusCreated, &paid)
		if status, _ := e.page(t, "POST", paid.CheckoutURL); status != 200 {
			t.Fatal("confirm failed")
		}
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: k1, Body: `{"pack_id":"pack_10"}`}, http.StatusCreated, nil)
		e.call(t, request{Method: "POST", Path: "/v1/checkout", Key: adminKey, Body: `{"account_id":"o2","pack_id":"pack_10"}`}, http.StatusCreated, nil)
		list := func(key, path string) listView[orderView] {
			var l listView[orderView]
			e.call(t, request{Method: "GET", Path: path, Key: key}, http.StatusOK, &l)
			return l
		}
		if l := list(adminKey, "/v1/orders"); len(l.Data) != 3 {
			t.Fatalf("all orders: %d, want 3", len(l.Data))
		}
		if l := list(adminKey, "/v1/orders?account_id=o1&status=pending"); len(l.Data) != 1 || l.Data[0].AccountID != "o1" {
			t.Fatalf("o1's pending: %+v", l.Data)
		}
		if l := list(k1, "/v1/orders"); len(l.Data) != 2 {
			t.Fatalf("o1's own, by its key: %d, want 2", len(l.Data))
		}
		if l := list(k1, "/v1/accounts/o1/orders?status=completed"); len(l.Data) != 1 || l.Data[0].ID != paid.Order.ID {
			t.Fatalf("o1's completed: %+v", l.Data)
		}
		if l := list(adminKey, "/v1/orders?limit=2"); !l.HasMore || len(list(adminKey, "/v1/orders?limit=2&cursor="+l.NextCursor).Data) != 1 {
			t.Fatalf("pages of 2: %+v", l)
		}
		e.call(t, request{Method: "GET", Path: "/v1/accounts/o2/orders", Key: k1}, http.StatusNotFound, nil)
		e.call(t, request{Method: "GET", Path: "/v1/orders?status=paid", Key: adminKey}, http.StatusUnprocessableEntity, nil)
	})
}

// TestListGrants: an account's grants by source, open or closed (expiry
// applied as of now, before the sweeper), a page at a time.
func TestListGrants(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "lg", "free", "UTC")
		key := e.createKey(t, "lg")
		e.grant(t, "lg", `{"credits":"5","source":"promo","valid_for_days":1}`)
		e.grant(t, "lg", `{"credits":"7"}`)
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: key, Body: `{"product":"video","credits":"1"}`}, http.StatusCreated, nil) // makes today's allowance
		e.clock.Advance(36 * time.Hour)                                                                                                     // the promo and the allowance expire
		list := func(q string) listView[grantView] {
			var l listView[grantView]
			e.call(t, request{Method: "GET", Path: "/v1/accounts/lg/grants" + q, Key: key}, http.StatusOK, &l)
			return l
		}
		if l := list(""); len(l.Data) != 3 {
			t.Fatalf("all: %d, want 3", len(l.Data))
		}
		if l := list("?status=open"); len(l.Data) != 1 || l.Data[0].Remaining != cr("7") {
			t.Fatalf("open: %+v, want the 7", l.Data)
		}
		if l := list("?status=closed&source=promo"); len(l.Data) != 1 || l.Data[0].Remaining != cr("0") {
			t.Fatalf("closed promos: %+v, want the expired promo with nothing left", l.Data)
		}
		if l := list("?limit=2"); !l.HasMore || len(list("?limit=2&cursor="+l.NextCursor).Data) != 1 {
			t.Fatalf("pages of 2: %+v", l)
		}
		e.call(t, request{Method: "GET", Path: "/v1/accounts/lg/grants?status=spent", Key: key}, http.StatusUnprocessableEntity, nil)
		// What a pending hold draws is shown held on the grants it drew on,
		// and leaves them when the hold is released.
		var h holdView
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"8"}`}, http.StatusCreated, &h)
		heldNow := func() (sum tollgate.Credits) {
			for _, g := range list("?limit=100").Data {
				sum += g.Held
			}
			return sum
		}
		if got := heldNow(); got != cr("8") {
			t.Fatalf("held on the grants with a pending hold of 8: %s", got)
		}
		e.call(t, request{Method: "POST", Path: "/v1/holds/" + h.ID + "/release", Key: key, Body: `{}`}, http.StatusOK, nil)
		if got := heldNow(); got != 0 {
			t.Fatalf("held on the grants after the release: %s, want 0", got)
		}
	})
}

// TestListEntries: an account's journal filtered by kind, book, grant,
// hold, transaction and time, a page at a time; a filter that matches only
// entries far down a long journal still fills its page.
func TestListEntries(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		// 300 requests at once: more than the default rate allows a key.
		e.call(t, request{Method: "POST", Path: "/v1/plans/bulk/versions", Key: adminKey,
			Body: `{"daily_allowances":{},"limits":{"requests_per_second":100000}}`}, http.StatusCreated, nil)
		e.createAccount(t, "le", "bulk", "UTC")
		key := e.createKey(t, "le")
		var g grantView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/le/grants", Key: adminKey, Body: `{"credits":"1000"}`}, http.StatusCreated, &g)
		for range 300 { // more journal rows than one read takes
			e.call(t, request{Method: "POST", Path: "/v1/usage", Key: key, Body: `{"product":"assistant","credits":"1"}`}, http.StatusCreated, nil)
		}
		mid := e.clock.Now()
		e.clock.Advance(time.Minute)
		var h holdView
		e.call(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"assistant","credits":"5"}`}, http.StatusCreated, &h)
		e.call(t, request{Method: "POST", Path: "/v1/holds/" + h.ID + "/capture", Key: key, Body: `{"credits":"2"}`}, http.StatusOK, nil)
		list := func(q string) listView[entryView] {
			var l listView[entryView]
			e.call(t, request{Method: "GET", Path: "/v1/accounts/le/entries" + q, Key: key}, http.StatusOK, &l)
			return l
		}
		byHold := list("?hold_id=" + h.ID + "&limit=100")
		if len(byHold.Data) == 0 || byHold.HasMore {
			t.Fatalf("by hold: %d entries, has_more %v", len(byHold.Data), byHold.HasMore)
		}
		kinds := map[string]bool{}
		for _, x := range byHold.Data {
			if x.HoldID != h.ID {
				t.Fatalf("by hold: entry of hold %q", x.HoldID)
			}
			kinds[x.Kind] = true
		}
		if !kinds["hold"] || !kinds["capture"] || len(kinds) != 2 {
			t.Fatalf("by hold: kinds %v, want hold and capture", kinds)
		}
		capture := list("?kind=capture&book=revenue:assistant")
		if len(capture.Data) != 1 || capture.Data[0].Credits != cr("2") {
			t.Fatalf("captured revenue: %+v, want one entry of 2", capture.Data)
		}
		txn := list("?transaction_id=" + capture.Data[0].TxnID + "&limit=100")
		sum := cr("0")
		for _, x := range txn.Data {
			sum += x.Credits
		}
		if len(txn.Data) < 2 || sum != 0 {
			t.Fatalf("one transaction: %d entries summing to %s; want a balanced transaction", len(txn.Data), sum)
		}
		if l := list("?kind=grant"); len(l.Data) != 2 || l.Data[0].GrantID != g.ID && l.Data[1].GrantID != g.ID {
			t.Fatalf("grant entries: %+v", l.Data)
		}
		usages := 0
		for c := ""; ; {
			l := list("?kind=usage&book=revenue:assistant&created_before=" + mid.Add(time.Second).Format(time.RFC3339Nano) + "&limit=100" + c)
			usages += len(l.Data)
			if !l.HasMore {
				break
			}
			c = "&cursor=" + l.NextCursor
		}
		if usages != 300 {
			t.Fatalf("usage revenue before the middle: %d entries, want 300", usages)
		}
		if l := list("?created_after=" + mid.Add(time.Second).Format(time.RFC3339Nano) + "&book=held"); len(l.Data) != 2 ||
			l.Data[0].Credits != cr("5") || l.Data[1].Credits != cr("-5") {
			t.Fatalf("held after the middle: %+v, want the hold's 5 in and out", l.Data)
		}
		if l := list("?grant_id=nope"); len(l.Data) != 0 {
			t.Fatalf("unknown grant: %d entries", len(l.Data))
		}
		e.call(t, request{Method: "GET", Path: "/v1/accounts/le/entries?kind=spend", Key: key}, http.StatusUnprocessableEntity, nil)
		e.call(t, request{Method: "GET", Path: "/v1/accounts/le/entries?book=revenue:music", Key: key}, http.StatusUnprocessableEntity, nil)
	})
}

// TestMetadataStoredOnce: a hold's metadata is kept on the hold only; the
// answer remembered for its Idempotency-Key leaves it out, and the replay
// puts it back, byte for byte the first answer.
func TestMetadataStoredOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "md", "free", "UTC")
		key := e.createKey(t, "md")
		e.grant(t, "md", `{"credits":"10"}`)
		for _, path := range []string{"/v1/holds", "/v1/usage"} {
			idem := map[string]string{"Idempotency-Key": "md-" + path}
			req := request{Method: "POST", Path: path, Key: key, Header: idem,
				Body: `{"product":"video","credits":"1","metadata":{"job":"render-4471-unique","scene":"b"}}`}
			first := e.call(t, req, http.StatusCreated, nil)
			stored, err := storedAnswer(e, "account:md", "md-"+path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(stored), "render-4471-unique") {
				t.Fatalf("%s: the remembered answer holds the metadata: %s", path, stored)
			}
			again := e.call(t, req, http.StatusCreated, nil)
			if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
				t.Fatalf("%s: replay %s\nwant       %s", path, again.Body, first.Body)
			}
		}
		plain := request{Method: "POST", Path: "/v1/holds", Key: key, Header: map[string]string{"Idempotency-Key": "md-none"},
			Body: `{"product":"video","credits":"1"}`}
		first := e.call(t, plain, http.StatusCreated, nil)
		if again := e.call(t, plain, http.StatusCreated, nil); string(again.Body) != string(first.Body) {
			t.Fatalf("without metadata: replay %s, want %s", again.Body, first.Body)
		}
	})
}
