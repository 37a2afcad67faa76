package ledger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
)

// zonesAround spans UTC-12 to UTC+14, with half hours and daylight saving.
var zonesAround = []string{"Etc/GMT+12", "Pacific/Pago_Pago", "America/New_York", "UTC", "Europe/Paris",
	"Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati"}

// testTimezoneChanges: an account that used its day's allowance and then
// changes zone gets no second allowance that day, in any pair of zones
// from UTC-12 to UTC+14, at any hour, on daylight-saving days too: the day
// in progress keeps its allowance and its end; the next period runs from
// then to a midnight of the new zone at least 12 hours on, and the one
// after is a plain day of the new zone. No refusal is anything but
// insufficient_credits.
func testTimezoneChanges(t *testing.T, open Opener) {
	e := newEnv(t, open)
	use := func(acct string, credits int64) error {
		_, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: acct, Product: tollgate.ProductVideo, Credits: cr(credits)})
		return err
	}
	refused := func(acct string) {
		t.Helper()
		err := use(acct, 1)
		wantCode(t, err, tollgate.CodeInsufficientCredits)
		if msg := err.Error(); strings.Contains(strings.ToLower(msg), "sql") || strings.Contains(msg, "constraint") {
			t.Fatalf("%s: a refusal shows database text: %s", acct, msg)
		}
	}
	at := Start
	// Daylight-saving days of New York and Lord Howe (half an hour).
	starts := []time.Time{time.Date(2027, 3, 14, 3, 0, 0, 0, time.UTC), time.Date(2027, 11, 7, 3, 0, 0, 0, time.UTC),
		time.Date(2027, 4, 4, 13, 0, 0, 0, time.UTC)}
	n := 0
	for i, from := range zonesAround {
		for j, to := range zonesAround {
			if from == to {
				continue
			}
			for _, hour := range []int{1, 11, 17} {
				n++
				at = at.Add(4 * 24 * time.Hour).Truncate(24 * time.Hour).Add(time.Duration(hour) * time.Hour)
				if (i+j+hour)%7 == 0 && len(starts) > 0 && starts[0].After(at) {
					at, starts = starts[0], starts[1:]
				}
				e.clock.Set(at)
				acct := fmt.Sprintf("tz-%d", n)
				e.account(acct, "free", from)
				if err := use(acct, 30); err != nil {
					t.Fatalf("%s in %s at %s: %v", acct, from, at, err)
				}
				oldEnd := tollgate.NextMidnight(at, tollgate.LoadLocation(from))
				if _, err := e.l.UpdateAccount(e.ctx, acct, ledger.AccountChanges{Timezone: &to}); err != nil {
					t.Fatal(err)
				}
				refused(acct)
				if b := e.balance(acct); len(b.DailyAllowances) != 1 || !b.DailyAllowances[0].ResetsAt.Equal(oldEnd) ||
					b.DailyAllowances[0].Remaining != 0 {
					t.Fatalf("%s %s->%s at %s: allowance %+v, want none left until %s", acct, from, to, at, b.DailyAllowances, oldEnd)
				}
				e.clock.Set(oldEnd.Add(-time.Second))
				refused(acct)
				// The next period: from the old day's end to a midnight
				// of the new zone 12 to 36 hours on.
				e.clock.Set(oldEnd)
				if err := use(acct, 30); err != nil {
					t.Fatalf("%s %s->%s: at the old day's end %s: %v", acct, from, to, oldEnd, err)
				}
				refused(acct)
				b := e.balance(acct)
				next := b.DailyAllowances[0].ResetsAt
				loc := tollgate.LoadLocation(to)
				if d := next.Sub(oldEnd); d < ledger.MinAllowanceDay || d > 36*time.Hour ||
					!tollgate.NextMidnight(next.Add(-time.Second), loc).Equal(next) {
					t.Fatalf("%s %s->%s: the period after %s ends %s (%s in %s), want a midnight there 12 to 36 hours on",
						acct, from, to, oldEnd, next, next.In(loc), to)
				}
				// Then plain days of the new zone.
				e.clock.Set(next)
				if err := use(acct, 30); err != nil {
					t.Fatalf("%s: the day after, at %s: %v", acct, next, err)
				}
				refused(acct)
				if b := e.balance(acct); !b.DailyAllowances[0].ResetsAt.Equal(tollgate.NextMidnight(next, loc)) {
					t.Fatalf("%s: the day from %s resets at %s, want the next midnight in %s", acct, next, b.DailyAllowances[0].ResetsAt, to)
				}
				at = next
			}
		}
	}
	// Changing twice in a day keeps the first day's end.
	e.clock.Set(at.Add(30 * 24 * time.Hour).Truncate(24 * time.Hour).Add(5 * time.Hour))
	e.account("tz-twice", "free", "UTC")
	end := tollgate.NextMidnight(e.clock.Now(), time.UTC)
	for _, z := range []string{"Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata"} {
		if _, err := e.l.UpdateAccount(e.ctx, "tz-twice", ledger.AccountChanges{Timezone: &z}); err != nil {
			t.Fatal(err)
		}
	}
	if err := use("tz-twice", 30); err != nil {
		t.Fatal(err)
	}
	refused("tz-twice")
	if b := e.balance("tz-twice"); !b.DailyAllowances[0].ResetsAt.Equal(end) {
		t.Fatalf("three changes in a day: resets at %s, want the first zone's midnight %s", b.DailyAllowances[0].ResetsAt, end)
	}
}

// testPlanChanges: an upgrade applies at once (the day's allowance
// becomes the new limit less what was used), a downgrade from the next
// local day, whether or not the day's allowance was used before.
func testPlanChanges(t *testing.T, open Opener) {
	e := newEnv(t, open)
	use := func(acct string, credits int64) error {
		_, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: acct, Product: tollgate.ProductVideo, Credits: cr(credits)})
		return err
	}
	plan := func(acct, p string) {
		t.Helper()
		if _, err := e.l.UpdateAccount(e.ctx, acct, ledger.AccountChanges{Plan: &p}); err != nil {
			t.Fatal(err)
		}
	}
	allowance := func(acct string) ledger.DailyAllowance {
		t.Helper()
		b := e.balance(acct)
		if len(b.DailyAllowances) != 1 {
			t.Fatalf("%s: allowances %+v", acct, b.DailyAllowances)
		}
		return b.DailyAllowances[0]
	}
	e.clock.Set(Start.Add(2 * time.Hour))
	for _, acct := range []string{"up-used", "up-fresh"} {
		e.account(acct, "free", "Europe/Paris")
		if acct == "up-used" {
			if err := use(acct, 10); err != nil {
				t.Fatal(err)
			}
		}
		plan(acct, "pro")
		used := int64(0)
		if acct == "up-used" {
			used = 10
		}
		if d := allowance(acct); d.Limit != cr(100) || d.Used != cr(used) || d.Remaining != cr(100-used) {
			t.Fatalf("%s after an upgrade: %+v, want 100 with %d used", acct, d, used)
		}
		if err := use(acct, 100-used); err != nil {
			t.Fatalf("%s: using the upgraded allowance: %v", acct, err)
		}
		wantCode(t, use(acct, 1), tollgate.CodeInsufficientCredits)
	}
	for _, acct := range []string{"down-used", "down-fresh"} {
		e.account(acct, "pro", "Europe/Paris")
		if acct == "down-used" {
			if err := use(acct, 50); err != nil {
				t.Fatal(err)
			}
		}
		plan(acct, "free")
		left := int64(100)
		if acct == "down-used" {
			left = 50
		}
		if d := allowance(acct); d.Limit != cr(100) || d.Remaining != cr(left) {
			t.Fatalf("%s after a downgrade: %+v, want today's 100 kept", acct, d)
		}
		if err := use(acct, left); err != nil {
			t.Fatalf("%s: the rest of today's allowance: %v", acct, err)
		}
		wantCode(t, use(acct, 1), tollgate.CodeInsufficientCredits)
	}
	e.clock.Set(tollgate.NextMidnight(e.clock.Now(), tollgate.LoadLocation("Europe/Paris")))
	for _, acct := range []string{"down-used", "down-fresh"} {
		if d := allowance(acct); d.Limit != cr(30) {
			t.Fatalf("%s the next day: %+v, want the new plan's 30", acct, d)
		}
		if err := use(acct, 30); err != nil {
			t.Fatal(err)
		}
		wantCode(t, use(acct, 1), tollgate.CodeInsufficientCredits)
	}
	if d := allowance("up-used"); d.Limit != cr(100) || d.Used != 0 {
		t.Fatalf("an upgraded account the next day: %+v", d)
	}
}

// testPlanVersionReachesNextHold: a plan version written takes effect from
// the next hold on, also where the committer keeps the plans between
// batches (the state cache): a raise of an allowance is spendable at once.
func testPlanVersionReachesNextHold(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if _, err := e.l.AddPlanVersion(e.ctx, ledger.PlanVersionParams{Plan: "grow",
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: cr(2)}}); err != nil {
		t.Fatal(err)
	}
	e.account("a", "grow", "UTC")
	use := func() error {
		_, err := e.l.Usage(e.ctx, ledger.HoldParams{AccountID: "a", Product: tollgate.ProductVideo, Credits: cr(1)})
		return err
	}
	for range 2 {
		if err := use(); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, use(), tollgate.CodeInsufficientCredits)
	if _, err := e.l.AddPlanVersion(e.ctx, ledger.PlanVersionParams{Plan: "grow",
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: cr(5)}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := use(); err != nil {
			t.Fatalf("use %d of the raised allowance: %v", i+3, err)
		}
	}
	wantCode(t, use(), tollgate.CodeInsufficientCredits)
}
