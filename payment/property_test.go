package payment

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"tollgate"
	"tollgate/ledger"
)

// TestPurchasesRefundsSpendsExpiries drives random sequences of purchases,
// partial and full refunds (in any order, repeated), spends, holds and the
// passing of time, and checks after every step that no refunded order's
// grant keeps credits, and after every sequence that verify finds nothing.
func TestPurchasesRefundsSpendsExpiries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		f.svc.Provider = Dev{}
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			run++
			acct := fmt.Sprintf("prop-%d", run)
			if _, err := f.l.CreateAccount(f.ctx, ledger.AccountParams{ID: acct, Name: acct, Plan: "free"}); err != nil {
				rt.Fatal(err)
			}
			var orders []tollgate.Order
			refunded := map[string]int64{}
			rt.Repeat(map[string]func(*rapid.T){
				"buy": func(rt *rapid.T) {
					o, _, err := f.svc.Checkout(f.ctx, acct, "pack_10", nil)
					if err != nil {
						rt.Fatal(err)
					}
					if rapid.Bool().Draw(rt, "pay") {
						if o, err = f.svc.Complete(f.ctx, o.ID, f.clock.Now()); err != nil {
							rt.Fatal(err)
						}
					}
					orders = append(orders, o)
				},
				"pay": func(rt *rapid.T) {
					if len(orders) == 0 {
						rt.Skip("no orders")
					}
					o := rapid.SampledFrom(orders).Draw(rt, "order")
					if _, err := f.svc.Complete(f.ctx, o.ID, f.clock.Now()); err != nil && tollgate.ErrorCode(err) != tollgate.CodeConflict {
						rt.Fatal(err)
					}
				},
				"refund": func(rt *rapid.T) {
					if len(orders) == 0 {
						rt.Skip("no orders")
					}
					o := rapid.SampledFrom(orders).Draw(rt, "order")
					amt := rapid.Int64Range(refunded[o.ID], 400).Draw(rt, "refunded")
					if amt == 0 {
						rt.Skip("nothing refunded")
					}
					if _, err := f.svc.Refund(f.ctx, o.ID, amt, 400); err != nil {
						rt.Fatal(err)
					}
					refunded[o.ID] = amt
				},
				"spend": func(rt *rapid.T) {
					c := tollgate.Credits(rapid.Int64Range(1, 8_000_000).Draw(rt, "credits"))
					p := rapid.SampledFrom([]tollgate.Product{tollgate.ProductVideo, tollgate.ProductAssistant}).Draw(rt, "product")
					var err error
					if rapid.Bool().Draw(rt, "hold") {
						_, err = f.l.Hold(f.ctx, ledger.HoldParams{AccountID: acct, Product: p, Credits: c, TTL: time.Hour})
					} else {
						_, err = f.l.Usage(f.ctx, ledger.HoldParams{AccountID: acct, Product: p, Credits: c})
					}
					if err != nil && tollgate.ErrorCode(err) != tollgate.CodeInsufficientCredits {
						rt.Fatal(err)
					}
				},
				"time": func(rt *rapid.T) {
					f.clock.Advance(time.Duration(rapid.IntRange(1, 400).Draw(rt, "days")) * 24 * time.Hour)
				},
				"sweep": func(rt *rapid.T) {
					if _, err := f.l.Sweep(f.ctx); err != nil {
						rt.Fatal(err)
					}
				},
				"": func(rt *rapid.T) {
					b, err := f.l.Balance(f.ctx, acct)
					if err != nil {
						rt.Fatal(err)
					}
					for _, o := range orders {
						cur, _ := f.svc.Order(f.ctx, o.ID, "")
						if cur.Status != tollgate.OrderRefunded || cur.GrantID == "" {
							continue
						}
						for _, g := range b.Grants {
							if g.ID == cur.GrantID {
								rt.Fatalf("refunded order %s: its grant still has %s", o.ID, g.Remaining)
							}
						}
					}
				},
			})
			r, err := f.l.Verify(f.ctx)
			if err != nil || len(r.Violations) > 0 {
				rt.Fatalf("verify: %v %v", err, r.Violations)
			}
		})
	})
}
