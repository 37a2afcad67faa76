package ledger_test

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
)

// model is the reference the property test checks the ledger against: the
// burn-down order, allowances, holds and expiry written as plainly as possible.
type model struct {
	grants map[string]*mGrant
	holds  map[string]*mHold
	order  []string // hold ids, for drawing
}

type mGrant struct {
	g tollgate.Grant // Remaining is the model's
}

type mHold struct {
	h       tollgate.Hold
	settled bool
}

func (m *model) usable(g *mGrant, now time.Time) bool {
	return g.g.Usable(now) && (g.g.ExpiresAt == nil || now.Before(*g.g.ExpiresAt))
}

// timeout releases holds past their expiry, as reads and writes do.
func (m *model) timeout(now time.Time) {
	for _, id := range m.order {
		h := m.holds[id]
		if !h.settled && !now.Before(h.h.ExpiresAt) {
			m.settle(h, 0, now)
		}
	}
}

func (m *model) settle(h *mHold, captured tollgate.Credits, now time.Time) {
	left := captured
	for _, a := range h.h.Allocations {
		take := min(left, a.Amount)
		left -= take
		if g := m.grants[a.GrantID]; m.usable(g, now) {
			g.g.Remaining += a.Amount - take
		}
	}
	h.settled = true
}

func (m *model) available(acct string, p tollgate.Product, now time.Time) (tollgate.Credits, []*mGrant) {
	var gs []*mGrant
	var sum tollgate.Credits
	for _, g := range m.grants {
		if g.g.AccountID == acct && g.g.Remaining > 0 && g.g.Pays(p) && m.usable(g, now) {
			gs = append(gs, g)
			sum += g.g.Remaining
		}
	}
	sort.Slice(gs, func(i, j int) bool { return burns(&gs[i].g, &gs[j].g) })
	return sum, gs
}

// burns is the burn-down order, restated for the model.
func burns(x, y *tollgate.Grant) bool {
	xe, ye := time.Unix(1<<40, 0), time.Unix(1<<40, 0)
	if x.ExpiresAt != nil {
		xe = *x.ExpiresAt
	}
	if y.ExpiresAt != nil {
		ye = *y.ExpiresAt
	}
	if !xe.Equal(ye) {
		return xe.Before(ye)
	}
	if x.Priority != y.Priority {
		return x.Priority < y.Priority
	}
	if !x.CreatedAt.Equal(y.CreatedAt) {
		return x.CreatedAt.Before(y.CreatedAt)
	}
	return x.ID < y.ID
}

func testProperty(t *testing.T, open Opener) {
	e := newEnv(t, open)
	e.withNoPlan()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		accts := []string{fmt.Sprintf("p%d-free", run), fmt.Sprintf("p%d-none", run)}
		e.account(accts[0], "free", rapid.SampledFrom([]string{"UTC", "Asia/Tokyo", "America/New_York"}).Draw(rt, "tz"))
		e.account(accts[1], noPlan, "UTC")
		m := &model{grants: map[string]*mGrant{}, holds: map[string]*mHold{}}
		products := []tollgate.Product{tollgate.ProductVideo, tollgate.ProductAssistant}
		amount := rapid.Custom(func(rt *rapid.T) tollgate.Credits {
			return tollgate.Credits(rapid.Int64Range(1, 40).Draw(rt, "whole")*500_000 + rapid.Int64Range(0, 3).Draw(rt, "micro"))
		})
		// learnAllowance adds a ledger-created allowance grant to the model.
		learnAllowance := func(acct string) {
			err := e.s.Read(e.ctx, func(tx store.Tx) error {
				gs, err := tx.GrantList(e.ctx, store.GrantListParams{AccountID: acct})
				for _, g := range gs {
					if _, ok := m.grants[g.ID]; !ok && g.Source == tollgate.SourceAllowance {
						g.Remaining = g.Amount // created by this very call, before it drew on it
						m.grants[g.ID] = &mGrant{g: g}
					}
				}
				return err
			})
			if err != nil {
				rt.Fatal(err)
			}
		}
		spend := func(rt *rapid.T, usage bool) {
			acct := rapid.SampledFrom(accts).Draw(rt, "account")
			p := rapid.SampledFrom(products).Draw(rt, "product")
			c := amount.Draw(rt, "credits")
			now := e.clock.Now()
			m.timeout(now)
			hp := ledger.HoldParams{AccountID: acct, Product: p, Credits: c, TTL: time.Duration(rapid.IntRange(1, 48).Draw(rt, "ttl_hours")) * time.Hour}
			var h tollgate.Hold
			var err error
			if usage {
				h, err = e.l.Usage(e.ctx, hp)
			} else {
				h, err = e.l.Hold(e.ctx, hp)
			}
			learnAllowance(acct)
			avail, gs := m.available(acct, p, now)
			if avail < c {
				if !errors.Is(err, tollgate.ErrInsufficientCredits) {
					rt.Fatalf("model has %s for %s, ledger answered %v to a hold of %s", avail, p, err, c)
				}
				return
			}
			if err != nil {
				rt.Fatalf("model has %s for %s, ledger refused %s: %v", avail, p, c, err)
			}
			need := c
			var want []tollgate.Allocation
			for _, g := range gs {
				take := min(need, g.g.Remaining)
				if take == 0 {
					break
				}
				need -= take
				g.g.Remaining -= take
				want = append(want, tollgate.Allocation{GrantID: g.g.ID, Amount: take})
			}
			if fmt.Sprint(want) != fmt.Sprint(h.Allocations) {
				rt.Fatalf("allocations %v, model burns down %v", h.Allocations, want)
			}
			m.holds[h.ID] = &mHold{h: h, settled: usage}
			m.order = append(m.order, h.ID)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"grant": func(rt *rapid.T) {
				p := ledger.GrantParams{AccountID: rapid.SampledFrom(accts).Draw(rt, "account"), Credits: amount.Draw(rt, "credits"),
					Priority: rapid.IntRange(-1, 1).Draw(rt, "priority")}
				if rapid.Bool().Draw(rt, "restricted") {
					p.Products = []tollgate.Product{rapid.SampledFrom(products).Draw(rt, "product")}
				}
				if rapid.Bool().Draw(rt, "expires") {
					p.ValidFor = time.Duration(rapid.IntRange(1, 72).Draw(rt, "hours")) * time.Hour
				}
				g, err := e.l.Grant(e.ctx, p)
				if err != nil {
					rt.Fatal(err)
				}
				m.grants[g.ID] = &mGrant{g: g}
			},
			"hold":  func(rt *rapid.T) { spend(rt, false) },
			"usage": func(rt *rapid.T) { spend(rt, true) },
			"settle": func(rt *rapid.T) {
				if len(m.order) == 0 {
					rt.Skip("no holds")
				}
				h := m.holds[rapid.SampledFrom(m.order).Draw(rt, "hold")]
				now := e.clock.Now()
				m.timeout(now)
				var err error
				var c tollgate.Credits
				release := rapid.Bool().Draw(rt, "release")
				if release {
					_, err = e.l.Release(e.ctx, ledger.ReleaseParams{HoldID: h.h.ID})
				} else {
					c = tollgate.Credits(rapid.Int64Range(0, int64(h.h.Amount)+1).Draw(rt, "capture"))
					_, err = e.l.Capture(e.ctx, ledger.CaptureParams{HoldID: h.h.ID, Credits: &c})
				}
				switch {
				case h.settled:
					if !errors.Is(err, tollgate.ErrHoldNotPending) {
						rt.Fatalf("settling a settled hold: %v, want hold_not_pending", err)
					}
				case !release && c > h.h.Amount:
					if tollgate.ErrorCode(err) != tollgate.CodeCaptureExceedsHold {
						rt.Fatalf("capturing %s of %s: %v, want capture_exceeds_hold", c, h.h.Amount, err)
					}
				case err != nil:
					rt.Fatalf("settle: %v", err)
				default:
					m.settle(h, c, now)
				}
			},
			"time": func(rt *rapid.T) {
				e.clock.Advance(time.Duration(rapid.IntRange(1, 36*60).Draw(rt, "minutes")) * time.Minute)
			},
			"sweep": func(rt *rapid.T) {
				if _, err := e.l.Sweep(e.ctx); err != nil {
					rt.Fatal(err)
				}
			},
			"": func(rt *rapid.T) { // checked after every step
				now := e.clock.Now()
				m.timeout(now)
				for _, acct := range accts {
					b, err := e.l.Balance(e.ctx, acct)
					if err != nil {
						rt.Fatal(err)
					}
					var held tollgate.Credits
					for _, h := range m.holds {
						if h.h.AccountID == acct && !h.settled {
							held += h.h.Amount
						}
					}
					if b.Held != held {
						rt.Fatalf("%s: held %s, model %s", acct, b.Held, held)
					}
					for _, p := range products {
						want, _ := m.available(acct, p, now)
						if acct == accts[0] && p == tollgate.ProductVideo && !hasAllowanceToday(m, acct, now, e) {
							want += cr(30)
						}
						if got := b.ByProduct[p]; got != want {
							rt.Fatalf("%s: %s balance %s, model %s", acct, p, got, want)
						}
					}
				}
			},
		})
		r, err := e.l.Verify(e.ctx)
		if err != nil {
			rt.Fatal(err)
		}
		if len(r.Violations) > 0 {
			rt.Fatalf("verify: %v", r.Violations)
		}
	})
}

// hasAllowanceToday reports whether the model has the account's video
// allowance for the period now falls in.
func hasAllowanceToday(m *model, acct string, now time.Time, e *env) bool {
	for _, g := range m.grants {
		if g.g.AccountID == acct && g.g.Source == tollgate.SourceAllowance && g.g.Pays(tollgate.ProductVideo) &&
			!now.Before(g.g.EffectiveAt) && g.g.ExpiresAt != nil && now.Before(*g.g.ExpiresAt) {
			return true
		}
	}
	return false
}
