package ledger

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
)

// The rules at the heart of the batch, on in-memory state alone: burn-down
// order, closing a hold, and expiry. The same rules run through the ledger
// on every store in suite_test.go.

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func cr(n int64) tollgate.Credits { return tollgate.WholeCredits(n) }

// memBatch is a batch with no transaction, at now, holding account a.
func memBatch(now time.Time, grants ...tollgate.Grant) *batch {
	b := newBatch(&Ledger{opt: Options{}}, nil, now)
	b.accounts["a"] = &account{a: tollgate.Account{ID: "a", Status: tollgate.AccountActive}}
	for _, g := range grants {
		g.AccountID = "a"
		if g.EffectiveAt.IsZero() {
			g.EffectiveAt = t0.Add(-time.Hour)
		}
		b.addGrant(g, false)
	}
	return b
}

func TestBurnDownOrderTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		grants []tollgate.Grant
		want   []string
	}{
		{"soonest expiry first, never-expiring last", []tollgate.Grant{
			{ID: "forever", Remaining: cr(1)},
			{ID: "month", Remaining: cr(1), ExpiresAt: at(30 * 24 * time.Hour)},
			{ID: "day", Remaining: cr(1), ExpiresAt: at(24 * time.Hour)},
		}, []string{"day", "month", "forever"}},
		{"same expiry: lower priority number first", []tollgate.Grant{
			{ID: "p5", Remaining: cr(1), ExpiresAt: at(time.Hour), Priority: 5},
			{ID: "p-1", Remaining: cr(1), ExpiresAt: at(time.Hour), Priority: -1},
		}, []string{"p-1", "p5"}},
		{"same expiry and priority: oldest first, then id", []tollgate.Grant{
			{ID: "b-new", Remaining: cr(1), CreatedAt: t0},
			{ID: "z-old", Remaining: cr(1), CreatedAt: t0.Add(-time.Hour)},
			{ID: "a-new", Remaining: cr(1), CreatedAt: t0},
		}, []string{"z-old", "a-new", "b-new"}},
		{"spent, expired, frozen, not yet effective and other products' grants are skipped", []tollgate.Grant{
			{ID: "spent", Remaining: 0},
			{ID: "expired", Remaining: cr(1), ExpiresAt: at(-time.Minute)},
			{ID: "closed", Remaining: cr(1), ExpiredAt: at(-time.Hour)},
			{ID: "frozen", Remaining: cr(1), Frozen: true},
			{ID: "future", Remaining: cr(1), EffectiveAt: t0.Add(time.Hour)},
			{ID: "assistant", Remaining: cr(1), Products: []tollgate.Product{tollgate.ProductAssistant}},
			{ID: "video", Remaining: cr(1), Products: []tollgate.Product{tollgate.ProductVideo}},
		}, []string{"video"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := memBatch(t0, c.grants...)
			var got []string
			for _, gs := range payable(b.accounts["a"], tollgate.ProductVideo, t0) {
				got = append(got, gs.g.ID)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("payable order (-want +got):\n%s", diff)
			}
		})
	}
}

// line is a journal entry as these tests compare it.
type line struct {
	Book   tollgate.Book
	Grant  string
	Amount tollgate.Credits
}

func lines(es []tollgate.Entry) []line {
	var out []line
	for _, e := range es {
		out = append(out, line{e.Book, e.GrantID, e.Amount})
	}
	return out
}

func TestCloseHoldTable(t *testing.T) {
	t.Parallel()
	// A 5-credit hold drawn 3 from g1 then 2 from g2 (burn-down order).
	alloc := []tollgate.Allocation{{GrantID: "g1", Amount: cr(3)}, {GrantID: "g2", Amount: cr(2)}}
	cases := []struct {
		name          string
		captured      tollgate.Credits
		g2            tollgate.Grant // g1 is always in force with 10 left
		wantLines     []line
		wantRemaining [2]tollgate.Credits
		wantG2Owed    tollgate.Credits
	}{
		{"release: everything back", 0, tollgate.Grant{ID: "g2", Remaining: cr(1)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.BookAvailable, "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.BookAvailable, "g2", cr(2)}},
			[2]tollgate.Credits{cr(13), cr(3)}, 0},
		{"full capture: all to revenue", cr(5), tollgate.Grant{ID: "g2", Remaining: cr(1)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g2", cr(2)}},
			[2]tollgate.Credits{cr(10), cr(1)}, 0},
		{"partial capture: charged in the order drawn, the rest back", cr(4), tollgate.Grant{ID: "g2", Remaining: cr(1)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g2", cr(1)}, {tollgate.BookAvailable, "g2", cr(1)}},
			[2]tollgate.Credits{cr(10), cr(2)}, 0},
		{"a grant expired meanwhile: its part to breakage", 0, tollgate.Grant{ID: "g2", Remaining: 0, ExpiresAt: at(-time.Minute)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.BookAvailable, "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.BookBreakage, "g2", cr(2)}},
			[2]tollgate.Credits{cr(13), 0}, 0},
		{"a refund is owed from the grant: it is paid first", 0, tollgate.Grant{ID: "g2", Remaining: 0, RefundOwed: cr(1)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.BookAvailable, "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.BookRefunds, "g2", cr(1)}, {tollgate.BookAvailable, "g2", cr(1)}},
			[2]tollgate.Credits{cr(13), cr(1)}, 0},
		{"owed what comes back: all of it to the refund", cr(2), tollgate.Grant{ID: "g2", Remaining: 0, RefundOwed: cr(2)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g1", cr(2)}, {tollgate.BookAvailable, "g1", cr(1)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.BookRefunds, "g2", cr(2)}},
			[2]tollgate.Credits{cr(11), 0}, 0},
		{"owed more than this hold returns: a loss of the rest", cr(4), tollgate.Grant{ID: "g2", Remaining: 0, RefundOwed: cr(2)},
			[]line{{tollgate.BookHeld, "g1", -cr(3)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g1", cr(3)},
				{tollgate.BookHeld, "g2", -cr(2)}, {tollgate.RevenueBook(tollgate.ProductVideo), "g2", cr(1)}, {tollgate.BookRefunds, "g2", cr(1)},
				{tollgate.BookRefunds, "g2", -cr(1)}, {tollgate.BookRefundLoss, "g2", cr(1)}},
			[2]tollgate.Credits{cr(10), 0}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := memBatch(t0, tollgate.Grant{ID: "g1", Remaining: cr(10)}, c.g2)
			hs := &holdState{h: tollgate.Hold{ID: "h", AccountID: "a", Product: tollgate.ProductVideo, Amount: cr(5), Status: tollgate.HoldPending,
				Allocations: alloc, ExpiresAt: t0.Add(time.Hour)}}
			b.holds["h"] = hs
			b.closeHold(hs, c.captured, "txn", tollgate.TxnCapture)
			if diff := cmp.Diff(c.wantLines, lines(b.w.Entries)); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}
			var sum tollgate.Credits
			for _, e := range b.w.Entries {
				sum += e.Amount
			}
			if sum != 0 {
				t.Errorf("the entries sum to %s, want 0", sum)
			}
			got := [2]tollgate.Credits{b.grants["g1"].g.Remaining, b.grants["g2"].g.Remaining}
			if got != c.wantRemaining {
				t.Errorf("remaining: got %v, want %v", got, c.wantRemaining)
			}
			if owed := b.grants["g2"].g.RefundOwed; owed != c.wantG2Owed {
				t.Errorf("g2 still owed: got %s, want %s", owed, c.wantG2Owed)
			}
			if hs.h.Captured != c.captured || hs.h.SettledAt == nil || !hs.dirty {
				t.Errorf("hold: captured %s, settled at %v, dirty %v; want %s, now, true", hs.h.Captured, hs.h.SettledAt, hs.dirty, c.captured)
			}
			if d := b.pendingDelta["a"]; d != -1 {
				t.Errorf("pending holds changed by %d, want -1", d)
			}
		})
	}
}

func TestExpireTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		grants     []tollgate.Grant
		hold       *tollgate.Hold
		wantLines  []line
		wantStatus tollgate.HoldStatus
		expired    []string
	}{
		{"a grant past its expiry sends its remainder to breakage", []tollgate.Grant{
			{ID: "old", Remaining: cr(4), ExpiresAt: at(-time.Second)},
			{ID: "ok", Remaining: cr(4), ExpiresAt: at(time.Second)},
		}, nil, []line{{tollgate.BookAvailable, "old", -cr(4)}, {tollgate.BookBreakage, "old", cr(4)}}, "", []string{"old"}},
		{"at the very instant of expiry it is expired", []tollgate.Grant{
			{ID: "now", Remaining: cr(1), ExpiresAt: at(0)},
		}, nil, []line{{tollgate.BookAvailable, "now", -cr(1)}, {tollgate.BookBreakage, "now", cr(1)}}, "", []string{"now"}},
		{"a spent grant expires without entries", []tollgate.Grant{
			{ID: "spent", Remaining: 0, ExpiresAt: at(-time.Second)},
		}, nil, nil, "", []string{"spent"}},
		{"an overdue hold times out first, its credits back to a grant in force", []tollgate.Grant{
			{ID: "g", Remaining: cr(1)},
		}, &tollgate.Hold{ID: "h", AccountID: "a", Product: tollgate.ProductVideo, Amount: cr(2), Status: tollgate.HoldPending,
			Allocations: []tollgate.Allocation{{GrantID: "g", Amount: cr(2)}}, ExpiresAt: t0},
			[]line{{tollgate.BookHeld, "g", -cr(2)}, {tollgate.BookAvailable, "g", cr(2)}}, tollgate.HoldExpired, nil},
		{"a hold that times out on a grant that expired too: to breakage", []tollgate.Grant{
			{ID: "g", Remaining: cr(1), ExpiresAt: at(-time.Second)},
		}, &tollgate.Hold{ID: "h", AccountID: "a", Product: tollgate.ProductVideo, Amount: cr(2), Status: tollgate.HoldPending,
			Allocations: []tollgate.Allocation{{GrantID: "g", Amount: cr(2)}}, ExpiresAt: t0.Add(-time.Second)},
			[]line{{tollgate.BookHeld, "g", -cr(2)}, {tollgate.BookBreakage, "g", cr(2)},
				{tollgate.BookAvailable, "g", -cr(1)}, {tollgate.BookBreakage, "g", cr(1)}}, tollgate.HoldExpired, []string{"g"}},
		{"a hold not yet due stays pending", []tollgate.Grant{{ID: "g", Remaining: cr(1)}},
			&tollgate.Hold{ID: "h", AccountID: "a", Product: tollgate.ProductVideo, Amount: cr(2), Status: tollgate.HoldPending,
				Allocations: []tollgate.Allocation{{GrantID: "g", Amount: cr(2)}}, ExpiresAt: t0.Add(time.Second)},
			nil, tollgate.HoldPending, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := memBatch(t0, c.grants...)
			if c.hold != nil {
				b.holds[c.hold.ID] = &holdState{h: *c.hold}
			}
			b.expire()
			if diff := cmp.Diff(c.wantLines, lines(b.w.Entries)); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}
			if c.hold != nil {
				if got := b.holds[c.hold.ID].h.Status; got != c.wantStatus {
					t.Errorf("hold status: got %s, want %s", got, c.wantStatus)
				}
			}
			var expired []string
			for _, g := range c.grants {
				if gs := b.grants[g.ID]; gs.g.ExpiredAt != nil {
					expired = append(expired, g.ID)
					if gs.g.Remaining != 0 || !gs.dirty {
						t.Errorf("grant %s expired with %s left, dirty %v; want 0 and dirty", g.ID, gs.g.Remaining, gs.dirty)
					}
				}
			}
			if diff := cmp.Diff(c.expired, expired); diff != "" {
				t.Errorf("expired grants (-want +got):\n%s", diff)
			}
		})
	}
}
