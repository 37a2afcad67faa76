package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	r := e.call(t, request{Method: "GET", Path: "/healthz"}, http.StatusOK, nil)
	if got, want := string(r.Body), `{"status":"ok"}`; got != want {
		t.Errorf("got body %s, want %s", got, want)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
}

// TestHappyPath walks every endpoint once, in the order a client would,
// checking each answer in full.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	forEachStore(t, testHappyPath)
}

func testHappyPath(t *testing.T, e *env) {
	paris := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) // next midnight in Europe/Paris

	// Accounts.
	var alice accountView
	e.call(t, request{Method: "POST", Path: "/v1/accounts", Key: adminKey,
		Body: `{"id":"alice","name":"Alice","plan":"free","timezone":"Europe/Paris"}`}, http.StatusCreated, &alice)
	want := accountView{ID: "alice", Object: "account", Name: "Alice", Plan: "free", Timezone: "Europe/Paris", Status: "active", CreatedAt: testStart}
	if diff := cmp.Diff(want, alice); diff != "" {
		t.Errorf("create account (-want +got):\n%s", diff)
	}
	var gen accountView
	e.call(t, request{Method: "POST", Path: "/v1/accounts", Key: adminKey, Body: `{"name":"  Bob  "}`}, http.StatusCreated, &gen)
	if !strings.HasPrefix(gen.ID, "acct_") {
		t.Errorf("got generated id %q, want prefix acct_", gen.ID)
	}
	if want := (accountView{ID: gen.ID, Object: "account", Name: "Bob", Plan: "free", Timezone: "UTC", Status: "active", CreatedAt: testStart}); !cmp.Equal(want, gen) {
		t.Errorf("create account with defaults: got %+v, want %+v", gen, want)
	}
	var got accountView
	e.call(t, request{Method: "GET", Path: "/v1/accounts/alice", Key: adminKey}, http.StatusOK, &got)
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("get account (-want +got):\n%s", diff)
	}

	// List accounts, whole and page by page.
	var all listView[accountView]
	e.call(t, request{Method: "GET", Path: "/v1/accounts", Key: adminKey}, http.StatusOK, &all)
	if diff := cmp.Diff(listView[accountView]{Object: "list", Data: []accountView{gen, alice}}, all); diff != "" {
		t.Errorf("list accounts (-want +got):\n%s", diff)
	}
	var paged []accountView
	cursor := ""
	for i := 0; ; i++ {
		var page listView[accountView]
		e.call(t, request{Method: "GET", Path: "/v1/accounts?limit=1&cursor=" + cursor, Key: adminKey}, http.StatusOK, &page)
		if len(page.Data) > 1 {
			t.Fatalf("got %d accounts with limit=1, want at most 1", len(page.Data))
		}
		paged = append(paged, page.Data...)
		if !page.HasMore {
			if page.NextCursor != "" {
				t.Errorf("got next_cursor %q on the last page, want none", page.NextCursor)
			}
			break
		}
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = page.NextCursor
	}
	if diff := cmp.Diff(all.Data, paged); diff != "" {
		t.Errorf("accounts page by page (-whole +paged):\n%s", diff)
	}

	// An account key, used.
	var key keyView
	e.call(t, request{Method: "POST", Path: "/v1/accounts/alice/keys", Key: adminKey}, http.StatusCreated, &key)
	if key.Key == nil || !strings.HasPrefix(*key.Key, "tg_") || !strings.HasPrefix(key.ID, "key_") || key.Object != "api_key" || key.AccountID != "alice" || !key.CreatedAt.Equal(testStart) {
		t.Errorf("got key %+v, want a tg_ key of alice", key)
	}
	aliceKey := *key.Key
	e.call(t, request{Method: "GET", Path: "/v1/accounts/alice", Key: aliceKey}, http.StatusOK, &got)
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("get account with its own key (-want +got):\n%s", diff)
	}

	// Grants.
	purchase := e.grant(t, "alice", `{"credits":"100","source":"purchase","valid_for_days":365,"external_ref":"pay_1"}`)
	exp := testStart.Add(365 * 24 * time.Hour)
	wantGrant := grantView{ID: purchase.ID, Object: "grant", AccountID: "alice", Source: "purchase", Credits: cr("100"), Remaining: cr("100"),
		Products: []tollgate.Product{}, EffectiveAt: testStart, ExpiresAt: &exp, ExternalRef: "pay_1", CreatedAt: testStart}
	if diff := cmp.Diff(wantGrant, purchase); diff != "" {
		t.Errorf("grant (-want +got):\n%s", diff)
	}
	promo := e.grant(t, "alice", `{"credits":12.5,"source":"promo","products":["assistant"],"priority":5}`)
	wantGrant = grantView{ID: promo.ID, Object: "grant", AccountID: "alice", Source: "promo", Credits: cr("12.5"), Remaining: cr("12.5"),
		Products: []tollgate.Product{"assistant"}, Priority: 5, EffectiveAt: testStart, CreatedAt: testStart}
	if diff := cmp.Diff(wantGrant, promo); diff != "" {
		t.Errorf("grant with a bare number (-want +got):\n%s", diff)
	}

	// The balance, both ways.
	byAdmin := e.call(t, request{Method: "GET", Path: "/v1/accounts/alice/balance", Key: adminKey}, http.StatusOK, nil)
	byKey := e.call(t, request{Method: "GET", Path: "/v1/balance", Key: aliceKey}, http.StatusOK, nil)
	byKeyPath := e.call(t, request{Method: "GET", Path: "/v1/accounts/alice/balance", Key: aliceKey}, http.StatusOK, nil)
	if string(byAdmin.Body) != string(byKey.Body) || string(byAdmin.Body) != string(byKeyPath.Body) {
		t.Errorf("the balance differs by path:\nadmin %s\n/v1/balance %s\nkey on the account path %s", byAdmin.Body, byKey.Body, byKeyPath.Body)
	}
	allowance := allowanceView{Product: "video", Limit: cr("30"), Used: 0, Remaining: cr("30"), ResetsAt: paris}
	wantBal := balanceView{Object: "balance", AccountID: "alice", Plan: "free", AsOf: testStart,
		Available: cr("142.5"), Held: 0,
		ByProduct:       map[tollgate.Product]tollgate.Credits{"video": cr("130"), "assistant": cr("112.5"), "stitch": cr("100")},
		DailyAllowance:  &allowance,
		DailyAllowances: []allowanceView{allowance},
		Grants: []balanceGrantView{
			{ID: purchase.ID, Source: "purchase", Remaining: cr("100"), Products: []tollgate.Product{}, ExpiresAt: &exp},
			{ID: promo.ID, Source: "promo", Remaining: cr("12.5"), Products: []tollgate.Product{"assistant"}},
		},
		ExpiringSoon:         []balanceGrantView{},
		UpcomingChanges:      []planChangeView{},
		UpcomingPriceChanges: []priceChangeView{},
	}
	var bal balanceView
	if err := json.Unmarshal(byAdmin.Body, &bal); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantBal, bal); diff != "" {
		t.Errorf("balance (-want +got):\n%s", diff)
	}

	// A hold: today's allowance first, then the purchase.
	h := e.hold(t, aliceKey, `{"product":"video","credits":"40","metadata":{"job":"j1"}}`)
	if len(h.Allocations) != 2 {
		t.Fatalf("got allocations %+v, want the allowance then the purchase", h.Allocations)
	}
	allowanceGrant := h.Allocations[0].GrantID
	wantHold := holdView{ID: h.ID, Object: "hold", AccountID: "alice", Product: "video", Credits: cr("40"), Status: "pending",
		Allocations: []allocationView{{allowanceGrant, cr("30")}, {purchase.ID, cr("10")}},
		Metadata:    map[string]string{"job": "j1"}, CreatedAt: testStart, ExpiresAt: ptr(testStart.Add(time.Hour))}
	if diff := cmp.Diff(wantHold, h); diff != "" {
		t.Errorf("hold (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(h.ID, "hold_") || allowanceGrant == purchase.ID {
		t.Errorf("got hold id %q drawing first on %q, want a hold_ id drawing on today's allowance", h.ID, allowanceGrant)
	}
	for _, k := range []string{adminKey, aliceKey} {
		var gotHold holdView
		e.call(t, request{Method: "GET", Path: "/v1/holds/" + h.ID, Key: k}, http.StatusOK, &gotHold)
		if diff := cmp.Diff(wantHold, gotHold); diff != "" {
			t.Errorf("get hold (-want +got):\n%s", diff)
		}
	}
	bal = e.balance(t, "alice")
	if bal.Available != cr("102.5") || bal.Held != cr("40") || bal.DailyAllowance.Used != cr("30") || bal.DailyAllowance.Remaining != 0 {
		t.Errorf("balance after the hold: got available %s held %s allowance %+v, want 102.5, 40 and all 30 used",
			bal.Available, bal.Held, bal.DailyAllowance)
	}

	// A partial capture: the rest goes back, allowance first charged.
	var captured holdView
	e.call(t, request{Method: "POST", Path: "/v1/holds/" + h.ID + "/capture", Key: aliceKey, Body: `{"credits":"25.5"}`}, http.StatusOK, &captured)
	wantHold.Status, wantHold.Captured, wantHold.SettledAt = "captured", cr("25.5"), &testStart
	if diff := cmp.Diff(wantHold, captured); diff != "" {
		t.Errorf("partial capture (-want +got):\n%s", diff)
	}
	bal = e.balance(t, "alice")
	if bal.Available != cr("117") || bal.Held != 0 || bal.DailyAllowance.Remaining != cr("4.5") {
		t.Errorf("balance after a partial capture: got available %s held %s allowance %+v, want 117, 0 and 4.5 left",
			bal.Available, bal.Held, bal.DailyAllowance)
	}

	// A full capture with an empty body, by the admin, with a TTL.
	h2 := e.hold(t, adminKey, `{"account_id":"alice","product":"stitch","credits":"5","ttl_seconds":600}`)
	if !h2.ExpiresAt.Equal(testStart.Add(600 * time.Second)) {
		t.Errorf("got expires_at %v, want 600s after %v", h2.ExpiresAt, testStart)
	}
	e.call(t, request{Method: "POST", Path: "/v1/holds/" + h2.ID + "/capture", Key: adminKey}, http.StatusOK, &captured)
	if captured.Status != "captured" || captured.Captured != cr("5") {
		t.Errorf("full capture: got status %s captured %s, want captured 5", captured.Status, captured.Captured)
	}

	// A release.
	h3 := e.hold(t, aliceKey, `{"product":"video","credits":"7"}`)
	var released holdView
	e.call(t, request{Method: "POST", Path: "/v1/holds/" + h3.ID + "/release", Key: aliceKey}, http.StatusOK, &released)
	if released.Status != "released" || released.Captured != 0 || released.SettledAt == nil {
		t.Errorf("release: got %+v, want status released, nothing captured, settled", released)
	}

	// Usage: charged at once, from the soonest-expiring grant that pays.
	var use holdView
	e.call(t, request{Method: "POST", Path: "/v1/usage", Key: aliceKey, Body: `{"product":"assistant","credits":"2.5"}`}, http.StatusCreated, &use)
	wantUse := holdView{ID: use.ID, Object: "usage", AccountID: "alice", Product: "assistant", Credits: cr("2.5"), Captured: cr("2.5"),
		Status: "captured", Allocations: []allocationView{{purchase.ID, cr("2.5")}}, Metadata: map[string]string{},
		CreatedAt: testStart, ExpiresAt: nil, SettledAt: &testStart}
	if diff := cmp.Diff(wantUse, use); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}

	bal = e.balance(t, "alice")
	wantFinal := map[tollgate.Product]tollgate.Credits{"video": cr("97"), "assistant": cr("105"), "stitch": cr("92.5")}
	if bal.Available != cr("109.5") || bal.Held != 0 || !cmp.Equal(wantFinal, bal.ByProduct) {
		t.Errorf("final balance: got available %s held %s by product %v, want 109.5, 0, %v", bal.Available, bal.Held, bal.ByProduct, wantFinal)
	}

	// The journal, whole and page by page.
	var whole listView[entryView]
	e.call(t, request{Method: "GET", Path: "/v1/accounts/alice/entries?limit=100", Key: aliceKey}, http.StatusOK, &whole)
	if whole.HasMore {
		t.Fatalf("got has_more with limit=100 on a short journal")
	}
	var stored int
	if err := e.store.Read(e.ctx, func(tx store.Tx) error {
		es, err := tx.EntryList(e.ctx, store.EntryListParams{AccountID: "alice"})
		stored = len(es)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(whole.Data) != stored || stored == 0 {
		t.Errorf("got %d entries, want the %d stored", len(whole.Data), stored)
	}
	sums := map[string]tollgate.Credits{}
	for i, en := range whole.Data {
		sums[en.TxnID] += en.Credits
		if en.AccountID != "alice" || en.Object != "entry" {
			t.Errorf("entry %d: got %+v, want an entry of alice", i, en)
		}
		if i > 0 {
			prev, _ := strconv.ParseInt(whole.Data[i-1].ID, 10, 64)
			cur, _ := strconv.ParseInt(en.ID, 10, 64)
			if cur <= prev {
				t.Errorf("entry ids out of order: %d after %d", cur, prev)
			}
		}
	}
	for txn, sum := range sums {
		if sum != 0 {
			t.Errorf("transaction %s sums to %s, want 0", txn, sum)
		}
	}
	var paged2 []entryView
	cursor = ""
	for pages := 1; ; pages++ {
		var page listView[entryView]
		path := "/v1/accounts/alice/entries?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		e.call(t, request{Method: "GET", Path: path, Key: adminKey}, http.StatusOK, &page)
		if len(page.Data) > 3 {
			t.Fatalf("got %d entries with limit=3", len(page.Data))
		}
		paged2 = append(paged2, page.Data...)
		if !page.HasMore {
			if page.NextCursor != "" {
				t.Errorf("got next_cursor %q on the last page, want none", page.NextCursor)
			}
			// ceil(stored/3) pages; when the entries fill the pages exactly,
			// the last may be followed by an empty one.
			want := (stored + 2) / 3
			emptyLast := stored%3 == 0 && pages == want+1
			if pages != want && !emptyLast {
				t.Errorf("got %d pages of 3 for %d entries", pages, stored)
			}
			break
		}
		if page.NextCursor != page.Data[len(page.Data)-1].ID {
			t.Errorf("got next_cursor %q, want the last entry's id %q", page.NextCursor, page.Data[len(page.Data)-1].ID)
		}
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		cursor = page.NextCursor
	}
	if diff := cmp.Diff(whole.Data, paged2); diff != "" {
		t.Errorf("entries page by page (-whole +paged):\n%s", diff)
	}
}

// TestInsufficientCredits checks the 402 body.
func TestInsufficientCredits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "poor", "free", "America/New_York")
		key := e.createKey(t, "poor")

		r := e.do(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"1000"}`})
		p := problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
		reset := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC) // midnight in New York
		want := Problem{Type: "urn:tollgate:problem:insufficient_credits", Title: titles[tollgate.CodeInsufficientCredits], Status: 402,
			Detail: p.Detail, Code: tollgate.CodeInsufficientCredits, Instance: "/v1/holds",
			AccountID: "poor", Product: "video", Required: ptr(cr("1000")), Available: ptr(cr("30")),
			DailyAllowanceResetsAt: &reset, Offers: p.Offers}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("402 (-want +got):\n%s", diff)
		}
		if p.Offers == nil || len(*p.Offers) != 1 {
			t.Fatalf("got offers %v, want pack_10", p.Offers)
		}
		o := (*p.Offers)[0]
		if o.PackID != "pack_10" || o.Credits != cr("10") || o.Price.Amount != 400 || o.ValidForDays != 365 ||
			!strings.HasPrefix(o.CheckoutURL, e.srv.URL+"/checkout/start?") {
			t.Errorf("got offer %+v, want pack_10: 10 credits for 400, 365 days, a checkout link", o)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &raw); err != nil {
			t.Fatalf("402 body %s: %v", r.Body, err)
		}
		for _, m := range []string{"required", "available", "daily_allowance_resets_at"} {
			if _, ok := raw[m]; !ok {
				t.Errorf("got no %s member in %s", m, r.Body)
			}
		}

		// Usage fails alike; a product without allowance has no reset time.
		r = e.do(t, request{Method: "POST", Path: "/v1/usage", Key: key, Body: `{"product":"assistant","credits":"0.000001"}`})
		p = problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
		if *p.Required != 1 || *p.Available != 0 || p.DailyAllowanceResetsAt != nil {
			t.Errorf("got required %s available %s resets %v, want 0.000001, 0 and none", p.Required, p.Available, p.DailyAllowanceResetsAt)
		}

		// The offers list what pays for the product.
		r = e.do(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"stitch","credits":"1"}`})
		p = problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
		if p.Offers == nil || len(*p.Offers) != 1 || (*p.Offers)[0].PackID != "pack_10" {
			t.Errorf("got offers %v, want pack_10", p.Offers)
		}
	})
}

// TestInsufficientChangesNothing: a refused hold leaves no trace, even on
// the account's first use of the day.
func TestInsufficientChangesNothing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "poor", "free", "UTC")
		for _, tc := range []struct {
			name, path, body string
		}{
			{"hold without allowance", "/v1/holds", `{"account_id":"poor","product":"assistant","credits":"1"}`},
			{"usage without allowance", "/v1/usage", `{"account_id":"poor","product":"stitch","credits":"1"}`},
			{"hold beyond the allowance", "/v1/holds", `{"account_id":"poor","product":"video","credits":"31"}`},
			{"usage beyond the allowance", "/v1/usage", `{"account_id":"poor","product":"video","credits":"31"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				r := e.do(t, request{Method: "POST", Path: tc.path, Key: adminKey, Body: tc.body})
				problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
				e.unchanged(t, before)
			})
		}
	})
}

func TestAccountSuspended(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "sus", "free", "UTC")
		e.grant(t, "sus", `{"credits":"10"}`)
		e.hold(t, adminKey, `{"account_id":"sus","product":"video","credits":"1"}`) // the committer now knows the account
		var a accountView
		e.call(t, request{Method: "POST", Path: "/v1/accounts/sus", Key: adminKey, Body: `{"status":"suspended"}`}, http.StatusOK, &a)
		if a.Status != "suspended" {
			t.Fatalf("account %+v, want suspended", a)
		}
		for _, path := range []string{"/v1/holds", "/v1/usage"} {
			before := e.world(t)
			r := e.do(t, request{Method: "POST", Path: path, Key: adminKey, Body: `{"account_id":"sus","product":"video","credits":"1"}`})
			problemOf(t, r, http.StatusForbidden, tollgate.CodeAccountSuspended)
			e.unchanged(t, before)
		}
	})
}

// TestIdempotency: the same key and body get the same answer, marked as a
// replay, and act once; the same key with another body is a 409.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "alice", "free", "UTC")
		aliceKey := e.createKey(t, "alice")
		e.grant(t, "alice", `{"credits":"1000"}`)
		hc := e.hold(t, adminKey, `{"account_id":"alice","product":"video","credits":"10"}`)
		hr := e.hold(t, adminKey, `{"account_id":"alice","product":"video","credits":"10"}`)

		tests := []struct {
			name, path, key, body, other string
			status                       int
		}{
			{"create account", "/v1/accounts", adminKey, `{"id":"idem","name":"Idem"}`, `{"id":"idem","name":"Other"}`, 201},
			{"create account, generated id", "/v1/accounts", adminKey, `{"name":"Gen"}`, `{"name":"Gen2"}`, 201},
			{"grant", "/v1/accounts/alice/grants", adminKey, `{"credits":"5"}`, `{"credits":"6"}`, 201},
			{"hold", "/v1/holds", aliceKey, `{"product":"video","credits":"3"}`, `{"product":"video","credits":"4"}`, 201},
			{"hold by admin", "/v1/holds", adminKey, `{"account_id":"alice","product":"video","credits":"3"}`, `{"account_id":"alice","product":"video","credits":"3.0"}`, 201},
			{"usage", "/v1/usage", aliceKey, `{"product":"assistant","credits":"1"}`, `{"product":"assistant","credits":"2"}`, 201},
			{"capture", "/v1/holds/" + hc.ID + "/capture", aliceKey, `{"credits":"4"}`, `{"credits":"5"}`, 200},
			{"release", "/v1/holds/" + hr.ID + "/release", adminKey, ``, `{}`, 200},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				idem := map[string]string{"Idempotency-Key": fmt.Sprintf("key-%d", i)}
				first := e.do(t, request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body, Header: idem})
				if first.Status != tc.status {
					t.Fatalf("got status %d, want %d; body %s", first.Status, tc.status, first.Body)
				}
				if got := first.Header.Get("Idempotent-Replayed"); got != "" {
					t.Errorf("first answer: got Idempotent-Replayed %q, want none", got)
				}
				after := e.world(t)
				again := e.do(t, request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body, Header: idem})
				if again.Status != first.Status {
					t.Errorf("replay: got status %d, want %d", again.Status, first.Status)
				}
				if string(again.Body) != string(first.Body) {
					t.Errorf("replay: got body\n%s\nwant the first\n%s", again.Body, first.Body)
				}
				if got := again.Header.Get("Idempotent-Replayed"); got != "true" {
					t.Errorf("replay: got Idempotent-Replayed %q, want true", got)
				}
				if got := again.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("replay: got Content-Type %q, want application/json", got)
				}
				e.unchanged(t, after)

				r := e.do(t, request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.other, Header: idem})
				problemOf(t, r, http.StatusConflict, tollgate.CodeIdempotencyMismatch)
				e.unchanged(t, after)
			})
		}

		t.Run("one account, one checkout, one key for many retries at once", func(t *testing.T) {
			for _, c := range []struct{ path, body string }{
				{"/v1/accounts", `{"id":"racing","name":"Racing"}`},
				{"/v1/checkout", `{"account_id":"alice","pack_id":"pack_10"}`},
				{"/v1/accounts/alice/grants", `{"credits":"1"}`},
			} {
				idem := map[string]string{"Idempotency-Key": "race " + c.path}
				const n = 32
				var wg sync.WaitGroup
				rs := make([]response, n)
				for i := range n {
					wg.Go(func() {
						rs[i] = e.do(t, request{Method: "POST", Path: c.path, Key: adminKey, Body: c.body, Header: idem})
					})
				}
				wg.Wait()
				replays := 0
				for i, r := range rs {
					if r.Status != http.StatusCreated || string(r.Body) != string(rs[0].Body) {
						t.Errorf("%s answer %d: got %d %s, want 201 %s", c.path, i, r.Status, r.Body, rs[0].Body)
					}
					if r.Header.Get("Idempotent-Replayed") == "true" {
						replays++
					}
				}
				if replays != n-1 {
					t.Errorf("%s: got %d replays, want %d", c.path, replays, n-1)
				}
			}
		})

		t.Run("one hold for many retries at once", func(t *testing.T) {
			before := e.world(t)
			idem := map[string]string{"Idempotency-Key": "concurrent"}
			const n = 8
			var wg sync.WaitGroup
			rs := make([]response, n)
			for i := range n {
				wg.Go(func() {
					rs[i] = e.do(t, request{Method: "POST", Path: "/v1/holds", Key: aliceKey, Body: `{"product":"stitch","credits":"2"}`, Header: idem})
				})
			}
			wg.Wait()
			replays := 0
			for i, r := range rs {
				if r.Status != http.StatusCreated || string(r.Body) != string(rs[0].Body) {
					t.Errorf("answer %d: got %d %s, want 201 %s", i, r.Status, r.Body, rs[0].Body)
				}
				if r.Header.Get("Idempotent-Replayed") == "true" {
					replays++
				}
			}
			if replays != n-1 {
				t.Errorf("got %d replays, want %d", replays, n-1)
			}
			after := e.world(t)
			if got := len(after.Holds) - len(before.Holds); got != 1 {
				t.Errorf("got %d new holds, want 1", got)
			}
		})

		t.Run("another endpoint", func(t *testing.T) {
			idem := map[string]string{"Idempotency-Key": "cross"}
			e.call(t, request{Method: "POST", Path: "/v1/holds", Key: aliceKey, Body: `{"product":"video","credits":"1"}`, Header: idem}, http.StatusCreated, nil)
			before := e.world(t)
			r := e.do(t, request{Method: "POST", Path: "/v1/usage", Key: aliceKey, Body: `{"product":"video","credits":"1"}`, Header: idem})
			problemOf(t, r, http.StatusConflict, tollgate.CodeIdempotencyMismatch)
			e.unchanged(t, before)
		})

		t.Run("a key's secret is shown once, never stored", func(t *testing.T) {
			idem := map[string]string{"Idempotency-Key": "new-key"}
			var first, again struct {
				ID  string  `json:"id"`
				Key *string `json:"key"`
			}
			e.call(t, request{Method: "POST", Path: "/v1/accounts/alice/keys", Key: adminKey, Header: idem}, http.StatusCreated, &first)
			r := e.call(t, request{Method: "POST", Path: "/v1/accounts/alice/keys", Key: adminKey, Header: idem}, http.StatusCreated, &again)
			if first.Key == nil || !strings.HasPrefix(*first.Key, "tg_") {
				t.Fatalf("first answer: got key %v, want the secret", first.Key)
			}
			if again.ID != first.ID || again.Key != nil || r.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: got id %s key %v, want %s and null, replayed", again.ID, again.Key, first.ID)
			}
			admin, err := e.l.Authenticate(e.ctx, adminKey)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := storedAnswer(e, "admin:"+admin.ID, "new-key")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(rec), *first.Key) {
				t.Fatalf("the remembered answer holds the secret: %s", rec)
			}
			e.call(t, request{Method: "GET", Path: "/v1/balance", Key: *first.Key}, http.StatusOK, nil)
		})

		t.Run("keys are scoped to the caller", func(t *testing.T) {
			idem := map[string]string{"Idempotency-Key": "scoped"}
			body := `{"account_id":"alice","product":"video","credits":"1"}`
			a := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: aliceKey, Body: body, Header: idem}, http.StatusCreated, nil)
			b := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: body, Header: idem}, http.StatusCreated, nil)
			if b.Header.Get("Idempotent-Replayed") != "" || string(a.Body) == string(b.Body) {
				t.Errorf("the admin's request replayed the account's: %s", b.Body)
			}
		})

		t.Run("a refused request is not remembered", func(t *testing.T) {
			e.createAccount(t, "later", "free", "UTC")
			idem := map[string]string{"Idempotency-Key": "retry-after-402"}
			body := `{"account_id":"later","product":"assistant","credits":"5"}`
			r := e.do(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: body, Header: idem})
			problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)
			e.grant(t, "later", `{"credits":"5"}`)
			r = e.call(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: body, Header: idem}, http.StatusCreated, nil)
			if got := r.Header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("got Idempotent-Replayed %q after a refusal, want a fresh answer", got)
			}
		})

		t.Run("keys are forgotten after 48 hours", func(t *testing.T) {
			for _, sweep := range []bool{true, false} {
				t.Run(fmt.Sprintf("sweep=%v", sweep), func(t *testing.T) {
					testForgetKey(t, e, sweep)
				})
			}
		})
	})
}

func testForgetKey(t *testing.T, e *env, sweep bool) {
	idem := map[string]string{"Idempotency-Key": fmt.Sprintf("old-%v", sweep)}
	body := `{"account_id":"alice","product":"stitch","credits":"1"}`
	first := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: body, Header: idem}, http.StatusCreated, nil)
	e.clock.Advance(49 * time.Hour)
	if sweep {
		if _, err := e.l.Sweep(e.ctx); err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	again := e.call(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: body, Header: idem}, http.StatusCreated, nil)
	if again.Header.Get("Idempotent-Replayed") != "" || string(again.Body) == string(first.Body) {
		t.Errorf("got a replay after 49 hours: %s", again.Body)
	}
}

// storedAnswer returns the answer remembered for an Idempotency-Key.
func storedAnswer(e *env, scope, key string) ([]byte, error) {
	var body []byte
	err := e.store.Read(e.ctx, func(tx store.Tx) error {
		rec, err := tx.IdempotencyByKey(e.ctx, scope, key)
		body = rec.Body
		return err
	})
	return body, err
}
