package ledger_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/record"
)

func (e *env) video(id string) tollgate.Video {
	e.t.Helper()
	var v tollgate.Video
	e.read(func(tx store.Tx) error {
		var err error
		v, err = tx.VideoByID(e.ctx, id)
		return err
	})
	return v
}

func newVideo(acct string) tollgate.Video {
	next := Start
	return tollgate.Video{ID: tollgate.NewID("video"), AccountID: acct, Kind: tollgate.VideoCreate, Status: tollgate.VideoQueued,
		Model: "sora-2", Prompt: "a lighthouse", Seconds: 4, Size: "1280x720", Step: tollgate.StepRoute, NextAt: &next, CreatedAt: Start}
}

// testVideoJobs: a job and its hold are made in one transaction, and
// finished in one with the hold's capture or release; a job written since
// it was read is settled by no one.
func testVideoJobs(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(10)})

	// Short: no job, no hold.
	short := newVideo("a")
	_, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(11)}, short)
	if tollgate.ErrorCode(err) != tollgate.CodeInsufficientCredits {
		t.Fatalf("create beyond the balance: got %v, want insufficient_credits", err)
	}
	e.read(func(tx store.Tx) error {
		if _, err := tx.VideoByID(e.ctx, short.ID); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("a refused create stored its job: %v", err)
		}
		return nil
	})

	v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(4), TTL: time.Hour}, newVideo("a"))
	if err != nil {
		t.Fatal(err)
	}
	if v.HoldID == "" || v.Held != cr(4) || v.Version != 1 {
		t.Fatalf("created job %+v: want its hold of 4 at version 1", v)
	}
	if got := e.video(v.ID); got.HoldID != v.HoldID || got.Version != 1 {
		t.Fatalf("stored job %+v, want hold %s at version 1", got, v.HoldID)
	}
	if b := e.balance("a"); b.Held != cr(4) || b.Available != cr(6) {
		t.Fatalf("after create: held %s available %s, want 4 and 6", b.Held, b.Available)
	}

	// A stale write settles nothing.
	stale := v
	v.Progress = 50
	if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.VideoUpdate(e.ctx, v) }); err != nil {
		t.Fatal(err)
	}
	v.Version++
	stale.Status = tollgate.VideoCompleted
	if _, err := e.l.SettleVideo(e.ctx, stale, ptr(cr(3))); tollgate.ErrorCode(err) != tollgate.CodeConflict {
		t.Fatalf("settle a stale job: got %v, want conflict", err)
	}
	if b := e.balance("a"); b.Held != cr(4) {
		t.Fatalf("a refused settle moved credits: held %s, want 4", b.Held)
	}

	// Completed with 3 of 4 credits charged: one transaction.
	v.Status, v.Step, v.NextAt = tollgate.VideoCompleted, tollgate.StepDone, nil
	done, err := e.l.SettleVideo(e.ctx, v, ptr(cr(3)))
	if err != nil {
		t.Fatal(err)
	}
	if done.Charged != cr(3) || done.Version != v.Version+1 {
		t.Fatalf("settled job %+v: want 3 charged at version %d", done, v.Version+1)
	}
	if got := e.video(v.ID); got.Status != tollgate.VideoCompleted || got.Charged != cr(3) || got.Version != done.Version {
		t.Fatalf("stored job %+v, want completed with 3 charged", got)
	}
	if b := e.balance("a"); b.Held != 0 || b.Available != cr(7) {
		t.Fatalf("after capture: held %s available %s, want 0 and 7", b.Held, b.Available)
	}
	// Settled once: the hold is gone, so a second settle fails and leaves the job.
	if _, err := e.l.SettleVideo(e.ctx, done, nil); tollgate.ErrorCode(err) != tollgate.CodeHoldNotPending {
		t.Fatalf("settle twice: got %v, want hold_not_pending", err)
	}

	// Failed: released, nothing charged.
	f, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(2)}, newVideo("a"))
	if err != nil {
		t.Fatal(err)
	}
	f.Status, f.ErrorCode = tollgate.VideoFailed, "provider_failed"
	if f, err = e.l.SettleVideo(e.ctx, f, nil); err != nil || f.Charged != 0 {
		t.Fatalf("release: got %+v, %v; want nothing charged", f, err)
	}
	if b := e.balance("a"); b.Held != 0 || b.Available != cr(7) {
		t.Fatalf("after release: held %s available %s, want 0 and 7", b.Held, b.Available)
	}
}

// testVideoSettleRaceManyLedgers: several ledgers on one store settle the
// same jobs at once, as instances of the job runner would; each job is
// settled exactly once and charged once.
func testVideoSettleRaceManyLedgers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(100)})
	others := []*ledger.Ledger{e.l, e.ledger(ledger.Options{}), e.ledger(ledger.Options{})}
	const jobs = 10
	var vs []tollgate.Video
	for range jobs {
		v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(2)}, newVideo("a"))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	var mu sync.Mutex
	won := map[string]int{}
	var wg sync.WaitGroup
	for _, v := range vs {
		for i, l := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := v // each settles its own copy
				v.Status = tollgate.VideoCompleted
				_, err := l.SettleVideo(e.ctx, v, ptr(tollgate.Credits((i+1)*500_000))) // each charges differently: only one may
				switch {
				case err == nil:
					mu.Lock()
					won[v.ID]++
					mu.Unlock()
				case tollgate.ErrorCode(err) == tollgate.CodeConflict, tollgate.ErrorCode(err) == tollgate.CodeHoldNotPending:
				default:
					t.Errorf("settle %s: %v", v.ID, err)
				}
			}()
		}
	}
	wg.Wait()
	var charged tollgate.Credits
	for _, v := range vs {
		if won[v.ID] != 1 {
			t.Errorf("job %s settled %d times, want once", v.ID, won[v.ID])
		}
		got := e.video(v.ID)
		h, err := e.l.HoldByID(e.ctx, v.HoldID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Charged != h.Captured || got.Version != 2 {
			t.Errorf("job %s: charged %s at version %d, its hold captured %s; want them equal at version 2", v.ID, got.Charged, got.Version, h.Captured)
		}
		charged += h.Captured
	}
	if b := e.balance("a"); b.Held != 0 || b.Available != cr(100)-charged {
		t.Errorf("balance: held %s available %s, want 0 and %s", b.Held, b.Available, cr(100)-charged)
	}
}

// testVerifyVideos: verify finds a video whose state disagrees with its
// hold's: here a hold captured outside SettleVideo, the job still queued.
func testVerifyVideos(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("a", noPlan, "UTC")
	e.grant(ledger.GrantParams{AccountID: "a", Credits: cr(10)})
	v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(2)}, newVideo("a"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.l.Verify(e.ctx); err != nil || len(r.Violations) != 0 {
		t.Fatalf("verify with a queued job: %v %v", r.Violations, err)
	}
	if _, err := e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: v.HoldID}); err != nil {
		t.Fatal(err)
	}
	r, err := e.l.Verify(e.ctx)
	if err != nil || len(r.Violations) != 1 || !strings.Contains(r.Violations[0], v.ID) {
		t.Fatalf("verify: got %v %v, want the video named", r.Violations, err)
	}
	// Put it right, so the test's own verify passes.
	v.Status, v.Charged = tollgate.VideoCompleted, cr(2)
	if err := e.l.WriteRecords(e.ctx, func(tx record.Tx) error { return tx.VideoUpdate(e.ctx, v) }); err != nil {
		t.Fatal(err)
	}
	if r, err := e.l.Verify(e.ctx); err != nil || len(r.Violations) != 0 {
		t.Fatalf("verify after the repair: %v %v", r.Violations, err)
	}
}

// testVideoRevenue: a video's capture records what its credits were paid
// for, in the capture's transaction: the credits it took from each
// purchase grant (in the order the hold drew them) at that order's price
// per credit, rounded down, one amount per currency; promotion credits
// are worth nothing; a released job has no revenue.
func testVideoRevenue(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	e.account("buyer", noPlan, "UTC")
	buy := func(id string, credits tollgate.Credits, price tollgate.Money, days int) {
		t.Helper()
		o := tollgate.Order{ID: id, AccountID: "buyer", PackID: "pack", Credits: credits, Price: price, ValidForDays: days,
			Status: tollgate.OrderPending, Provider: "dev", CreatedAt: Start}
		if err := e.s.Write(e.ctx, func(tx store.Tx) error { return tx.OrderInsert(e.ctx, o) }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.l.CompleteOrder(e.ctx, ledger.CompleteOrderParams{OrderID: id, PaidAt: Start}); err != nil {
			t.Fatal(err)
		}
	}
	// Spent first to last by expiry: dollars (30 days), euros (a year), the promotion (never).
	buy("order_usd", cr(10), tollgate.Money{Amount: 400, Currency: "usd"}, 30)
	buy("order_eur", cr(3), tollgate.Money{Amount: 100, Currency: "eur"}, 365)
	e.grant(ledger.GrantParams{AccountID: "buyer", Credits: cr(5), Source: tollgate.SourcePromo})

	v, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductVideo, Credits: cr(15), TTL: time.Hour}, newVideo("buyer"))
	if err != nil {
		t.Fatal(err)
	}
	v.Status = tollgate.VideoCompleted
	charge := cr(12) + cr(1)/2 // 10 dollar credits, then 2.5 of the euro ones
	done, err := e.l.SettleVideo(e.ctx, v, &charge)
	if err != nil {
		t.Fatal(err)
	}
	// 2.5 credits of an order of 3 for 100 cents: 83.33, rounded down.
	want := []tollgate.Money{{Amount: 400, Currency: "usd"}, {Amount: 83, Currency: "eur"}}
	if len(done.Revenue) != 2 || done.Revenue[0] != want[0] || done.Revenue[1] != want[1] {
		t.Errorf("revenue %+v, want %+v", done.Revenue, want)
	}
	if got := e.video(v.ID); len(got.Revenue) != 2 || got.Revenue[1] != want[1] {
		t.Errorf("stored revenue %+v, want %+v", got.Revenue, want)
	}

	// What the first hold did not capture went back to the euro grant:
	// the next half credit is paid with it (16.67 cents, rounded down),
	// and the credit after that with the promotion, worth nothing.
	for _, c := range []struct {
		credits tollgate.Credits
		want    []tollgate.Money
	}{{cr(1) / 2, []tollgate.Money{{Amount: 16, Currency: "eur"}}}, {cr(1), nil}} {
		w, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductVideo, Credits: c.credits, TTL: time.Hour}, newVideo("buyer"))
		if err != nil {
			t.Fatal(err)
		}
		w.Status = tollgate.VideoCompleted
		done, err := e.l.SettleVideo(e.ctx, w, &c.credits)
		if err != nil || len(done.Revenue) != len(c.want) || (len(c.want) > 0 && done.Revenue[0] != c.want[0]) {
			t.Errorf("%s credits: revenue %+v, %v; want %+v", c.credits, done.Revenue, err, c.want)
		}
	}
	r, err := e.l.CreateVideo(e.ctx, ledger.HoldParams{AccountID: "buyer", Product: tollgate.ProductVideo, Credits: cr(1), TTL: time.Hour}, newVideo("buyer"))
	if err != nil {
		t.Fatal(err)
	}
	r.Status = tollgate.VideoFailed
	if done, err := e.l.SettleVideo(e.ctx, r, nil); err != nil || len(done.Revenue) != 0 || done.Charged != 0 {
		t.Errorf("released: %+v, %v; want no charge and no revenue", done, err)
	}
}
