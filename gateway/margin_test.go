package gateway_test

import (
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/ledger"
	"tollgate/router"
	"tollgate/store"
)

// TestMargin: the report of the jobs that ended in a period, per
// provider and per day: completed and failed counts, credits charged,
// their revenue (purchased credits at the order's price; promotion ones
// worth nothing), the providers' cost, the margin, and the possible cost
// of a submit whose outcome stayed unknown. On both stores.
func TestMargin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) store.Store) {
		done := router.Status{State: router.Completed, Progress: 100}
		lost := &router.Error{Kind: router.Unknown, Code: "timeout", Message: "the answer was lost"}
		cheap := &fake{name: "cheap", status: done, submits: []error{nil, lost}}
		e := newEnv(t, open, envOptions{providers: map[string]router.Provider{"cheap": cheap}, catalog: twoProviders(t)})
		// 10 credits bought for $4.00, spent before the promotion (they expire first).
		o := tollgate.Order{ID: "order_m", AccountID: "acme", PackID: "pack_10", Credits: tollgate.WholeCredits(10), Price: tollgate.Money{Amount: 400, Currency: "usd"},
			ValidForDays: 30, Status: tollgate.OrderPending, Provider: "dev", CreatedAt: time.Now().UTC()}
		if err := e.s.Write(e.ctx, func(tx store.Tx) error { return tx.OrderInsert(e.ctx, o) }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.l.CompleteOrder(e.ctx, ledger.CompleteOrderParams{OrderID: o.ID, PaidAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC().Add(-time.Minute)
		ok, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a fox", Seconds: 8, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		got := e.wait(ok.ID)
		unknown, err := e.gw.Create(e.ctx, gateway.CreateParams{AccountID: "acme", Prompt: "a lost fox", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		lostJob := e.wait(unknown.ID)
		if got.Status != tollgate.VideoCompleted || lostJob.ErrorCode != "provider_outcome_unknown" {
			t.Fatalf("jobs: %s, %s (%s); want completed, then failed with an unknown outcome", got.Status, lostJob.Status, lostJob.ErrorCode)
		}
		end := time.Now().UTC().Add(time.Minute)

		rep, err := e.gw.Margin(e.ctx, start, end, gateway.ByProvider)
		if err != nil {
			t.Fatal(err)
		}
		// What was charged (pro rata to the clip delivered) of the credits
		// bought at $0.40; cheap's cost is 10 cents a second for the 8 s
		// asked, and 4 s for the lost one.
		usd := func(n int64) []tollgate.Money { return []tollgate.Money{{Amount: n, Currency: "usd"}} }
		rev, _ := tollgate.MulDivFloor(int64(got.Charged), 400, int64(tollgate.WholeCredits(10)))
		if got.Charged <= 0 || rev <= 0 {
			t.Fatalf("charged %s: the test needs a charge", got.Charged)
		}
		want := gateway.MarginRow{Key: "cheap", Completed: 1, Failed: 1, Charged: got.Charged, Revenue: usd(rev), Cost: usd(80), Margin: usd(rev - 80), PossibleCost: usd(40)}
		if len(rep.Rows) != 1 || !sameRow(rep.Rows[0], want) {
			t.Errorf("by provider: %+v, want one row %+v", rep.Rows, want)
		}
		want.Key = "total"
		if !sameRow(rep.Total, want) {
			t.Errorf("total %+v, want %+v", rep.Total, want)
		}
		days, err := e.gw.Margin(e.ctx, start, end, gateway.ByDay)
		if err != nil || len(days.Rows) < 1 || days.Rows[0].Key != start.Format(time.DateOnly) && days.Rows[0].Key != end.Format(time.DateOnly) {
			t.Errorf("by day: %+v %v", days.Rows, err)
		}
		if before, err := e.gw.Margin(e.ctx, start.Add(-time.Hour), start, gateway.ByModel); err != nil || len(before.Rows) != 0 || before.Total.Completed != 0 {
			t.Errorf("a period before the jobs: %+v %v, want nothing", before, err)
		}
		for name, call := range map[string]func() error{
			"group": func() error { _, err := e.gw.Margin(e.ctx, start, end, "account"); return err },
			"period": func() error {
				_, err := e.gw.Margin(e.ctx, start.Add(-400*24*time.Hour), end, gateway.ByDay)
				return err
			},
			"order": func() error { _, err := e.gw.Margin(e.ctx, end, start, gateway.ByDay); return err },
		} {
			if err := call(); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
				t.Errorf("a bad %s: %v, want invalid_field", name, err)
			}
		}
	})
}

func sameRow(a, b gateway.MarginRow) bool {
	same := func(x, y []tollgate.Money) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return a.Key == b.Key && a.Completed == b.Completed && a.Failed == b.Failed && a.Charged == b.Charged &&
		same(a.Revenue, b.Revenue) && same(a.Cost, b.Cost) && same(a.Margin, b.Margin) && same(a.PossibleCost, b.PossibleCost)
}
