package httpapi

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// TestEarningsAndLeaderboards: captures at chosen instants feed the
// owner's statement (per day and month of its time zone, here UTC+5:30)
// and the leaderboards (per day, week from Monday, month, in the viewer's
// time zone), with the hidden subjects left out.
func TestEarningsAndLeaderboards(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "o", "free", "Asia/Kolkata")
		e.createAccount(t, "c1", "free", "UTC")
		e.createAccount(t, "c2", "free", "UTC")
		keyO, keyC1 := e.createKey(t, "o"), e.createKey(t, "c1")
		for _, a := range []string{"o", "c1", "c2"} {
			e.grant(t, a, `{"credits":"100","source":"promo"}`)
		}
		var fox, owl cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: `{"name":"Fox","policy":"anyone","fee":"1"}`}, 201, &fox)
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: `{"name":"Owl","policy":"anyone","fee":"2"}`}, 201, &owl)
		feeOf := func(c cameoView) tollgate.Fee {
			return tollgate.Fee{Kind: tollgate.FeeCameo, Subject: c.ID, OwnerID: "o", Credits: c.Fee, TakeBPS: 2000}
		}
		// capture makes a video of payer at instant at that pays fees and
		// completes it, charged in full.
		capture := func(payer string, at time.Time, fees ...tollgate.Fee) tollgate.Video {
			t.Helper()
			e.clock.Set(at)
			held := tollgate.WholeCredits(1)
			for _, f := range fees {
				held += f.Credits
			}
			v := tollgate.Video{ID: tollgate.NewID("video"), AccountID: payer, Kind: tollgate.VideoCreate, Status: tollgate.VideoQueued,
				Model: "sora-2", Prompt: "p", Seconds: 4, Size: "1280x720", CreatedAt: at, Fees: fees}
			v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: payer, Product: tollgate.ProductVideo, Credits: held, TTL: time.Hour}, v)
			if err != nil {
				t.Fatal(err)
			}
			v.Status = tollgate.VideoCompleted
			if v, err = e.l.SettleVideo(e.ctx, v, &held); err != nil {
				t.Fatal(err)
			}
			return v
		}
		day := func(d, hh, mm int) time.Time { return time.Date(2026, 11, d, hh, mm, 0, 0, time.UTC) }
		src := capture("o", day(21, 9, 30))
		if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error {
			return tx.PublishedPut(e.ctx, tollgate.Published{VideoID: src.ID, AccountID: "o", RemixFee: 500_000, Remixable: true, PublishedAt: day(21, 9, 30)})
		}); err != nil {
			t.Fatal(err)
		}
		capture("c1", day(21, 10, 0), feeOf(fox))  // 15:30 in Kolkata, the 21st
		capture("c1", day(21, 18, 20), feeOf(owl)) // 23:50 there, the 21st
		capture("c2", day(21, 18, 40), feeOf(fox)) // 00:10 there, the 22nd
		capture("c1", day(23, 10, 0), feeOf(fox), tollgate.Fee{Kind: tollgate.FeeRemix, Subject: src.ID, OwnerID: "o", Credits: 500_000, TakeBPS: 2000})

		// The statement, per day of Kolkata.
		var st statementView
		e.call(t, request{Method: "GET", Path: "/v1/earnings?from=2026-11-21&to=2026-11-24", Key: keyO}, 200, &st)
		var got []string
		for _, l := range st.Data {
			got = append(got, l.Period+" "+l.Kind+" "+l.Subject+" "+l.Handle+" "+itoa(l.Uses)+" "+l.Gross.String()+" "+l.Take.String()+" "+l.Net.String())
		}
		want := []string{
			"2026-11-21 cameo " + fox.ID + " @fox 1 1 0.2 0.8",
			"2026-11-21 cameo " + owl.ID + " @owl 1 2 0.4 1.6",
			"2026-11-22 cameo " + fox.ID + " @fox 1 1 0.2 0.8",
			"2026-11-23 cameo " + fox.ID + " @fox 1 1 0.2 0.8",
			"2026-11-23 remix " + src.ID + "  1 0.5 0.1 0.4",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || st.Total.Net != tollgate.Credits(4_400_000) || st.Timezone != "Asia/Kolkata" {
			t.Errorf("statement by day:\n%s\nwant\n%s\ntotal %+v", strings.Join(got, "\n"), strings.Join(want, "\n"), st.Total)
		}
		// Its net is what the royalty grants received.
		var royalty tollgate.Credits
		for _, g := range e.balance(t, "o").Grants {
			if g.Source == "royalty" {
				royalty += g.Remaining
			}
		}
		if royalty != st.Total.Net {
			t.Errorf("royalty grants hold %s, the statement says %s", royalty, st.Total.Net)
		}
		// Per month, as CSV.
		r := e.call(t, request{Method: "GET", Path: "/v1/earnings?from=2026-11-01&to=2026-12-01&group_by=month&format=csv", Key: keyO}, 200, nil)
		rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5 || rows[1][0] != "2026-11" || rows[1][2] != fox.ID || rows[1][4] != "3" || rows[1][7] != "2.4" || rows[4][0] != "total" || rows[4][7] != "4.4" {
			t.Errorf("monthly CSV: %v", rows)
		}
		// Another account's statement is not found; an admin names it.
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/earnings?account_id=o", Key: keyC1}), 404, tollgate.CodeNotFound)
		e.call(t, request{Method: "GET", Path: "/v1/earnings?account_id=o&from=2026-11-21&to=2026-11-22", Key: adminKey}, 200, &st)
		if len(st.Data) != 2 {
			t.Errorf("admin's statement of the 21st: %+v", st.Data)
		}

		board := func(key, query string) []string {
			t.Helper()
			var lb leaderboardView
			e.call(t, request{Method: "GET", Path: "/v1/leaderboards?" + query, Key: key}, 200, &lb)
			var out []string
			for _, x := range lb.Data {
				out = append(out, x.ID+":"+itoa(x.Uses)+":"+x.Earnings.String())
			}
			return out
		}
		check := func(key, query string, want ...string) {
			t.Helper()
			if got := board(key, query); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: got %v, want %v", query, got, want)
			}
		}
		// Days in UTC (an admin's default) and in Kolkata.
		check(adminKey, "board=cameos&period=day&date=2026-11-21", fox.ID+":2:1.6", owl.ID+":1:1.6")
		check(adminKey, "board=cameos&period=day&date=2026-11-21&timezone=Asia/Kolkata", owl.ID+":1:1.6", fox.ID+":1:0.8")
		check(keyO, "board=cameos&period=day&date=2026-11-22", fox.ID+":1:0.8") // o's own zone: Kolkata
		check(adminKey, "board=cameos&period=day&date=2026-11-21&by=earnings", fox.ID+":2:1.6", owl.ID+":1:1.6")
		// Weeks start on Monday: the 23rd starts a new one.
		check(adminKey, "board=cameos&period=week&date=2026-11-22", fox.ID+":2:1.6", owl.ID+":1:1.6")
		check(adminKey, "board=cameos&period=week&date=2026-11-23", fox.ID+":1:0.8")
		check(adminKey, "board=cameos&period=month&date=2026-11-30", fox.ID+":3:2.4", owl.ID+":1:1.6")
		check(adminKey, "board=videos&period=month&date=2026-11-01", src.ID+":1:0.4")
		// Creators appear once they opt in.
		check(adminKey, "board=creators&period=month&date=2026-11-01")
		e.call(t, request{Method: "POST", Path: "/v1/leaderboards/opt_in", Key: keyC1, Body: `{"opt_in":true}`}, 200, nil)
		e.call(t, request{Method: "POST", Path: "/v1/leaderboards/opt_in", Key: adminKey, Body: `{"account_id":"o","opt_in":true}`}, 200, nil)
		check(adminKey, "board=creators&period=month&date=2026-11-01", "c1:3:0", "o:1:4.4")
		check(adminKey, "board=creators&period=month&date=2026-11-01&by=earnings", "o:1:4.4")
		// Paused, unlisted or unpublished: hidden.
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + owl.ID, Key: keyO, Body: `{"paused":true}`}, 200, nil)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyO, Body: `{"listed":false}`}, 200, nil)
		check(adminKey, "board=cameos&period=month&date=2026-11-30")
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyO, Body: `{"listed":true}`}, 200, nil)
		check(adminKey, "board=cameos&period=month&date=2026-11-30", fox.ID+":3:2.4")
		if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { _, err := tx.PublishedDelete(e.ctx, src.ID); return err }); err != nil {
			t.Fatal(err)
		}
		check(adminKey, "board=videos&period=month&date=2026-11-01")

		// Bad input: 422 naming the parameter.
		for _, q := range []struct{ path, field string }{
			{"/v1/leaderboards?board=songs", "board"},
			{"/v1/leaderboards", "board"},
			{"/v1/leaderboards?board=cameos&period=year", "period"},
			{"/v1/leaderboards?board=cameos&by=likes", "by"},
			{"/v1/leaderboards?board=cameos&date=21/11/2026", "date"},
			{"/v1/earnings?from=2026-11-21&to=2026-11-20", "to"},
			{"/v1/earnings?from=2025-01-01&to=2026-11-20", "to"},
			{"/v1/earnings?group_by=week", "group_by"},
			{"/v1/earnings?from=yesterday", "from"},
		} {
			r := e.do(t, request{Method: "GET", Path: q.path, Key: keyO})
			if r.Status/100 != 4 || !strings.Contains(string(r.Body), `"field":"`+q.field+`"`) {
				t.Errorf("%s: %s, want a 4xx naming %s", q.path, r, q.field)
			}
		}
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/leaderboards?board=cameos&timezone=UTC", Key: keyO}), 422, tollgate.CodeInvalidField)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
