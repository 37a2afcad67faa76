package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuditLog: each admin action is recorded once, with its key, its
// request id and what changed, in the transaction that made it: a replayed
// request and a refused one add nothing; the log filters, pages and
// exports as CSV.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "au", "free", "UTC")
		e.call(t, request{Method: "POST", Path: "/v1/accounts/au", Key: adminKey, Body: `{"plan":"pro","status":"suspended"}`}, http.StatusOK, nil)
		k := e.createKeyWith(t, "au", `{"name":"ci","scopes":["read"]}`)
		e.call(t, request{Method: "POST", Path: "/v1/accounts/au/keys/" + k.ID + "/revoke", Key: adminKey}, http.StatusOK, nil)
		grant := request{Method: "POST", Path: "/v1/accounts/au/grants", Key: adminKey, Body: `{"credits":"5","source":"promo"}`,
			Header: map[string]string{"Idempotency-Key": "g1"}}
		r := e.call(t, grant, http.StatusCreated, nil)
		grantReq := r.Header.Get("Request-Id")
		e.call(t, grant, http.StatusCreated, nil) // a replay: not recorded again
		e.call(t, request{Method: "POST", Path: "/v1/accounts/au/grants", Key: adminKey, Body: `{"credits":"-1"}`}, http.StatusUnprocessableEntity, nil)
		e.call(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey, Body: `{"daily_allowances":{"video":"10"},"force":true}`}, http.StatusCreated, nil)
		e.call(t, request{Method: "POST", Path: "/v1/packs", Key: adminKey, Body: `{"id":"pack_x","credits":"10","price":{"amount":500,"currency":"usd"},"valid_for_days":365}`}, http.StatusCreated, nil)

		var ep endpointView
		e.call(t, request{Method: "POST", Path: "/v1/webhook_endpoints", Key: adminKey, Body: `{"url":"https://hooks.example.com/t","events":["order.completed"]}`}, http.StatusCreated, &ep)
		e.call(t, request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + ep.ID, Key: adminKey}, http.StatusOK, nil)
		var eps listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?action=webhook_endpoint.delete", Key: adminKey}, http.StatusOK, &eps)
		if len(eps.Data) != 1 || eps.Data[0].Target != ep.ID || strings.Contains(string(eps.Data[0].Detail), "whsec") {
			t.Fatalf("endpoint deletion's entries: %+v", eps.Data)
		}

		var all listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?limit=100&created_before=" + e.clock.Now().Add(time.Second).Format(time.RFC3339Nano), Key: adminKey}, http.StatusOK, &all)
		all.Data = all.Data[:len(all.Data)-2] // the endpoint's two
		var actions []string
		for _, a := range all.Data {
			actions = append(actions, a.Action)
			if a.ActorKind != "admin" || a.ActorKey == "" || !strings.HasPrefix(a.RequestID, "req_") {
				t.Errorf("entry %+v: want an admin key and a request id", a)
			}
		}
		want := "account.create account.update key.create key.revoke grant.create plan_version.create pack.put"
		if got := strings.Join(actions, " "); got != want {
			t.Fatalf("actions: %s\nwant:    %s", got, want)
		}
		var detail map[string]any
		if err := json.Unmarshal(all.Data[1].Detail, &detail); err != nil {
			t.Fatalf("account.update detail %s: %v", all.Data[1].Detail, err)
		}
		if plan, _ := detail["plan"].(map[string]any); plan["from"] != "free" || plan["to"] != "pro" || detail["name"] != nil {
			t.Fatalf("account.update detail: %s", all.Data[1].Detail)
		}
		if g := all.Data[4]; g.RequestID != grantReq || g.AccountID != "au" || !strings.HasPrefix(g.Target, "grant_") ||
			!strings.Contains(string(g.Detail), `"source":"promo"`) {
			t.Fatalf("grant entry %+v, request %s", g, grantReq)
		}
		if d := string(all.Data[5].Detail); !strings.Contains(d, `"forced":true`) || !strings.Contains(d, `"cuts"`) {
			t.Fatalf("a forced cut's entry: %s", d)
		}
		if strings.Contains(string(all.Data[2].Detail), "tg_") && !strings.Contains(string(all.Data[2].Detail), `"prefix"`) {
			t.Fatalf("key.create detail holds a secret: %s", all.Data[2].Detail)
		}

		var byKey listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?action=key.revoke&account_id=au", Key: adminKey}, http.StatusOK, &byKey)
		if len(byKey.Data) != 1 || byKey.Data[0].Target != k.ID {
			t.Fatalf("key.revoke on au: %+v", byKey.Data)
		}
		var p1 listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?limit=4", Key: adminKey}, http.StatusOK, &p1)
		var p2 listView[auditView]
		e.call(t, request{Method: "GET", Path: "/v1/audit?limit=4&cursor=" + p1.NextCursor, Key: adminKey}, http.StatusOK, &p2)
		if !p1.HasMore || !p2.HasMore || len(p2.Data) != 4 || p2.Data[0].ID <= p1.Data[3].ID {
			t.Fatalf("pages: %d then %d", len(p1.Data), len(p2.Data))
		}

		r = e.call(t, request{Method: "GET", Path: "/v1/audit?format=csv&limit=3", Key: adminKey}, http.StatusOK, nil)
		rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		if err != nil || len(rows) != 4 || rows[0][5] != "action" || rows[1][5] != "account.create" || r.Header.Get("Next-Cursor") != rows[3][0] {
			t.Fatalf("CSV: %v %q, Next-Cursor %q", err, rows, r.Header.Get("Next-Cursor"))
		}
		e.call(t, request{Method: "GET", Path: "/v1/audit", Key: e.createKey(t, "au")}, http.StatusForbidden, nil)
		e.call(t, request{Method: "GET", Path: "/v1/audit?format=xml", Key: adminKey}, http.StatusUnprocessableEntity, nil)

	})
}
