package ledger_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tollgate"
	"tollgate/clocktest"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/fault"
	"tollgate/store/postgres/pgtest"
	"tollgate/store/sqlite"
)

// The ledger's rules, races and property tests (DESIGN.md's invariants)
// run through one helper on every store: SQLite always (with and without
// the committer's state cache, as tollgate serve runs it), PostgreSQL when
// TOLLGATE_TEST_DATABASE_URL names a database.

// Opener returns a fresh, migrated, empty store, closed when tb ends.
type Opener func(tb testing.TB) store.Store

// Start is the time the suite's clocks start at: a Saturday morning in UTC.
var Start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// storeCase is a store the suite runs on, with the ledger options it is
// run with.
type storeCase struct {
	name   string
	open   Opener
	faulty Faulty
	opt    ledger.Options
}

// stores returns SQLite, SQLite with the state cache, and PostgreSQL when
// TOLLGATE_TEST_DATABASE_URL is set (otherwise its runs skip, saying so).
func stores() []storeCase {
	return []storeCase{
		{"sqlite", openSQLite, faultySQLite, ledger.Options{}},
		{"sqlite-cached", openSQLite, faultySQLite, ledger.Options{CacheState: true}},
		{"postgres", openPostgres, faultyPostgres, ledger.Options{}},
	}
}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// postgresURL returns the test database's URL, or skips tb without one.
func postgresURL(tb testing.TB) string {
	url := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("TOLLGATE_TEST_DATABASE_URL not set: e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return url
}

// openPostgres returns a migrated store in a schema of its own, dropped
// when tb ends.
func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	db, cleanup, err := pgtest.OpenSchema(context.Background(), postgresURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return db
}

func faultySQLite(tb testing.TB, plan *fault.Plan) (store.Store, Control) {
	return fault.OpenSQLite(tb, plan), Control{}
}

// faultyPostgres goes through a proxy that loses COMMIT answers, fails
// COMMITs and cuts or refuses connections.
func faultyPostgres(tb testing.TB, plan *fault.Plan) (store.Store, Control) {
	tb.Helper()
	db, proxy := fault.OpenPostgres(tb, postgresURL(tb), plan)
	return db, Control{Cut: proxy.CutAll, Down: proxy.Down}
}

// TestLedger runs every rule, race and property test on every store. With
// the state cache, the tests that run several ledgers on one store are left
// out: a caching ledger must be its store's only writer.
func TestLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
		many bool // runs several ledgers on one store
	}{
		{"BurnDownOrder", testBurnDownOrder, false},
		{"ProductRestrictedGrants", testProductRestrictedGrants, false},
		{"DailyAllowance", testDailyAllowance, false},
		{"DailyAllowanceTimezone", testDailyAllowanceTimezone, false},
		{"PartialCapture", testPartialCapture, false},
		{"CaptureNeverExceedsHold", testCaptureNeverExceedsHold, false},
		{"CloseTwice", testCloseTwice, false},
		{"ReleaseAfterGrantExpired", testReleaseAfterGrantExpired, false},
		{"ExpiryAppliedOnRead", testExpiryAppliedOnRead, false},
		{"HoldTimeout", testHoldTimeout, false},
		{"Usage", testUsage, false},
		{"Insufficient", testInsufficient, false},
		{"SuspendedAccount", testSuspendedAccount, false},
		{"Idempotency", testIdempotency, false},
		{"FailingOpRejectedAlone", testFailingOpRejectedAlone, true},
		{"AccountKeyScope", testAccountKeyScope, false},
		{"UnknownIDs", testUnknownIDs, false},
		{"Entries", testEntries, false},
		{"RaceExactlyFifty", testRaceExactlyFifty, false},
		{"RaceManyLedgers", testRaceManyLedgers, true},
		{"QuoteRaceManyLedgers", testQuoteRaceManyLedgers, true},
		{"IdempotencyRaceManyLedgers", testIdempotencyRaceManyLedgers, true},
		{"Property", testProperty, false},
		{"VerifyRefunds", testVerifyRefunds, true},
		{"TransferRules", testTransferRules, false},
		{"ReservedRefs", testReservedRefs, false},
		{"TransferRaceManyLedgers", testTransferRaceManyLedgers, true},
		{"PendingHoldCap", testPendingHoldCap, false},
		{"TimezoneChanges", testTimezoneChanges, false},
		{"PlanChanges", testPlanChanges, false},
		{"PlanVersionReachesNextHold", testPlanVersionReachesNextHold, false},
		{"VideoJobs", testVideoJobs, false},
		{"VideoRevenue", testVideoRevenue, false},
		{"VideoFees", testVideoFees, false},
		{"Payouts", testPayouts, false},
		{"RoyaltyProperty", testRoyaltyProperty, false},
		{"RoyaltyRaceManyLedgers", testRoyaltyRaceManyLedgers, true},
		{"VerifyVideos", testVerifyVideos, false},
		{"VideoSettleRaceManyLedgers", testVideoSettleRaceManyLedgers, true},
	}
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				if tc.many && sc.opt.CacheState {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, func(tb testing.TB) store.Store {
						s := sc.open(tb)
						envOptions.Store(s, sc.opt)
						return s
					})
				})
			}
		})
	}
}

// envOptions passes a store case's ledger options to newEnv, keyed by store.
var envOptions sync.Map

// env is a started ledger on a fresh store with a manual clock.
type env struct {
	t     testing.TB
	s     store.Store
	l     *ledger.Ledger
	clock *clocktest.Clock
	ctx   context.Context
}

func newEnv(t testing.TB, open Opener) *env {
	t.Helper()
	s := open(t)
	clock := clocktest.New(Start)
	e := &env{t: t, s: s, clock: clock, ctx: context.Background()}
	opt := ledger.Options{}
	if o, ok := envOptions.Load(s); ok {
		opt = o.(ledger.Options)
	}
	e.l = e.ledger(opt)
	if _, err := e.l.Bootstrap(e.ctx, ""); err != nil {
		t.Fatal(err)
	}
	return e
}

// ledger starts another ledger on the env's store and clock, stopped and
// verified when the test ends.
func (e *env) ledger(opt ledger.Options) *ledger.Ledger {
	opt.Clock = e.clock
	l := ledger.New(e.s, opt)
	if err := l.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		l.Stop()
		r, err := l.Verify(context.Background())
		if err != nil {
			e.t.Errorf("verify: %v", err)
		}
		for _, v := range r.Violations {
			e.t.Errorf("verify: %s", v)
		}
	})
	return l
}

func (e *env) account(id, plan, tz string) tollgate.Account {
	e.t.Helper()
	a, err := e.l.CreateAccount(e.ctx, ledger.AccountParams{ID: id, Name: id, Plan: plan, Timezone: tz})
	if err != nil {
		e.t.Fatalf("create account %s: %v", id, err)
	}
	return a
}

// noPlan is a plan with no allowance, so tests see only their own grants.
const noPlan = "none"

func (e *env) withNoPlan() {
	e.t.Helper()
	// Through the ledger, which a state cache keeps plans for.
	if _, err := e.l.AddPlanVersion(e.ctx, ledger.PlanVersionParams{Plan: noPlan, Allowances: map[tollgate.Product]tollgate.Credits{}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) grant(p ledger.GrantParams) tollgate.Grant {
	e.t.Helper()
	g, err := e.l.Grant(e.ctx, p)
	if err != nil {
		e.t.Fatalf("grant %+v: %v", p, err)
	}
	return g
}

func (e *env) hold(acct string, p tollgate.Product, c tollgate.Credits) tollgate.Hold {
	e.t.Helper()
	h, err := e.l.Hold(e.ctx, ledger.HoldParams{AccountID: acct, Product: p, Credits: c})
	if err != nil {
		e.t.Fatalf("hold %s on %s: %v", c, acct, err)
	}
	return h
}

func (e *env) balance(acct string) ledger.Balance {
	e.t.Helper()
	b, err := e.l.Balance(e.ctx, acct)
	if err != nil {
		e.t.Fatalf("balance %s: %v", acct, err)
	}
	return b
}

func (e *env) grantByID(acct, id string) tollgate.Grant {
	e.t.Helper()
	var out tollgate.Grant
	err := e.s.Read(e.ctx, func(tx store.Tx) error {
		gs, err := tx.GrantsByID(e.ctx, []string{id})
		if err != nil {
			return err
		}
		if len(gs) != 1 {
			e.t.Fatalf("grant %s: got %d rows", id, len(gs))
		}
		out = gs[0]
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func cr(n int64) tollgate.Credits { return tollgate.WholeCredits(n) }

func ptr[T any](v T) *T { return &v }

func wantCode(t testing.TB, err error, c tollgate.Code) {
	t.Helper()
	if got := tollgate.ErrorCode(err); got != c {
		t.Fatalf("got error %v (code %s), want code %s", err, got, c)
	}
}
