package ledger_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
)

func testBurnDownOrder(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC") // 30 credits a day for video
	never := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5), Source: tollgate.SourcePromo})
	late := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5), ValidFor: 300 * 24 * time.Hour})
	soon := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5), ValidFor: 30 * 24 * time.Hour})
	// Same expiry as soon: priority decides, then age.
	soonLowPrio := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5), ExpiresAt: soon.ExpiresAt, Priority: 5})
	soonHighPrio := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5), ExpiresAt: soon.ExpiresAt, Priority: -5})

	h := e.hold("a", tollgate.ProductVideo, cr(30+5+5+5+5+2))
	var got []string
	for _, a := range h.Allocations {
		got = append(got, a.GrantID)
	}
	b := e.balance("a")
	allowance := ""
	for _, g := range b.Grants {
		if g.Source == tollgate.SourceAllowance {
			allowance = g.ID
		}
	}
	if allowance != "" {
		t.Fatalf("allowance %s still has credits after the hold: %+v", allowance, b.Grants)
	}
	want := []string{got[0], soonHighPrio.ID, soon.ID, soonLowPrio.ID, late.ID, never.ID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("burn-down order (-want +got):\n%s", diff)
	}
	if a := h.Allocations[0]; a.Amount != cr(30) {
		t.Fatalf("first allocation %s from %s, want the 30-credit daily allowance", a.Amount, a.GrantID)
	}
	if a := h.Allocations[5]; a.Amount != cr(2) {
		t.Fatalf("last allocation %s, want 2 from the never-expiring grant", a.Amount)
	}
	if got, want := b.ByProduct[tollgate.ProductVideo], cr(3); got != want {
		t.Fatalf("video balance %s, want %s", got, want)
	}
}

func testProductRestrictedGrants(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(10), Products: []tollgate.Product{tollgate.ProductAssistant}, ValidFor: time.Hour})
	all := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(4)})
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(5)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	var ie *tollgate.Error
	errors.As(err, &ie)
	if ie.Insufficient.Available != cr(4) || ie.Insufficient.Required != cr(5) {
		t.Fatalf("got available %s required %s, want 4 and 5", ie.Insufficient.Available, ie.Insufficient.Required)
	}
	h := e.hold("a", tollgate.ProductVideo, cr(4))
	if len(h.Allocations) != 1 || h.Allocations[0].GrantID != all.ID {
		t.Fatalf("video hold drew on %+v, want only the all-products grant", h.Allocations)
	}
	b := e.balance("a")
	if b.ByProduct[tollgate.ProductAssistant] != cr(10) || b.ByProduct[tollgate.ProductVideo] != 0 {
		t.Fatalf("by product %v, want assistant 10 and video 0", b.ByProduct)
	}
}

func testDailyAllowance(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	b := e.balance("a")
	if len(b.DailyAllowances) != 1 || b.DailyAllowances[0].Remaining != cr(30) || b.Available != cr(30) {
		t.Fatalf("fresh account balance %+v, want 30 credits of video allowance", b)
	}
	h := e.hold("a", tollgate.ProductVideo, cr(12))
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	b = e.balance("a")
	d := b.DailyAllowances[0]
	if d.Used != cr(12) || d.Remaining != cr(18) || !d.ResetsAt.Equal(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("allowance after 12 used: %+v", d)
	}
	// Unused allowance never rolls over.
	e.clock.Set(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	b = e.balance("a")
	if b.Available != cr(30) || b.DailyAllowances[0].Used != 0 {
		t.Fatalf("next day: available %s, allowance %+v; want a fresh 30", b.Available, b.DailyAllowances[0])
	}
	e.hold("a", tollgate.ProductVideo, cr(30))
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	var ie *tollgate.Error
	errors.As(err, &ie)
	if ie.Insufficient.DailyAllowanceResetsAt == nil || !ie.Insufficient.DailyAllowanceResetsAt.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("resets at %v, want 2026-11-23T00:00Z", ie.Insufficient.DailyAllowanceResetsAt)
	}
	// Yesterday's 18 unused credits went to breakage when the day ended.
	if _, err := e.l.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	es, err := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: "a", After: 0, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var breakage tollgate.Credits
	for _, en := range es {
		if en.Book == tollgate.BookBreakage {
			breakage += en.Amount
		}
	}
	if breakage != cr(18) {
		t.Fatalf("breakage %s, want 18", breakage)
	}
	// An assistant hold creates no video allowance and finds nothing to pay with.
	_, err = e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductAssistant, Credits: cr(1)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
}

func testDailyAllowanceTimezone(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("tokyo", "pro", "Asia/Tokyo") // UTC+9: 09:00Z is 18:00 local
	e.account("la", "pro", "America/Los_Angeles")
	for _, a := range []string{"tokyo", "la"} {
		if _, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: a, Product: tollgate.ProductVideo, Credits: cr(100)}); err != nil {
			t.Fatal(err)
		}
	}
	// 15:00Z is midnight in Tokyo, 07:00 in Los Angeles.
	e.clock.Set(time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC))
	e.hold("tokyo", tollgate.ProductVideo, cr(100))
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "la", Product: tollgate.ProductVideo, Credits: cr(1)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	b := e.balance("la")
	if want := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC); !b.DailyAllowances[0].ResetsAt.Equal(want) {
		t.Fatalf("LA resets at %v, want %v", b.DailyAllowances[0].ResetsAt, want)
	}
}

func testPartialCapture(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	first := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(3), ValidFor: time.Hour})
	second := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(10), ValidFor: 2 * time.Hour})
	h := e.hold("a", tollgate.ProductVideo, cr(8)) // 3 from first, 5 from second
	if b := e.balance("a"); b.Held != cr(8) || b.Available != cr(5) {
		t.Fatalf("after hold: held %s available %s, want 8 and 5", b.Held, b.Available)
	}
	c, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.Credits(4_500_000))})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != tollgate.HoldCaptured || c.Captured != 4_500_000 {
		t.Fatalf("captured hold %+v", c)
	}
	// 3 charged to the first grant, 1.5 to the second; 3.5 go back to the second.
	if g := e.grantByID("a", first.ID); g.Remaining != 0 {
		t.Fatalf("first grant remaining %s, want 0", g.Remaining)
	}
	if g := e.grantByID("a", second.ID); g.Remaining != 8_500_000 {
		t.Fatalf("second grant remaining %s, want 8.5", g.Remaining)
	}
	if b := e.balance("a"); b.Held != 0 || b.Available != 8_500_000 {
		t.Fatalf("after capture: held %s available %s", b.Held, b.Available)
	}
}

func testCaptureNeverExceedsHold(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	h := e.hold("a", tollgate.ProductVideo, cr(2))
	_, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.Credits(2_000_001))})
	wantCode(t, err, tollgate.CodeCaptureExceedsHold)
	_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(tollgate.Credits(-1))})
	wantCode(t, err, tollgate.CodeInvalidField)
	got, err := e.l.HoldByID(e.ctx, h.ID, "")
	if err != nil || got.Status != tollgate.HoldPending {
		t.Fatalf("after refused captures: %+v, %v; want still pending", got, err)
	}
	c, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, Credits: ptr(cr(0))})
	if err != nil || c.Captured != 0 {
		t.Fatalf("capture 0: %+v, %v", c, err)
	}
	if b := e.balance("a"); b.Available != cr(30) {
		t.Fatalf("capturing 0 should return everything: available %s", b.Available)
	}
}

func testCloseTwice(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	h := e.hold("a", tollgate.ProductVideo, cr(2))
	if _, err := e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.ID})
	wantCode(t, err, tollgate.CodeHoldNotPending)
	_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID})
	wantCode(t, err, tollgate.CodeHoldNotPending)
	h2 := e.hold("a", tollgate.ProductVideo, cr(2))
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h2.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h2.ID})
	wantCode(t, err, tollgate.CodeHoldNotPending)
	if b := e.balance("a"); b.Available != cr(28) {
		t.Fatalf("available %s, want 28: one capture of 2", b.Available)
	}
}

func testReleaseAfterGrantExpired(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	g := e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(10), ValidFor: time.Hour})
	h, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(4), TTL: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour) // the grant expired, the hold did not
	if b := e.balance("a"); b.Available != 0 || b.Held != cr(4) {
		t.Fatalf("after expiry: available %s held %s, want 0 and 4", b.Available, b.Held)
	}
	if _, err := e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	got := e.grantByID("a", g.ID)
	if got.Remaining != 0 || got.ExpiredAt == nil {
		t.Fatalf("expired grant %+v: want remaining 0 and expired_at set", got)
	}
	es, _ := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: "a", After: 0, Limit: 100})
	var breakage tollgate.Credits
	for _, en := range es {
		if en.Book == tollgate.BookBreakage {
			breakage += en.Amount
		}
	}
	if breakage != cr(10) {
		t.Fatalf("breakage %s, want all 10 (6 at expiry, 4 at release)", breakage)
	}
}

func testExpiryAppliedOnRead(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(7), ValidFor: 24 * time.Hour})
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(2)})
	e.clock.Advance(24 * time.Hour) // exactly at expires_at: expired
	if b := e.balance("a"); b.Available != cr(2) || len(b.Grants) != 1 {
		t.Fatalf("without a sweep: available %s grants %d, want 2 and 1", b.Available, len(b.Grants))
	}
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(3)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	n, err := e.l.Sweep(e.ctx)
	if err != nil || n != 0 {
		t.Fatalf("sweep after the write applied expiry: %d accounts, %v; want 0", n, err)
	}
}

func testHoldTimeout(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	h, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(10), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if b := e.balance("a"); b.Available != cr(30) || b.Held != 0 {
		t.Fatalf("timed-out hold: available %s held %s, want 30 and 0", b.Available, b.Held)
	}
	got, _ := e.l.HoldByID(e.ctx, h.ID, "")
	if got.Status != tollgate.HoldExpired {
		t.Fatalf("status %s, want expired", got.Status)
	}
	_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID})
	wantCode(t, err, tollgate.CodeHoldNotPending)
	n, err := e.l.Sweep(e.ctx)
	if err != nil || n != 0 {
		t.Fatalf("sweep: %d, %v; the capture attempt already expired it", n, err)
	}
	h2, _ := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(10), TTL: time.Minute})
	e.clock.Advance(2 * time.Minute)
	if n, err := e.l.Sweep(e.ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 account", n, err)
	}
	got, _ = e.l.HoldByID(e.ctx, h2.ID, "")
	if got.Status != tollgate.HoldExpired {
		t.Fatalf("after sweep: status %s, want expired", got.Status)
	}
}

func testUsage(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(5)})
	u, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductAssistant, Credits: 1_250_000})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != tollgate.HoldCaptured || u.Captured != 1_250_000 {
		t.Fatalf("usage %+v", u)
	}
	b := e.balance("a")
	if b.ByProduct[tollgate.ProductAssistant] != 3_750_000 || b.ByProduct[tollgate.ProductVideo] != 33_750_000 {
		t.Fatalf("by product %v", b.ByProduct)
	}
	_, err = e.l.Usage(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductAssistant, Credits: cr(4)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
}

func testInsufficient(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(31)})
	wantCode(t, err, tollgate.CodeInsufficientCredits)
	var ie *tollgate.Error
	if !errors.As(err, &ie) || ie.Insufficient == nil {
		t.Fatalf("no figures in %v", err)
	}
	if ie.Insufficient.Required != cr(31) || ie.Insufficient.Available != cr(30) {
		t.Fatalf("figures %+v", ie.Insufficient)
	}
	if !errors.Is(err, tollgate.ErrInsufficientCredits) {
		t.Fatal("errors.Is(err, ErrInsufficientCredits) is false")
	}
	if b := e.balance("a"); b.Held != 0 || b.Available != cr(30) {
		t.Fatalf("a refused hold changed the balance: %+v", b)
	}
}

func testSuspendedAccount(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	h := e.hold("a", tollgate.ProductVideo, cr(1))
	suspended := tollgate.AccountSuspended
	if _, err := e.l.UpdateAccount(e.ctx, "a", ledger.AccountChanges{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1)})
	wantCode(t, err, tollgate.CodeAccountSuspended)
	if _, err := e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.ID}); err != nil {
		t.Fatalf("a suspended account's hold must still settle: %v", err)
	}
}

func testIdempotency(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	render := func(v any) (int, []byte) { return 201, []byte(v.(tollgate.Hold).ID) }
	k := &ledger.Idempotency{Scope: "a", Key: "k1", Hash: []byte("body-1"), Render: render}
	h, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(3), Idempotency: k})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(3), Idempotency: k})
	var rep *ledger.Replayed
	if !errors.As(err, &rep) || rep.Status != 201 || string(rep.Body) != h.ID {
		t.Fatalf("replay: got %v, want the first answer %s", err, h.ID)
	}
	other := &ledger.Idempotency{Scope: "a", Key: "k1", Hash: []byte("body-2"), Render: render}
	_, err = e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(4), Idempotency: other})
	wantCode(t, err, tollgate.CodeIdempotencyMismatch)
	if b := e.balance("a"); b.Held != cr(3) {
		t.Fatalf("held %s, want 3: one hold only", b.Held)
	}
	// Concurrent repeats of one key inside one batch: one hold, the rest replay.
	k2 := &ledger.Idempotency{Scope: "a", Key: "k2", Hash: []byte("same"), Render: render}
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1), Idempotency: k2})
			errs <- err
		}()
	}
	fresh := 0
	for range 20 {
		err := <-errs
		if err == nil {
			fresh++
		} else if !errors.As(err, &rep) {
			t.Fatalf("concurrent repeat: %v", err)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d holds made with one key, want 1", fresh)
	}
	// Keys expire after the TTL and can be reused.
	e.clock.Advance(49 * time.Hour)
	if _, err := e.l.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1), Idempotency: other}); err != nil {
		t.Fatalf("a key past its TTL: %v", err)
	}
}

func testFailingOpRejectedAlone(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(1), ExternalRef: "order-1"})
	// Exhaust that grant so the ledger does not see the ref among the open
	// grants: it must look in the database, refuse the duplicate alone and
	// commit the others in the same batch, never breaking the unique index
	// (which would fail the whole batch).
	h := e.hold("a", tollgate.ProductVideo, cr(1))
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	l := e.ledger(ledger.Options{MaxBatch: 64})
	type result struct {
		dup bool
		err error
	}
	results := make(chan result, 41)
	for i := range 41 {
		go func() {
			p := ledger.GrantParams{AccountID: "a", Credits: cr(1)}
			if i == 20 {
				p.ExternalRef = "order-1"
			}
			_, err := l.Grant(e.ctx, p)
			results <- result{i == 20, err}
		}()
	}
	for range 41 {
		r := <-results
		if r.dup {
			wantCode(t, r.err, tollgate.CodeConflict)
		} else if r.err != nil {
			t.Fatalf("an innocent grant failed: %v", r.err)
		}
	}
	if b := e.balance("a"); b.Available != cr(40) {
		t.Fatalf("available %s, want 40", b.Available)
	}
	if st := l.Stats(); st.Retried != 0 {
		t.Errorf("%d batches were applied again; want none: the duplicate is refused alone", st.Retried)
	}
}

func testAccountKeyScope(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	e.account("b", "free", "UTC")
	h := e.hold("a", tollgate.ProductVideo, cr(1))
	_, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, AccountID: "b"})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.ID, AccountID: "b"})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.HoldByID(e.ctx, h.ID, "b")
	wantCode(t, err, tollgate.CodeNotFound)
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID, AccountID: "a"}); err != nil {
		t.Fatal(err)
	}
}

func testUnknownIDs(t *testing.T, open Opener) {
	e := newEnv(t, open)
	_, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: "nobody", Product: tollgate.ProductVideo, Credits: cr(1)})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.Grant(e.ctx, ledger.GrantParams{AccountID: "nobody", Credits: cr(1)})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: "hold_nope"})
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.Balance(e.ctx, "nobody")
	wantCode(t, err, tollgate.CodeNotFound)
	_, err = e.l.CreateAccount(e.ctx, ledger.AccountParams{Name: "x", Plan: "platinum"})
	wantCode(t, err, tollgate.CodeInvalidField)
	_, err = e.l.CreateAccount(e.ctx, ledger.AccountParams{Name: "x", Timezone: "Mars/Olympus"})
	wantCode(t, err, tollgate.CodeInvalidField)
	e.account("dup", "free", "UTC")
	_, err = e.l.CreateAccount(e.ctx, ledger.AccountParams{ID: "dup", Name: "again"})
	wantCode(t, err, tollgate.CodeConflict)
}

func testEntries(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("a", "free", "UTC")
	h := e.hold("a", tollgate.ProductVideo, cr(2))
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	es, err := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: "a", After: 0, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byTxn := map[string]tollgate.Credits{}
	var kinds []tollgate.TxnKind
	for _, en := range es {
		byTxn[en.TxnID] += en.Amount
		if len(kinds) == 0 || kinds[len(kinds)-1] != en.Kind {
			kinds = append(kinds, en.Kind)
		}
	}
	for id, s := range byTxn {
		if s != 0 {
			t.Errorf("transaction %s sums to %s", id, s)
		}
	}
	want := []tollgate.TxnKind{tollgate.TxnGrant, tollgate.TxnHold, tollgate.TxnCapture}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("journal kinds (-want +got):\n%s", diff)
	}
	page1, _ := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: "a", After: 0, Limit: 2})
	page2, _ := e.l.Entries(e.ctx, ledger.EntryListParams{AccountID: "a", After: page1[1].ID, Limit: 100})
	if len(page1) != 2 || len(page2) != len(es)-2 || page2[0].ID != es[2].ID {
		t.Fatalf("pages of %d and %d, want 2 and %d", len(page1), len(page2), len(es)-2)
	}
}

// testVerifyRefunds refunds half of an order while most of its credits are
// held, then corrupts what the refund owes behind the ledger's back:
// verify must name it, since refunded credits could then be spent again.
func testVerifyRefunds(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("buyer", noPlan, "UTC")
	o := tollgate.Order{ID: "order_v", AccountID: "buyer", PackID: "pack_10", Credits: cr(10), Price: tollgate.Money{Amount: 400, Currency: "usd"},
		ValidForDays: 365, Status: tollgate.OrderPending, Provider: "dev", CreatedAt: Start}
	if err := e.s.Write(e.ctx, func(tx store.Tx) error { return tx.OrderInsert(e.ctx, o) }); err != nil {
		t.Fatal(err)
	}
	done, err := e.l.CompleteOrder(e.ctx, ledger.CompleteOrderParams{OrderID: o.ID, PaidAt: Start})
	if err != nil || !done.Changed || done.Grant == nil {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	again, err := e.l.CompleteOrder(e.ctx, ledger.CompleteOrderParams{OrderID: o.ID, PaidAt: Start})
	if err != nil || again.Changed {
		t.Fatalf("complete again: got %+v, %v; want no change", again, err)
	}
	e.hold("buyer", tollgate.ProductVideo, cr(8))
	r, err := e.l.RefundOrder(e.ctx, ledger.RefundOrderParams{OrderID: o.ID, Refunded: 200, Total: 400})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ledger.Refunded{TakenBack: cr(2), Owed: cr(3)}); r.Refund != want {
		t.Fatalf("refund: got %+v, want %+v", r.Refund, want)
	}
	rep, err := e.l.Verify(e.ctx)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("verify before corruption: %v %v", err, rep.Violations)
	}
	g := done.Grant.ID
	// The refund forgets what it is owed: the held 3 would come back.
	if err := e.s.Write(e.ctx, func(tx store.Tx) error {
		return tx.Apply(e.ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g, Remaining: 0, Held: cr(8), RefundOwed: cr(1)}}})
	}); err != nil {
		t.Fatal(err)
	}
	rep, err = e.l.Verify(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "account buyer: its orders' refunds cover 2 more than their grants account for"
	if !slices.Contains(rep.Violations, want) {
		t.Fatalf("verify: got %q, want it to include %q", rep.Violations, want)
	}
	// Owed more than is held.
	if err := e.s.Write(e.ctx, func(tx store.Tx) error {
		return tx.Apply(e.ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g, Remaining: 0, Held: cr(8), RefundOwed: cr(9)}}})
	}); err != nil {
		t.Fatal(err)
	}
	rep, _ = e.l.Verify(e.ctx)
	want = "grant " + g + ": a refund is owed 9 of it but pending holds hold 8"
	if !slices.Contains(rep.Violations, want) {
		t.Fatalf("verify: got %q, want it to include %q", rep.Violations, want)
	}
	// What the grant records as held no longer matches the pending hold.
	if err := e.s.Write(e.ctx, func(tx store.Tx) error {
		return tx.Apply(e.ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g, Remaining: 0, Held: cr(5), RefundOwed: cr(3)}}})
	}); err != nil {
		t.Fatal(err)
	}
	rep, _ = e.l.Verify(e.ctx)
	want = "grant " + g + ": held is 5 but pending holds draw 8"
	if !slices.Contains(rep.Violations, want) {
		t.Fatalf("verify: got %q, want it to include %q", rep.Violations, want)
	}
	// Put it right, so the cleanup's verify passes.
	if err := e.s.Write(e.ctx, func(tx store.Tx) error {
		return tx.Apply(e.ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g, Remaining: 0, Held: cr(8), RefundOwed: cr(3)}}})
	}); err != nil {
		t.Fatal(err)
	}
}

// testReservedRefs: a grant given with one of Tollgate's own references
// (a day's allowance, an order) is refused, so it cannot stand in for them.
func testReservedRefs(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.account("r", "free", "UTC")
	for _, ref := range []string{"allowance:video:2026-11-21", "order:order_x"} {
		_, err := e.l.Grant(e.ctx, ledger.GrantParams{AccountID: "r", Credits: cr(1), ExternalRef: ref})
		wantCode(t, err, tollgate.CodeInvalidField)
	}
	// Today's allowance is still made, in full, on first use.
	e.hold("r", tollgate.ProductVideo, cr(30))
	if b := e.balance("r"); b.Available != 0 || b.Held != cr(30) {
		t.Fatalf("available %s, held %s; want 0 and the allowance's 30", b.Available, b.Held)
	}
}
