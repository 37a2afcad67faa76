package ledger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/record"
)

func (e *env) cameo(c tollgate.Cameo) tollgate.Cameo {
	e.t.Helper()
	if c.Kind == "" {
		c.Kind = tollgate.CameoCharacter
	}
	if c.Status == "" {
		c.Status = tollgate.CameoActive
	}
	c.Handle, c.Name, c.CreatedAt = c.ID, c.ID, Start
	if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.CameoInsert(e.ctx, c) }); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func cameoFee(c tollgate.Cameo, bps int) tollgate.Fee {
	return tollgate.Fee{Kind: tollgate.FeeCameo, Subject: c.ID, Handle: c.Handle, OwnerID: c.AccountID, Credits: c.Fee, TakeBPS: bps}
}

// testVideoFees: a video's cameo fees are checked when it is held (consent,
// daily limit on the owner's day) and paid at its capture, in the same
// transaction, to the owners' royalty grants less the take; a failed video
// pays no one and gives its uses back.
func testVideoFees(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("payer", noPlan, "UTC")
	e.account("owner", noPlan, "Asia/Kolkata")
	e.account("other", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "payer", Credits: cr(100)})
	lux := e.cameo(tollgate.Cameo{ID: "lux", AccountID: "owner", Policy: tollgate.PolicyAnyone, Fee: cr(2), DailyLimit: 2})
	mira := e.cameo(tollgate.Cameo{ID: "mira", AccountID: "other", Policy: tollgate.PolicyApproved, Fee: tollgate.Credits(1_500_001)})

	create := func(held tollgate.Credits, fees ...tollgate.Fee) (tollgate.Video, error) {
		v := newVideo("payer")
		v.Fees = fees
		return e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "payer", Product: tollgate.ProductVideo, Credits: held, TTL: time.Hour}, v)
	}
	// Without consent: refused, nothing held, no use counted.
	if _, err := create(cr(8), cameoFee(lux, 2000), cameoFee(mira, 2000)); tollgate.ErrorCode(err) != tollgate.CodeCameoNotPermitted {
		t.Fatalf("create with an unapproved cameo: got %v, want cameo_not_permitted", err)
	}
	if b := e.balance("payer"); b.Held != 0 {
		t.Fatalf("a refused create held %s", b.Held)
	}
	if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.CameoApprove(e.ctx, "mira", "payer", Start) }); err != nil {
		t.Fatal(err)
	}
	fees := []tollgate.Fee{cameoFee(lux, 2000), cameoFee(mira, 2000)} // 3.500001 credits
	v, err := create(tollgate.Credits(7_500_001), fees...)
	if err != nil {
		t.Fatal(err)
	}
	// The owner's day is Kolkata's: 09:00 UTC is 14:30 there, the same day.
	if v.Fees[0].Day != "2026-11-21" || v.Fees[1].Day != "2026-11-21" {
		t.Errorf("days counted: %q %q, want 2026-11-21 for both", v.Fees[0].Day, v.Fees[1].Day)
	}
	// A capture that does not cover the fees is refused, and changes nothing.
	v.Status = tollgate.VideoCompleted
	if _, err := e.l.SettleVideo(e.ctx, v, ptr(cr(3))); err == nil {
		t.Fatal("a capture below the fees went through")
	}
	// Delivered in part: 2 of the 4 generation credits, and the fees in full.
	got, err := e.l.SettleVideo(e.ctx, v, ptr(tollgate.Credits(5_500_001)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Charged != tollgate.Credits(5_500_001) {
		t.Errorf("charged %s, want 5.500001", got.Charged)
	}
	// lux: 2 less 20% = 1.6 to owner. mira: 1.500001 * 0.8 = 1.2000008,
	// rounded down to 1.200000; the platform keeps 0.300001.
	if b := e.balance("owner"); b.Available != tollgate.Credits(1_600_000) {
		t.Errorf("owner earned %s, want 1.6", b.Available)
	}
	if b := e.balance("other"); b.Available != tollgate.Credits(1_200_000) {
		t.Errorf("other earned %s, want 1.2", b.Available)
	}
	if b := e.balance("payer"); b.Available != tollgate.Credits(100_000_000-5_500_001) || b.Held != 0 {
		t.Errorf("payer: available %s held %s, want 94.499999 and 0", b.Available, b.Held)
	}
	e.read(func(tx store.Tx) error {
		es, err := tx.EarningList(e.ctx, record.EarningListParams{OwnerID: "other", From: Start, To: Start.Add(time.Hour), Limit: 10})
		if err != nil {
			return err
		}
		if len(es) != 1 || es[0].Gross != tollgate.Credits(1_500_001) || es[0].Take != tollgate.Credits(300_001) || es[0].Net != tollgate.Credits(1_200_000) ||
			es[0].PayerID != "payer" || es[0].VideoID != v.ID || es[0].Kind != tollgate.FeeCameo {
			t.Errorf("earnings of other: %+v", es)
		}
		gs, err := tx.GrantList(e.ctx, store.GrantListParams{AccountID: "owner"})
		if err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].Source != tollgate.SourceRoyalty || gs[0].ExpiresAt != nil {
			t.Errorf("owner's grants: %+v, want one royalty grant that never expires", gs)
		}
		return nil
	})

	// The daily limit: one use today; a second is taken, a third refused
	// while the second is pending, taken again once it failed.
	second, err := create(cr(6), cameoFee(lux, 2000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create(cr(6), cameoFee(lux, 2000)); tollgate.ErrorCode(err) != tollgate.CodeCameoNotPermitted {
		t.Fatalf("a third use on a limit of 2: got %v, want cameo_not_permitted", err)
	}
	second.Status = tollgate.VideoFailed
	if _, err := e.l.SettleVideo(e.ctx, second, nil); err != nil {
		t.Fatal(err)
	}
	if b := e.balance("owner"); b.Available != tollgate.Credits(1_600_000) {
		t.Errorf("a failed video paid its owner: %s, want 1.6 still", b.Available)
	}
	third, err := create(cr(6), cameoFee(lux, 2000))
	if err != nil {
		t.Fatalf("a use after the failed one gave it back: %v", err)
	}
	// The owner's royalty grant grows: one grant, not one per use.
	third.Status = tollgate.VideoCompleted
	if _, err := e.l.SettleVideo(e.ctx, third, ptr(cr(6))); err != nil {
		t.Fatal(err)
	}
	if b := e.balance("owner"); b.Available != tollgate.Credits(3_200_000) || len(b.Grants) != 1 {
		t.Errorf("owner after two uses: %s in %d grants, want 3.2 in one", b.Available, len(b.Grants))
	}
	// The next day in Kolkata starts at 18:30 UTC.
	e.clock.Set(time.Date(2026, 11, 21, 18, 30, 0, 0, time.UTC))
	if _, err := create(cr(6), cameoFee(lux, 2000)); err != nil {
		t.Fatalf("a use on the owner's next day: %v", err)
	}
	// Paused: the owner's consent is withdrawn for new jobs.
	lux.Status = tollgate.CameoPaused
	if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.CameoUpdate(e.ctx, lux) }); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 11, 22, 19, 0, 0, 0, time.UTC))
	if _, err := create(cr(6), cameoFee(lux, 2000)); tollgate.ErrorCode(err) != tollgate.CodeCameoNotPermitted {
		t.Fatalf("a paused cameo: got %v, want cameo_not_permitted", err)
	}
}

// testPayouts: a payout takes earnings (royalty credits only) to the
// payouts book with its record, in one transaction; a failed one brings
// them back to the grants they left, even a grant spent to zero since;
// settling twice the same way is a no-op, the other way a conflict.
func testPayouts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("o", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "o", Credits: cr(50)}) // bought or given: not paid out
	e.grant(ledger.GrantParams{AccountID: "o", Credits: cr(10), Source: tollgate.SourceRoyalty})
	e.grant(ledger.GrantParams{AccountID: "o", Credits: cr(5), Source: tollgate.SourceRoyalty})
	rate := tollgate.PayoutRate{Currency: "usd", Version: 1, MinorPerCredit: 30, Minimum: cr(2)}
	pay := func(c tollgate.Credits) (tollgate.Payout, error) {
		return e.l.Payout(e.ctx, ledger.PayoutParams{AccountID: "o", Credits: c, Rate: rate})
	}
	if _, err := pay(cr(1)); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
		t.Errorf("below the minimum: %v", err)
	}
	if _, err := pay(cr(16)); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
		t.Errorf("more than the earnings: %v", err)
	}
	p, err := pay(tollgate.Credits(12_345_678))
	if err != nil {
		t.Fatal(err)
	}
	// 12.345678 credits at 30 cents: 370.37 cents, rounded down.
	if p.Amount != (tollgate.Money{Amount: 370, Currency: "usd"}) || p.Status != tollgate.PayoutPending || len(p.Drawn) != 2 {
		t.Fatalf("payout %+v", p)
	}
	if b := e.balance("o"); b.Available != tollgate.Credits(65_000_000-12_345_678) {
		t.Errorf("available after the payout: %s", b.Available)
	}
	// The rest of the earnings are spent on a video: the grants are at zero.
	h := e.hold("o", tollgate.ProductVideo, cr(50)+tollgate.Credits(15_000_000-12_345_678))
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	failed, err := e.l.SettlePayout(e.ctx, ledger.SettlePayoutParams{PayoutID: p.ID, AccountID: "o", Status: tollgate.PayoutFailed, Failure: "the bank refused it"})
	if err != nil {
		t.Fatal(err)
	}
	if failed.Status != tollgate.PayoutFailed || failed.SettledAt == nil {
		t.Errorf("failed payout %+v", failed)
	}
	if b := e.balance("o"); b.Available != tollgate.Credits(12_345_678) {
		t.Errorf("available after the failure: %s, want the payout's 12.345678 back", b.Available)
	}
	if _, err := e.l.SettlePayout(e.ctx, ledger.SettlePayoutParams{PayoutID: p.ID, AccountID: "o", Status: tollgate.PayoutFailed}); err != nil {
		t.Errorf("failing it again: %v, want the same answer", err)
	}
	if _, err := e.l.SettlePayout(e.ctx, ledger.SettlePayoutParams{PayoutID: p.ID, AccountID: "o", Status: tollgate.PayoutPaid}); tollgate.ErrorCode(err) != tollgate.CodeConflict {
		t.Errorf("paying a failed payout: %v, want conflict", err)
	}
	if _, err := e.l.SettlePayout(e.ctx, ledger.SettlePayoutParams{PayoutID: p.ID, AccountID: "x", Status: tollgate.PayoutPaid}); tollgate.ErrorCode(err) != tollgate.CodeNotFound {
		t.Errorf("another account's payout: %v, want not_found", err)
	}
	// Paid: the credits stay out.
	p2, err := pay(cr(12))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.SettlePayout(e.ctx, ledger.SettlePayoutParams{PayoutID: p2.ID, AccountID: "o", Status: tollgate.PayoutPaid, TransferID: "tr_1"}); err != nil {
		t.Fatal(err)
	}
	if b := e.balance("o"); b.Available != tollgate.Credits(345_678) {
		t.Errorf("available after a paid payout: %s", b.Available)
	}
}

// testRoyaltyProperty: over random fees, take rates and outcomes, a
// delivered video pays each owner its fee less the take rounded down, the
// payer is charged what was captured and no more, a failed or pending
// video pays no one, and verify stays clean: credits are conserved to the
// micro-credit.
func testRoyaltyProperty(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		payer, o1, o2 := fmt.Sprintf("rp%d-payer", run), fmt.Sprintf("rp%d-o1", run), fmt.Sprintf("rp%d-o2", run)
		for _, a := range []string{payer, o1, o2} {
			e.account(a, noPlan, rapid.SampledFrom([]string{"UTC", "Asia/Kolkata", "America/St_Johns"}).Draw(rt, "tz"))
		}
		credits := rapid.Custom(func(rt *rapid.T) tollgate.Credits {
			return tollgate.Credits(rapid.Int64Range(0, 20).Draw(rt, "whole")*tollgate.MicroPerCredit + rapid.Int64Range(0, 999_999).Draw(rt, "micro"))
		})
		granted := tollgate.WholeCredits(rapid.Int64Range(1, 200).Draw(rt, "granted"))
		e.grant(ledger.GrantParams{AccountID: payer, Credits: granted})
		c1 := e.cameo(tollgate.Cameo{ID: fmt.Sprintf("rp%d-c1", run), AccountID: o1, Policy: tollgate.PolicyAnyone, Fee: credits.Draw(rt, "fee1")})
		c2 := e.cameo(tollgate.Cameo{ID: fmt.Sprintf("rp%d-c2", run), AccountID: o2, Policy: tollgate.PolicyAnyone, Fee: credits.Draw(rt, "fee2")})
		src := fmt.Sprintf("rp%d-video", run)
		if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error {
			return tx.PublishedPut(e.ctx, tollgate.Published{VideoID: src, AccountID: o2, RemixFee: credits.Draw(rt, "remix"), Remixable: true, PublishedAt: Start})
		}); err != nil {
			rt.Fatal(err)
		}
		remixFee, _ := func() (tollgate.Published, error) {
			var p tollgate.Published
			err := e.l.ReadRecords(e.ctx, func(tx record.Tx) error { var err error; p, err = tx.PublishedByID(e.ctx, src); return err })
			return p, err
		}()
		var charged, held tollgate.Credits
		earned := map[string]tollgate.Credits{}
		for i := range rapid.IntRange(1, 8).Draw(rt, "videos") {
			var fees []tollgate.Fee
			for _, f := range []tollgate.Fee{
				{Kind: tollgate.FeeCameo, Subject: c1.ID, OwnerID: o1, Credits: c1.Fee},
				{Kind: tollgate.FeeCameo, Subject: c2.ID, OwnerID: o2, Credits: c2.Fee},
				{Kind: tollgate.FeeRemix, Subject: src, OwnerID: o2, Credits: remixFee.RemixFee},
			} {
				if rapid.Bool().Draw(rt, fmt.Sprintf("uses%d", i)) {
					f.TakeBPS = rapid.IntRange(0, tollgate.MaxTakeBPS).Draw(rt, "take")
					fees = append(fees, f)
				}
			}
			gen := credits.Draw(rt, "generation") + 1
			total := gen
			for _, f := range fees {
				total += f.Credits
			}
			v := newVideo(payer)
			v.Fees = fees
			v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: payer, Product: tollgate.ProductVideo, Credits: total, TTL: 48 * time.Hour}, v)
			if tollgate.ErrorCode(err) == tollgate.CodeInsufficientCredits {
				continue
			}
			if err != nil {
				rt.Fatal(err)
			}
			switch rapid.SampledFrom([]string{"delivered", "partly", "failed", "pending"}).Draw(rt, "outcome") {
			case "pending":
				held += total
				continue
			case "failed":
				v.Status = tollgate.VideoFailed
				if _, err := e.l.SettleVideo(e.ctx, v, nil); err != nil {
					rt.Fatal(err)
				}
				continue
			case "partly":
				total -= tollgate.Credits(rapid.Int64Range(0, int64(gen)).Draw(rt, "short"))
			}
			v.Status = tollgate.VideoCompleted
			if _, err := e.l.SettleVideo(e.ctx, v, &total); err != nil {
				rt.Fatal(err)
			}
			charged += total
			for _, f := range fees {
				net, _ := tollgate.MulDivFloor(int64(f.Credits), int64(tollgate.MaxTakeBPS-f.TakeBPS), tollgate.MaxTakeBPS)
				earned[f.OwnerID] += tollgate.Credits(net)
			}
		}
		if b := e.balance(payer); b.Available != granted-charged-held || b.Held != held {
			rt.Fatalf("payer: available %s held %s, want %s and %s", b.Available, b.Held, granted-charged-held, held)
		}
		for _, o := range []string{o1, o2} {
			if b := e.balance(o); b.Available != earned[o] {
				rt.Fatalf("owner %s earned %s, want %s", o, b.Available, earned[o])
			}
		}
		r, err := e.l.Verify(e.ctx)
		if err != nil || len(r.Violations) > 0 {
			rt.Fatalf("verify: %v %v", err, r.Violations)
		}
	})
}

// testRoyaltyRaceManyLedgers: three ledgers on one store (three instances)
// create and settle, all at once, videos of several payers that pay fees
// to the same two owners, and pay those owners out meanwhile: each fee is
// paid exactly once, payouts never take more than was earned, and verify
// is clean.
func testRoyaltyRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	ls := []*ledger.Ledger{e.l, e.ledger(ledger.Options{}), e.ledger(ledger.Options{})}
	for _, a := range []string{"o1", "o2", "p0", "p1", "p2", "p3"} {
		e.account(a, noPlan, "UTC")
	}
	for i := range 4 {
		e.grant(ledger.GrantParams{AccountID: fmt.Sprintf("p%d", i), Credits: cr(100)})
	}
	c1 := e.cameo(tollgate.Cameo{ID: "race-c1", AccountID: "o1", Policy: tollgate.PolicyAnyone, Fee: tollgate.Credits(1_000_001)})
	c2 := e.cameo(tollgate.Cameo{ID: "race-c2", AccountID: "o2", Policy: tollgate.PolicyAnyone, Fee: tollgate.Credits(333_333)})
	rate := tollgate.PayoutRate{Currency: "usd", Version: 1, MinorPerCredit: 100}
	const perPayer = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	delivered := 0
	var paidOut tollgate.Credits
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payer := fmt.Sprintf("p%d", p)
			for i := range perPayer {
				l := ls[(p+i)%len(ls)]
				v := newVideo(payer)
				v.Fees = []tollgate.Fee{cameoFee(c1, 2000), cameoFee(c2, 1500)}
				v, err := l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: payer, Product: tollgate.ProductVideo, Credits: cr(3), TTL: time.Hour}, v)
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				v.Status = tollgate.VideoCompleted
				if i%4 == 3 {
					v.Status = tollgate.VideoFailed
					_, err = ls[(p+i+1)%len(ls)].SettleVideo(e.ctx, v, nil)
				} else {
					_, err = ls[(p+i+1)%len(ls)].SettleVideo(e.ctx, v, ptr(cr(3)))
				}
				if err != nil {
					t.Errorf("settle: %v", err)
					return
				}
				if v.Status == tollgate.VideoCompleted {
					mu.Lock()
					delivered++
					mu.Unlock()
				}
			}
		}()
	}
	// Payouts of o1 race the royalties that feed it: each takes what is
	// there or is refused, never more.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			po, err := ls[i%len(ls)].Payout(e.ctx, ledger.PayoutParams{AccountID: "o1", Credits: tollgate.Credits(500_000), Rate: rate})
			switch {
			case err == nil:
				mu.Lock()
				paidOut += po.Credits
				mu.Unlock()
			case tollgate.ErrorCode(err) != tollgate.CodeInvalidField:
				t.Errorf("payout: %v", err)
			}
		}
	}()
	wg.Wait()
	net1, _ := tollgate.MulDivFloor(1_000_001, 8000, 10000) // 800000
	net2, _ := tollgate.MulDivFloor(333_333, 8500, 10000)   // 283333
	if b := e.balance("o1"); b.Available != tollgate.Credits(int64(delivered)*net1)-paidOut {
		t.Errorf("o1: %s available, want %d fees of %d less %s paid out", b.Available, delivered, net1, paidOut)
	}
	if b := e.balance("o2"); b.Available != tollgate.Credits(int64(delivered)*net2) {
		t.Errorf("o2: %s available, want %d fees of %d", b.Available, delivered, net2)
	}
	var spent tollgate.Credits
	for p := range 4 {
		spent += cr(100) - e.balance(fmt.Sprintf("p%d", p)).Available
	}
	if spent != cr(3)*tollgate.Credits(delivered) {
		t.Errorf("payers spent %s, want %d deliveries of 3", spent, delivered)
	}
}
