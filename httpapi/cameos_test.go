package httpapi

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/store"
)

// waitVideo polls a video until it is completed or failed.
func (e *env) waitVideo(t *testing.T, key, id string) videoView {
	t.Helper()
	var v videoView
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.call(t, request{Method: "GET", Path: "/v1/videos/" + id, Key: key}, 200, &v)
		if v.Status == "completed" || v.Status == "failed" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %+v did not finish", v)
		}
		e.clock.Advance(250 * time.Millisecond)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCameoRegistration: a cameo is registered with a unique handle, its
// owner sees all of it and changes it, others see it only when they may
// use it; bad input is a 422 naming the field and changes nothing.
func TestCameoRegistration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "o", "free", "UTC")
		e.createAccount(t, "c", "free", "UTC")
		keyO, keyC := e.createKey(t, "o"), e.createKey(t, "c")
		var fox cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: `{"name":"Fox Star","handle":"foxstar","policy":"approved","fee":"0.5"}`}, 201, &fox)
		if fox.Handle != "@foxstar" || fox.Status != "active" || fox.Fee != tollgate.Credits(500_000) || fox.AccountID != "o" || fox.Kind != "character" {
			t.Fatalf("created %+v", fox)
		}
		// A likeness waits for the operator.
		var me cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: `{"name":"Olga","kind":"likeness","policy":"anyone"}`}, 201, &me)
		if me.Status != "pending_verification" || me.Handle != "@olga" {
			t.Fatalf("likeness %+v, want pending_verification as @olga", me)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/quotes", Key: keyC, Body: `{"product":"video","seconds":4,"cameos":["@olga"]}`}),
			403, tollgate.CodeCameoNotPermitted)
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/cameos/" + me.ID + "/verify", Key: keyO}), 403, tollgate.CodeForbidden)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + me.ID + "/verify", Key: adminKey}, 200, &me)
		if me.Status != "active" {
			t.Fatalf("verified likeness is %s", me.Status)
		}

		before := e.world(t)
		for _, tc := range []struct{ name, body, field string }{
			{"no name", `{"policy":"anyone"}`, "name"},
			{"bad handle", `{"name":"X","handle":"A!"}`, "handle"},
			{"taken handle", `{"name":"X","handle":"foxstar"}`, "handle"},
			{"bad policy", `{"name":"X","policy":"everyone"}`, "policy"},
			{"negative fee", `{"name":"X","fee":"-1"}`, "fee"},
			{"fee too high", `{"name":"X","fee":"10001"}`, "fee"},
			{"bad kind", `{"name":"X","kind":"robot"}`, "kind"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: tc.body})
				if r.Status/100 != 4 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
					t.Errorf("got %s, want a 4xx naming %s", r, tc.field)
				}
			})
		}
		e.unchanged(t, before)

		// Not approved: c cannot see it; approved: its public fields only.
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/cameos/" + fox.ID, Key: keyC}), 404, tollgate.CodeNotFound)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/@foxstar/approvals", Key: keyO, Body: `{"account_id":"c"}`}, 200, nil)
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/cameos/@foxstar/approvals", Key: keyO, Body: `{"account_id":"nobody"}`}), 422, tollgate.CodeInvalidField)
		var seen cameoView
		e.call(t, request{Method: "GET", Path: "/v1/cameos/@foxstar", Key: keyC}, 200, &seen)
		if seen.ID != fox.ID || seen.AccountID != "" || seen.Status != "" || seen.Fee != fox.Fee {
			t.Errorf("c sees %+v: want the public fields only", seen)
		}
		// c may not change it.
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyC, Body: `{"fee":"0"}`}), 404, tollgate.CodeNotFound)
		var page listView[approvalView]
		e.call(t, request{Method: "GET", Path: "/v1/cameos/" + fox.ID + "/approvals", Key: keyO}, 200, &page)
		if len(page.Data) != 1 || page.Data[0].AccountID != "c" {
			t.Errorf("approvals %+v, want c", page.Data)
		}

		// A raise applies after the notice; a cut at once.
		var up cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyO, Body: `{"fee":"2"}`}, 200, &up)
		if up.Fee != fox.Fee || up.FeeNext == nil || *up.FeeNext != tollgate.WholeCredits(2) || up.FeeNextAt == nil ||
			!up.FeeNextAt.Equal(e.clock.Now().Add(14*24*time.Hour)) {
			t.Errorf("a raise: %+v, want 0.5 now and 2 announced 14 days ahead", up)
		}
		// The raise is announced in quotes too.
		var announced quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: keyC, Body: `{"product":"video","seconds":4,"cameos":["@foxstar"]}`}, 201, &announced)
		if len(announced.Fees) != 1 || announced.Fees[0].Credits != fox.Fee || announced.Fees[0].NextCredits == nil ||
			*announced.Fees[0].NextCredits != tollgate.WholeCredits(2) || announced.Fees[0].NextAt == nil {
			t.Errorf("the quote's fee line: %+v, want 0.5 now and the raise to 2 announced", announced.Fees)
		}
		var cut cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyO, Body: `{"fee":"0.25"}`}, 200, &cut)
		if cut.Fee != tollgate.Credits(250_000) || cut.FeeNext != nil {
			t.Errorf("a cut: %+v, want 0.25 at once and no raise left", cut)
		}

		// Deleted: gone for everyone, its handle free.
		e.call(t, request{Method: "DELETE", Path: "/v1/cameos/" + me.ID, Key: keyO}, 200, nil)
		problemOf(t, e.do(t, request{Method: "GET", Path: "/v1/cameos/@olga", Key: keyC}), 404, tollgate.CodeNotFound)
		var again cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyC, Body: `{"name":"Olga"}`}, 201, &again)
		if again.Handle != "@olga" {
			t.Errorf("the deleted cameo's handle: got %s for the new one, want @olga", again.Handle)
		}
		var list listView[cameoView]
		e.call(t, request{Method: "GET", Path: "/v1/cameos", Key: keyO}, 200, &list)
		if len(list.Data) != 1 || list.Data[0].ID != fox.ID {
			t.Errorf("o's cameos: %+v, want fox alone", list.Data)
		}
	})
}

// TestCameoUse: a creator's video shows someone's cameo with consent, is
// quoted with the fee as a line of its own, and the owner earns the fee
// less the take when it completes; a stranger is refused with nothing
// held; a revocation stops new jobs but not one already held.
func TestCameoUse(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "o", "free", "UTC")
		e.createAccount(t, "c", "free", "UTC")
		e.createAccount(t, "s", "free", "UTC")
		keyO, keyC, keyS := e.createKey(t, "o"), e.createKey(t, "c"), e.createKey(t, "s")
		var fox cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyO, Body: `{"name":"Fox Star","handle":"foxstar","policy":"approved","fee":"0.5"}`}, 201, &fox)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID + "/approvals", Key: keyO, Body: `{"account_id":"c"}`}, 200, nil)

		// A stranger: 403 naming the cameo, nothing held.
		before := e.world(t)
		r := openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos", Key: keyS, Body: `{"prompt":"@foxstar on the moon","seconds":"4"}`}),
			403, tollgate.CodeCameoNotPermitted, "cameos")
		if !strings.Contains(r.Message, "@foxstar") {
			t.Errorf("the refusal does not name the cameo: %q", r.Message)
		}
		e.unchanged(t, before)
		// A bare name, or a handle nobody has, charges and refuses nothing.
		var plain quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: keyS, Body: `{"product":"video","seconds":4,"prompt":"foxstar and @nobody_here"}`}, 201, &plain)
		if len(plain.Fees) != 0 {
			t.Errorf("a bare name was charged: %+v", plain.Fees)
		}

		// The quote shows the fee as a line of its own.
		var q quoteView
		e.call(t, request{Method: "POST", Path: "/v1/quotes", Key: keyC, Body: `{"product":"video","model":"sora-2","seconds":4,"size":"720x1280","prompt":"@foxstar on the moon"}`}, 201, &q)
		if len(q.Fees) != 1 || q.Fees[0].CameoID != fox.ID || q.Fees[0].Credits != tollgate.Credits(500_000) || q.Credits != plain.Credits+tollgate.Credits(500_000) {
			t.Fatalf("quote %+v (fees %+v), want the fee 0.5 on top of %s", q, q.Fees, plain.Credits)
		}
		// Made with the quote: held is the quote, fee included.
		var v videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyC,
			Body: `{"prompt":"@foxstar on the moon","model":"sora-2","seconds":"4","size":"720x1280","tollgate":{"quote_id":"` + q.ID + `"}}`}, 200, &v)
		if v.Tollgate.Credits.Held != q.Credits || len(v.Tollgate.Fees) != 1 || v.Tollgate.Characters[0] != fox.ID {
			t.Fatalf("video %+v, want the quote held and the fee listed", v.Tollgate)
		}
		// Upstream, the handle is the cameo's name.
		var stored tollgate.Video
		if err := e.store.Read(e.ctx, func(tx store.Tx) error {
			var err error
			stored, err = tx.VideoByID(e.ctx, v.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if stored.UpstreamPrompt != "Fox Star on the moon" {
			t.Errorf("sent upstream: %q", stored.UpstreamPrompt)
		}
		// Another while approved; then the approval is revoked while it runs.
		var inflight videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyC, Body: `{"prompt":"a duel","seconds":"4","tollgate":{"cameos":["` + fox.ID + `"]}}`}, 200, &inflight)
		e.call(t, request{Method: "DELETE", Path: "/v1/cameos/" + fox.ID + "/approvals/c", Key: keyO}, 200, nil)
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos", Key: keyC, Body: `{"prompt":"@foxstar again","seconds":"4"}`}), 403,
			tollgate.CodeCameoNotPermitted, "cameos")

		done := e.waitVideo(t, keyC, v.ID)
		doneInflight := e.waitVideo(t, keyC, inflight.ID)
		if done.Status != "completed" || done.Tollgate.Credits.Charged != done.Tollgate.Credits.Held || doneInflight.Status != "completed" {
			t.Fatalf("videos ended %s (%+v) and %s", done.Status, done.Tollgate.Credits, doneInflight.Status)
		}
		// The owner earned both fees less 20%: 2 x 0.4.
		b := e.balance(t, "o")
		var royalty tollgate.Credits
		for _, g := range b.Grants {
			if g.Source == "royalty" {
				royalty += g.Remaining
			}
		}
		if royalty != tollgate.Credits(800_000) {
			t.Errorf("owner's royalties: %s, want 0.8 (%+v)", royalty, b.Grants)
		}
		// A daily limit of 2: two uses today (the two videos above), so a
		// third is refused at quote time already.
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID, Key: keyO, Body: `{"daily_limit":2}`}, 200, nil)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/" + fox.ID + "/approvals", Key: keyO, Body: `{"account_id":"c"}`}, 200, nil)
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/quotes", Key: keyC, Body: `{"product":"video","seconds":4,"cameos":["@foxstar"]}`}),
			403, tollgate.CodeCameoNotPermitted)
		// The owner uses its own cameo free of fees.
		var own videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyO, Body: `{"prompt":"@foxstar at home","seconds":"4"}`}, 200, &own)
		if len(own.Tollgate.Fees) != 0 || len(own.Tollgate.Characters) != 1 {
			t.Errorf("the owner's own use: %+v, want the cameo shown and no fee", own.Tollgate)
		}
		e.waitVideo(t, keyO, own.ID)
	})
}

// TestRemixFees: a creator publishes a completed video with a remix fee;
// another account sees it, remixes it and pays the fee, which the creator
// earns less the take when the remix completes; the creator's switch and
// unpublishing stop new remixes.
func TestRemixFees(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "p", "free", "UTC")
		e.createAccount(t, "r", "free", "UTC")
		keyP, keyR := e.createKey(t, "p"), e.createKey(t, "r")
		var src videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyP, Body: `{"prompt":"a lighthouse at dusk","seconds":"4"}`}, 200, &src)
		// Not published yet: another account sees nothing, cannot remix.
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos/" + src.ID, Key: keyR}), 404, tollgate.CodeNotFound, "video_id")
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/publish", Key: keyP, Body: `{}`}), 400,
			tollgate.CodeInvalidField, "video_id") // not completed yet
		src = e.waitVideo(t, keyP, src.ID)
		var pub publishedView
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/publish", Key: keyP, Body: `{"remix_fee":"0.3"}`}, 200, &pub)
		if pub.RemixFee != tollgate.Credits(300_000) || !pub.Remixable || pub.AccountID != "p" {
			t.Fatalf("published %+v", pub)
		}
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/publish", Key: keyR, Body: `{}`}), 404,
			tollgate.CodeNotFound, "video_id") // another's
		var list listView[publishedView]
		e.call(t, request{Method: "GET", Path: "/v1/published_videos", Key: keyR}, 200, &list)
		if len(list.Data) != 1 || list.Data[0].VideoID != src.ID {
			t.Fatalf("published list %+v", list.Data)
		}
		// r sees it, without what it cost, and can download it.
		var seen videoView
		e.call(t, request{Method: "GET", Path: "/v1/videos/" + src.ID, Key: keyR}, 200, &seen)
		if seen.Tollgate.Credits.Held != 0 || seen.Tollgate.Published == nil || seen.Tollgate.Published.RemixFee != pub.RemixFee {
			t.Errorf("r sees %+v", seen.Tollgate)
		}
		e.call(t, request{Method: "GET", Path: "/v1/videos/" + src.ID + "/content", Key: keyR}, 200, nil)

		// r remixes it: the fee is on the video, and paid when it completes.
		var rx videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/remix", Key: keyR, Body: `{"prompt":"the same at dawn"}`}, 200, &rx)
		if len(rx.Tollgate.Fees) != 1 || rx.Tollgate.Fees[0].Kind != "remix" || rx.Tollgate.Fees[0].Credits != pub.RemixFee {
			t.Fatalf("remix fees %+v", rx.Tollgate.Fees)
		}
		rx = e.waitVideo(t, keyR, rx.ID)
		if rx.Status != "completed" || rx.Tollgate.Credits.Charged != rx.Tollgate.Credits.Held {
			t.Fatalf("remix ended %s, %+v", rx.Status, rx.Tollgate.Credits)
		}
		var royalty tollgate.Credits
		for _, g := range e.balance(t, "p").Grants {
			if g.Source == "royalty" {
				royalty += g.Remaining
			}
		}
		if royalty != tollgate.Credits(240_000) {
			t.Errorf("the creator earned %s, want 0.24 (0.3 less 20%%)", royalty)
		}
		// p remixing its own pays no fee.
		var own videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/remix", Key: keyP, Body: `{"prompt":"mine again"}`}, 200, &own)
		if len(own.Tollgate.Fees) != 0 {
			t.Errorf("the creator's own remix pays %+v", own.Tollgate.Fees)
		}
		e.waitVideo(t, keyP, own.ID)

		// The switch off: others may see it but not build on it.
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/publish", Key: keyP, Body: `{"remix_fee":"0.3","remixable":false}`}, 200, nil)
		before := e.world(t)
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/remix", Key: keyR, Body: `{"prompt":"again"}`}), 403,
			tollgate.CodeCameoNotPermitted, "video")
		e.unchanged(t, before)
		// Unpublished: gone for others.
		e.call(t, request{Method: "DELETE", Path: "/v1/videos/" + src.ID + "/publish", Key: keyP}, 200, nil)
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/remix", Key: keyR, Body: `{"prompt":"again"}`}), 404,
			tollgate.CodeNotFound, "video_id")
		openaiErrorOf(t, e.do(t, request{Method: "GET", Path: "/v1/videos/" + src.ID + "/content", Key: keyR}), 404, tollgate.CodeNotFound, "video_id")
	})
}

// TestCreatorEarningsEndToEnd is the whole story over HTTP: a creator
// makes a video with one owner's cameo and remixes another's published
// video; both owners earn the fee less the take, their statements and the
// leaderboards show it, a payout moves one owner's earnings out, and a
// stranger without consent is refused with nothing charged.
func TestCreatorEarningsEndToEnd(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (.ci/run installs it)")
	}
	forEachStore(t, func(t *testing.T, e *env) {
		for _, a := range []string{"olga", "pim", "cleo", "stan"} {
			e.createAccount(t, a, "free", "UTC")
		}
		keyOlga, keyPim, keyCleo, keyStan := e.createKey(t, "olga"), e.createKey(t, "pim"), e.createKey(t, "cleo"), e.createKey(t, "stan")
		var fox cameoView
		e.call(t, request{Method: "POST", Path: "/v1/cameos", Key: keyOlga, Body: `{"name":"Fox Star","handle":"foxstar","policy":"approved","fee":"1"}`}, 201, &fox)
		e.call(t, request{Method: "POST", Path: "/v1/cameos/@foxstar/approvals", Key: keyOlga, Body: `{"account_id":"cleo"}`}, 200, nil)
		var src videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyPim, Body: `{"prompt":"a lighthouse","seconds":"4"}`}, 200, &src)
		src = e.waitVideo(t, keyPim, src.ID)
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/publish", Key: keyPim, Body: `{"remix_fee":"0.5"}`}, 200, nil)

		// The stranger: refused, nothing held or charged.
		before := e.balance(t, "stan")
		openaiErrorOf(t, e.do(t, request{Method: "POST", Path: "/v1/videos", Key: keyStan, Body: `{"prompt":"@foxstar waves","seconds":"4"}`}), 403,
			tollgate.CodeCameoNotPermitted, "cameos")
		if after := e.balance(t, "stan"); after.Available != before.Available || after.Held != 0 {
			t.Errorf("the stranger's balance moved: %s -> %s, held %s", before.Available, after.Available, after.Held)
		}

		// Cleo: a video with the cameo, and a remix of the published video.
		cleo0 := e.balance(t, "cleo").Available
		var v1, v2 videoView
		e.call(t, request{Method: "POST", Path: "/v1/videos", Key: keyCleo, Body: `{"prompt":"@foxstar waves","seconds":"4"}`}, 200, &v1)
		e.call(t, request{Method: "POST", Path: "/v1/videos/" + src.ID + "/remix", Key: keyCleo, Body: `{"prompt":"the lighthouse at dawn"}`}, 200, &v2)
		v1, v2 = e.waitVideo(t, keyCleo, v1.ID), e.waitVideo(t, keyCleo, v2.ID)
		if v1.Status != "completed" || v2.Status != "completed" {
			t.Fatalf("videos ended %s and %s", v1.Status, v2.Status)
		}
		if got := cleo0 - e.balance(t, "cleo").Available; got != v1.Tollgate.Credits.Charged+v2.Tollgate.Credits.Charged {
			t.Errorf("cleo paid %s, her videos charged %s and %s", got, v1.Tollgate.Credits.Charged, v2.Tollgate.Credits.Charged)
		}
		earned := func(acct string) tollgate.Credits {
			var n tollgate.Credits
			for _, g := range e.balance(t, acct).Grants {
				if g.Source == "royalty" {
					n += g.Remaining
				}
			}
			return n
		}
		if earned("olga") != tollgate.Credits(800_000) || earned("pim") != tollgate.Credits(400_000) {
			t.Fatalf("earned: olga %s (want 0.8), pim %s (want 0.4)", earned("olga"), earned("pim"))
		}
		// Statements.
		for key, want := range map[string]string{keyOlga: "cameo:0.8", keyPim: "remix:0.4"} {
			var st statementView
			e.call(t, request{Method: "GET", Path: "/v1/earnings", Key: key}, 200, &st)
			if len(st.Data) != 1 || st.Data[0].Kind+":"+st.Data[0].Net.String() != want {
				t.Errorf("statement %+v, want %s", st.Data, want)
			}
		}
		// Leaderboards.
		var lb leaderboardView
		e.call(t, request{Method: "GET", Path: "/v1/leaderboards?board=cameos&period=week", Key: keyStan}, 200, &lb)
		if len(lb.Data) != 1 || lb.Data[0].Handle != "@foxstar" || lb.Data[0].Earnings != tollgate.Credits(800_000) {
			t.Errorf("cameos board %+v", lb.Data)
		}
		e.call(t, request{Method: "GET", Path: "/v1/leaderboards?board=videos&period=month", Key: keyStan}, 200, &lb)
		if len(lb.Data) != 1 || lb.Data[0].ID != src.ID || lb.Data[0].Uses != 1 {
			t.Errorf("videos board %+v", lb.Data)
		}
		// A payout moves Olga's earnings out.
		e.call(t, request{Method: "POST", Path: "/v1/payout_rates", Key: adminKey, Body: `{"currency":"eur","minor_per_credit":28}`}, 201, nil)
		var po payoutView
		e.call(t, request{Method: "POST", Path: "/v1/payouts", Key: keyOlga, Body: `{}`}, 201, &po)
		e.call(t, request{Method: "POST", Path: "/v1/payouts/" + po.ID + "/mark", Key: adminKey, Body: `{"status":"paid","reference":"SEPA 7"}`}, 200, &po)
		if po.Credits != tollgate.Credits(800_000) || po.Amount != (tollgate.Money{Amount: 22, Currency: "eur"}) || po.Status != "paid" || earned("olga") != 0 {
			t.Errorf("payout %+v; olga has %s earnings left", po, earned("olga"))
		}
	})
}
