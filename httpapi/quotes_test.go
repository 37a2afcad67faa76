package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/pricing"
	"tollgate/store"
)

func TestPricesArePublic(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		var table struct {
			Current []priceRuleView `json:"current"`
			Packs   []packView      `json:"packs"`
		}
		e.call(t, request{Method: "GET", Path: "/v1/prices"}, http.StatusOK, &table)
		var std *priceRuleView
		for i, r := range table.Current {
			if r.ID == "video-standard-720p" {
				std = &table.Current[i]
			}
		}
		if std == nil || std.Credits != 100_000 || len(std.Money) != 1 || std.Money[0].Amount != 4 {
			t.Fatalf("standard 720p rule %+v: want 0.1 credit = 4 cents at pack_10", std)
		}
		var packs listView[packView]
		e.call(t, request{Method: "GET", Path: "/v1/packs"}, http.StatusOK, &packs)
		if len(packs.Data) != 1 || packs.Data[0].ID != "pack_10" || packs.Data[0].Price.Amount != 400 {
			t.Fatalf("packs %+v, want pack_10 at 400", packs.Data)
		}
	})
}

func TestQuoteThenHold(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "q", "free", "UTC")
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
			Body: `{"account_id":"q","product":"video","model":"sora-2","seconds":8,"size":"1280x720"}`}, http.StatusCreated, &q)
		if q.Credits != 800_000 || q.UnitPrices == nil || q.UnitPrices.PerSecond != 100_000 || q.UnitPrices.PerMinute != 6_000_000 {
			t.Fatalf("quote %+v: want 0.8 credits, 0.1 a second, 6 a minute", q)
		}
		if q.Money == nil || q.Money.Amount != 32 || q.Money.PackID != "pack_10" {
			t.Fatalf("money %+v, want 32 cents at pack_10", q.Money)
		}
		if !q.Payment.Covered || len(q.Payment.From) != 1 || q.Payment.From[0].Source != "allowance" || q.Payment.AvailableAfter != 29_200_000 {
			t.Fatalf("payment %+v, want all from today's allowance, 29.2 left", q.Payment)
		}
		if !q.ExpiresAt.Equal(testStart.Add(15 * time.Minute)) {
			t.Fatalf("expires at %s, want 15 minutes on", q.ExpiresAt)
		}
		var again quoteView
		e.call(t, request{Method: "GET", Path: "/v1/quotes/" + q.ID, Key: adminKey}, http.StatusOK, &again)
		if again.ID != q.ID || again.Credits != q.Credits {
			t.Fatalf("GET quote %+v, want %+v", again, q)
		}

		h := e.hold(t, adminKey, `{"account_id":"q","quote_id":"`+q.ID+`"}`)
		if h.Credits != 800_000 || h.Product != tollgate.ProductVideo || h.QuoteID != q.ID {
			t.Fatalf("hold %+v, want the quote's 0.8 credits of video", h)
		}
		r := e.do(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: `{"account_id":"q","quote_id":"` + q.ID + `"}`})
		problemOf(t, r, http.StatusConflict, tollgate.CodeQuoteUsed)
		if b := e.balance(t, "q"); b.Held != 800_000 {
			t.Fatalf("held %s, want 0.8: one hold per quote", b.Held)
		}
	})
}

func TestQuoteLocksThePrice(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "lock", "free", "UTC")
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
			Body: `{"account_id":"lock","product":"stitch","seconds":10}`}, http.StatusCreated, &q)
		// The price of stitching goes up tenfold a minute later.
		c := *e.api.Quotes.Catalog
		c.Rules = append(append([]pricing.Rule{}, c.Rules...), pricing.Rule{ID: "stitch", Product: "stitch", Meter: pricing.MeterSeconds,
			Per: 1, Credits: 200_000, EffectiveAt: testStart.Add(time.Minute)})
		e.api.Quotes = &pricing.Quotes{Catalog: &c, Records: e.l, Clock: e.clock}
		e.clock.Advance(2 * time.Minute)
		var now quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
			Body: `{"account_id":"lock","product":"stitch","seconds":10}`}, http.StatusCreated, &now)
		if now.Credits != tollgate.WholeCredits(2) {
			t.Fatalf("a new quote is %s, want the new price 2", now.Credits)
		}
		e.grant(t, "lock", `{"credits":"5"}`)
		var u holdView
		e.call(t, request{Method: "POST", Path: "/v1/usage", Key: adminKey, Body: `{"account_id":"lock","quote_id":"` + q.ID + `"}`}, http.StatusCreated, &u)
		if u.Credits != 200_000 || u.Captured != 200_000 {
			t.Fatalf("usage with the old quote charged %s, want its locked 0.2", u.Captured)
		}
	})
}

func TestQuoteRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "r", "free", "UTC")
		e.createAccount(t, "other", "free", "UTC")
		otherKey := e.createKey(t, "other")
		newQuote := func() quoteView {
			var q quoteView
			e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
				Body: `{"account_id":"r","product":"video","model":"sora-2","seconds":4}`}, http.StatusCreated, &q)
			return q
		}
		q := newQuote()
		for _, tc := range []struct {
			name, key, path, body string
			status                int
			code                  tollgate.Code
			mention               string
		}{
			{"unknown model", adminKey, "/v1/quotes", `{"account_id":"r","product":"video","model":"sora-9","seconds":4}`, 422, tollgate.CodeInvalidField, "sora-2-pro"},
			{"duration", adminKey, "/v1/quotes", `{"account_id":"r","product":"video","model":"sora-2","seconds":5}`, 422, tollgate.CodeInvalidField, "4, 8, 12"},
			{"size", adminKey, "/v1/quotes", `{"account_id":"r","product":"video","model":"sora-2","seconds":4,"size":"1920x1080"}`, 422, tollgate.CodeInvalidField, "1280x720"},
			{"no account", adminKey, "/v1/quotes", `{"product":"stitch","seconds":4}`, 422, tollgate.CodeInvalidField, "admin key"},
			{"unknown account", adminKey, "/v1/quotes", `{"account_id":"nobody","product":"stitch","seconds":4}`, 404, tollgate.CodeNotFound, "nobody"},
			{"more than quoted", adminKey, "/v1/holds", `{"account_id":"r","quote_id":"` + q.ID + `","credits":"0.400001"}`, 422, tollgate.CodeInvalidField, "never charged more"},
			{"other product", adminKey, "/v1/holds", `{"account_id":"r","quote_id":"` + q.ID + `","product":"stitch"}`, 422, tollgate.CodeInvalidField, "is for video"},
			{"unknown quote", adminKey, "/v1/holds", `{"account_id":"r","quote_id":"quote_nope"}`, 404, tollgate.CodeNotFound, "quote_nope"},
			{"another account's quote", otherKey, "/v1/holds", `{"quote_id":"` + q.ID + `"}`, 404, tollgate.CodeNotFound, q.ID},
			{"another account's quote read", otherKey, "/v1/quotes/" + q.ID, ``, 404, tollgate.CodeNotFound, q.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.world(t)
				method := "POST"
				if tc.body == "" {
					method = "GET"
				}
				p := problemOf(t, e.do(t, request{Method: method, Path: tc.path, Key: tc.key, Body: tc.body}), tc.status, tc.code)
				if !strings.Contains(p.Detail, tc.mention) {
					t.Errorf("detail %q does not mention %q", p.Detail, tc.mention)
				}
				e.unchanged(t, before)
			})
		}
		// Fewer credits than quoted is fine.
		h := e.hold(t, adminKey, `{"account_id":"r","quote_id":"`+q.ID+`","credits":"0.25"}`)
		if h.Credits != 250_000 {
			t.Fatalf("hold %s, want 0.25", h.Credits)
		}
		// A quote past its 15 minutes locks nothing.
		late := newQuote()
		e.clock.Advance(15 * time.Minute)
		before := e.world(t)
		r := e.do(t, request{Method: "POST", Path: "/v1/holds", Key: adminKey, Body: `{"account_id":"r","quote_id":"` + late.ID + `"}`})
		problemOf(t, r, http.StatusConflict, tollgate.CodeQuoteExpired)
		e.unchanged(t, before)
	})
}

func TestQuoteShowsShortfall(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "s", "free", "UTC")
		e.grant(t, "s", `{"credits":"1","valid_for_days":30}`)
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
			Body: `{"account_id":"s","product":"assistant","input_tokens":1000000,"output_tokens":500000}`}, http.StatusCreated, &q)
		if q.Credits != tollgate.WholeCredits(3) || q.Payment.Covered || q.Payment.Shortfall != tollgate.WholeCredits(2) {
			b, _ := json.Marshal(q)
			t.Fatalf("quote %s: want 3 credits, 2 short (the allowance pays video only)", b)
		}
	})
}

func TestPriceRulesChangeWithNotice(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "pr", "free", "UTC")
		before := e.world(t)
		r := e.do(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey,
			Body: `{"id":"stitch","product":"stitch","meter":"seconds","per":1,"credits":"0.03"}`})
		p := problemOf(t, r, http.StatusUnprocessableEntity, tollgate.CodeNoticeRequired)
		if !strings.Contains(p.Detail, "14 days") {
			t.Fatalf("detail %q: want the notice period", p.Detail)
		}
		e.unchanged(t, before)
		// A cut applies at once; quotes use it.
		e.call(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey,
			Body: `{"id":"stitch","product":"stitch","meter":"seconds","per":1,"credits":"0.01"}`}, http.StatusCreated, nil)
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey, Body: `{"account_id":"pr","product":"stitch","seconds":10}`}, http.StatusCreated, &q)
		if q.Credits != 100_000 {
			t.Fatalf("quote %s, want 0.1 at the lowered price", q.Credits)
		}
		// An increase 14 days ahead is scheduled and public.
		at := testStart.Add(14 * 24 * time.Hour)
		e.call(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey,
			Body: `{"id":"stitch","product":"stitch","meter":"seconds","per":1,"credits":"0.05","effective_at":"` + at.Format(time.RFC3339) + `"}`}, http.StatusCreated, nil)
		var table struct {
			Scheduled []priceRuleView `json:"scheduled"`
		}
		e.call(t, request{Method: "GET", Path: "/v1/prices"}, http.StatusOK, &table)
		if len(table.Scheduled) != 1 || table.Scheduled[0].Credits != 50_000 || !table.Scheduled[0].EffectiveAt.Equal(at) {
			t.Fatalf("scheduled %+v, want stitch at 0.05 from %s", table.Scheduled, at)
		}
		// Announced: in every balance, the Tollgate-Notice header and an event.
		key := e.createKey(t, "pr")
		var bal balanceView
		r = e.call(t, request{Method: "GET", Path: "/v1/balance", Key: key}, http.StatusOK, &bal)
		if len(bal.UpcomingPriceChanges) != 1 || bal.UpcomingPriceChanges[0].RuleID != "stitch" ||
			bal.UpcomingPriceChanges[0].PreviousCredits == nil || *bal.UpcomingPriceChanges[0].PreviousCredits != 10_000 ||
			!strings.Contains(r.Header.Get("Tollgate-Notice"), "prices change at "+at.Format(time.RFC3339)+": stitch") {
			t.Fatalf("announced as %+v, Tollgate-Notice %q", bal.UpcomingPriceChanges, r.Header.Get("Tollgate-Notice"))
		}
		var announced bool
		if err := e.store.Read(e.ctx, func(tx store.Tx) (err error) {
			_, announced, err = tx.EventLastAt(e.ctx, "", tollgate.EventPriceChangeScheduled)
			return err
		}); err != nil || !announced {
			t.Fatalf("no price.change_scheduled event (%v)", err)
		}
		e.clock.Set(at)
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey, Body: `{"account_id":"pr","product":"stitch","seconds":10}`}, http.StatusCreated, &q)
		if q.Credits != 500_000 {
			t.Fatalf("quote after the increase %s, want 0.5", q.Credits)
		}
		for _, tc := range []struct{ name, body string }{
			{"unknown meter", `{"id":"x","product":"stitch","meter":"frames","per":1,"credits":"1"}`},
			{"per zero", `{"id":"x","product":"stitch","meter":"seconds","per":0,"credits":"1"}`},
			{"negative", `{"id":"x","product":"stitch","meter":"seconds","per":1,"credits":"-1"}`},
			{"other product", `{"id":"stitch","product":"video","meter":"seconds","per":1,"credits":"0.01"}`},
			{"past", `{"id":"x","product":"stitch","meter":"seconds","per":1,"credits":"1","effective_at":"2020-01-01T00:00:00Z"}`},
		} {
			before := e.world(t)
			problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey, Body: tc.body}), 422, tollgate.CodeInvalidField)
			e.unchanged(t, before)
		}
	})
}

// TestPriceIncreaseNeedsNotice: any change that makes some request dearer
// or unpriceable needs the notice period, whatever its form: a new rule (a
// surcharge), a rule re-versioned with other conditions; one that only
// lowers prices applies at once. Compared over every request the catalog
// prices; the refusal names the prices it would raise.
func TestPriceIncreaseNeedsNotice(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "pn", "free", "UTC")
		for _, tc := range []struct{ name, body, names string }{
			{"a surcharge", `{"id":"video-surcharge","product":"video","meter":"seconds","per":1,"credits":"2"}`, "sora-2 4s at 1280x720 from 0.4 to 8.4"},
			{"new conditions", `{"id":"video-standard-720p","product":"video","meter":"seconds","tier":"standard","resolution":"1080p","per":1,"credits":"0.1"}`, "sora-2 4s at 1280x720 from 0.4 to no price"},
			{"tokens", `{"id":"assistant-output","product":"assistant","meter":"output_tokens","per":1000000,"credits":"4.000001"}`, "assistant 0 in, 1000 out tokens from 0.004 to 0.004001"},
		} {
			before := e.world(t)
			p := problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey, Body: tc.body}),
				http.StatusUnprocessableEntity, tollgate.CodeNoticeRequired)
			if !strings.Contains(p.Detail, tc.names) || p.Title != "A price increase must be announced before it applies" {
				t.Fatalf("%s: %q / %q, want it to name %q", tc.name, p.Title, p.Detail, tc.names)
			}
			e.unchanged(t, before)
		}
		// Forced, or announced 14 days ahead, it is accepted.
		e.call(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey,
			Body: `{"id":"video-surcharge","product":"video","meter":"seconds","per":1,"credits":"2","force":true}`}, http.StatusCreated, nil)
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey, Body: `{"account_id":"pn","product":"video","model":"sora-2","seconds":4}`}, http.StatusCreated, &q)
		if q.Credits != tollgate.WholeCredits(84)/10 {
			t.Fatalf("quote with the forced surcharge %s, want 8.4", q.Credits)
		}
		// Lowering the surcharge raises nothing: at once.
		e.clock.Advance(time.Minute)
		e.call(t, request{Method: "POST", Path: "/v1/prices/rules", Key: adminKey,
			Body: `{"id":"video-surcharge","product":"video","meter":"seconds","per":1,"credits":"1"}`}, http.StatusCreated, nil)
	})
}

// TestVideoQuoteRoute: a video quote lists the providers that can make it
// and the router's choice; the provider's money cost is shown to an admin
// key in the answer that makes the quote only.
func TestVideoQuoteRoute(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "a", "free", "UTC")
		key := e.createKey(t, "a")
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: adminKey,
			Body: `{"account_id":"a","product":"video","model":"auto","seconds":4,"size":"1280x720","policy":"fastest"}`}, 201, &q)
		if q.Route == nil || len(q.Route.Candidates) == 0 || q.Route.Policy != "fastest" || q.Route.Reason == "" || q.Route.Chosen.Cost == nil {
			t.Fatalf("admin's quote: route %+v, want candidates, the choice, why, and costs", q.Route)
		}
		if q.Model != q.Route.Chosen.Model || q.Credits != q.Route.Chosen.Credits {
			t.Errorf("auto quoted %s at %s, the router chose %s at %s", q.Model, q.Credits, q.Route.Chosen.Model, q.Route.Chosen.Credits)
		}
		var got quoteView
		e.call(t, request{Method: "GET", Path: "/v1/quotes/" + q.ID, Key: key}, 200, &got)
		if got.Route == nil || got.Route.Chosen.Cost != nil {
			t.Errorf("the stored quote: route %+v, want it without costs", got.Route)
		}
		var mine quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: key, Body: `{"product":"video","model":"sora-2","seconds":8,"size":"720x1280"}`}, 201, &mine)
		if mine.Route == nil || mine.Route.Chosen.Cost != nil || mine.Route.Chosen.Model != "sora-2" {
			t.Errorf("an account's quote: route %+v, want sora-2 without costs", mine.Route)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/quotes", Key: key, Body: `{"product":"assistant","input_tokens":5,"policy":"fastest"}`}), 422, tollgate.CodeInvalidField)
	})
}
