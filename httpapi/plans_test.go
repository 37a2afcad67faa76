package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"tollgate"
)

func TestPlanCutsNeedNotice(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "p", "free", "UTC")
		key := e.createKey(t, "p")
		soon := testStart.Add(13 * 24 * time.Hour).Format(time.RFC3339)
		before := e.world(t)
		r := e.do(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey,
			Body: `{"daily_allowances":{"video":"20"},"effective_at":"` + soon + `"}`})
		p := problemOf(t, r, http.StatusUnprocessableEntity, tollgate.CodeNoticeRequired)
		if want := testStart.Add(14 * 24 * time.Hour).Format(time.RFC3339); !strings.Contains(p.Detail, want) || !strings.Contains(p.Detail, "video from 30 to 20") ||
			p.Title != "A cut to a plan must be announced before it applies" {
			t.Fatalf("%q / %q: want a plan cut's title, the cut and the earliest date %s", p.Title, p.Detail, want)
		}
		e.unchanged(t, before)

		// An increase needs no notice; the account moves to it at once.
		e.call(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey, Body: `{"daily_allowances":{"video":"40"}}`}, http.StatusCreated, nil)
		if b := e.balance(t, "p"); b.DailyAllowance == nil || b.DailyAllowance.Limit != tollgate.WholeCredits(40) {
			t.Fatalf("allowance after the raise: %+v, want 40", b.DailyAllowance)
		}
		// A cut with 14 days' notice is accepted, announced, then applied.
		at := testStart.Add(14 * 24 * time.Hour)
		var v planVersionView
		e.call(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey,
			Body: `{"daily_allowances":{"video":"20"},"effective_at":"` + at.Format(time.RFC3339) + `"}`}, http.StatusCreated, &v)
		if v.Version != 3 {
			t.Fatalf("version %d, want 3", v.Version)
		}
		b := e.balance(t, "p")
		if len(b.UpcomingChanges) != 1 || b.UpcomingChanges[0].Allowances[tollgate.ProductVideo] != tollgate.WholeCredits(20) ||
			b.UpcomingChanges[0].Previous[tollgate.ProductVideo] != tollgate.WholeCredits(40) {
			t.Fatalf("upcoming changes %+v, want video 40 -> 20", b.UpcomingChanges)
		}
		r = e.call(t, request{Method: "GET", Path: "/v1/balance", Key: key}, http.StatusOK, nil)
		if n := r.Header.Get("Tollgate-Notice"); !strings.Contains(n, "video 40 -> 20") || !strings.Contains(n, at.Format(time.RFC3339)) {
			t.Fatalf("Tollgate-Notice %q, want the cut and its date", n)
		}
		e.clock.Set(at)
		if b := e.balance(t, "p"); b.DailyAllowance.Limit != tollgate.WholeCredits(20) || len(b.UpcomingChanges) != 0 {
			t.Fatalf("at the cut: allowance %+v, upcoming %+v; want 20 and none", b.DailyAllowance, b.UpcomingChanges)
		}
		r = e.do(t, request{Method: "POST", Path: "/v1/holds", Key: key, Body: `{"product":"video","credits":"21"}`})
		problemOf(t, r, http.StatusPaymentRequired, tollgate.CodeInsufficientCredits)

		// Forced cuts apply with less notice.
		e.call(t, request{Method: "POST", Path: "/v1/plans/free/versions", Key: adminKey, Body: `{"daily_allowances":{"video":"10"},"force":true}`}, http.StatusCreated, nil)
		var plans listView[planView]
		e.call(t, request{Method: "GET", Path: "/v1/plans"}, http.StatusOK, &plans)
		for _, pl := range plans.Data {
			if pl.ID == "free" && (pl.Current == nil || pl.Current.Version != 4 || len(pl.Versions) != 4) {
				t.Fatalf("free plan %+v, want version 4 current of 4", pl)
			}
		}
	})
}

func TestPlanVersionBadInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "p", "free", "UTC")
		key := e.createKey(t, "p")
		for _, tc := range []struct {
			name, key, path, body string
			status                int
			code                  tollgate.Code
		}{
			{"account key", key, "/v1/plans/free/versions", `{"daily_allowances":{}}`, 403, tollgate.CodeForbidden},
			{"no allowances", adminKey, "/v1/plans/free/versions", `{}`, 422, tollgate.CodeInvalidField},
			{"unknown product", adminKey, "/v1/plans/free/versions", `{"daily_allowances":{"music":"1"}}`, 422, tollgate.CodeInvalidField},
			{"negative", adminKey, "/v1/plans/free/versions", `{"daily_allowances":{"video":"-1"}}`, 422, tollgate.CodeInvalidField},
			{"not a number", adminKey, "/v1/plans/free/versions", `{"daily_allowances":{"video":"lots"}}`, 422, tollgate.CodeInvalidField},
			{"in the past", adminKey, "/v1/plans/free/versions", `{"daily_allowances":{"video":"50"},"effective_at":"2020-01-01T00:00:00Z"}`, 422, tollgate.CodeInvalidField},
			{"bad name", adminKey, "/v1/plans/Free%20Plan/versions", `{"daily_allowances":{}}`, 422, tollgate.CodeInvalidField},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				problemOf(t, e.do(t, request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body}), tc.status, tc.code)
				e.unchanged(t, before)
			})
		}
		// A new plan needs no notice, and accounts can join it.
		e.call(t, request{Method: "POST", Path: "/v1/plans/studio/versions", Key: adminKey, Body: `{"daily_allowances":{"video":"300","assistant":"5"}}`}, http.StatusCreated, nil)
		e.createAccount(t, "s", "studio", "UTC")
		if b := e.balance(t, "s"); b.ByProduct[tollgate.ProductAssistant] != tollgate.WholeCredits(5) {
			t.Fatalf("studio account by product %+v, want 5 assistant credits today", b.ByProduct)
		}
	})
}
