package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
)

func testGrantsOpenAndDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	open := grant("g_open", "a", 5)
	open.ExpiresAt = ptr(T0)
	spent := grant("g_spent", "a", 0)
	spent.ExpiresAt = ptr(T0)
	allowance := grant("g_allow", "a", 0)
	allowance.Source, allowance.ExpiresAt = tollgate.SourceAllowance, ptr(T0.Add(time.Hour))
	expired := grant("g_expired", "a", 5)
	expired.ExpiresAt, expired.ExpiredAt = ptr(T0), ptr(T0)
	forever := grant("g_forever", "b", 5)
	other := grant("g_other", "c", 5)
	other.ExpiresAt = ptr(T0.Add(-time.Hour))
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{open, spent, allowance, expired, forever, other}})
	})
	read(t, s, func(tx store.Tx) error {
		gs, err := tx.GrantsOpen(ctx, []string{"b", "a"})
		if err != nil {
			return err
		}
		var got []string
		for _, g := range gs {
			got = append(got, g.ID)
		}
		if diff := cmp.Diff([]string{"g_allow", "g_open", "g_forever"}, got); diff != "" {
			t.Errorf("GrantsOpen (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			now  time.Time
			n    int
			want int
		}{
			{T0.Add(-2 * time.Hour), 0, 0},
			{T0, 0, 2},                // a (g_open), c
			{T0.Add(time.Hour), 0, 2}, // a (g_open and g_allow, once), c
			{T0.Add(time.Hour), 1, 1},
		} {
			due, err := tx.GrantsDue(ctx, c.now, c.n)
			if err != nil {
				return err
			}
			if len(due) != c.want {
				t.Errorf("GrantsDue(%v, %d): got %v, want %d accounts", c.now, c.n, due, c.want)
			}
		}
		return nil
	})
}

// testGrantLists: GrantByRef finds a grant by its account and reference
// only; GrantList filters by account, source and openness at a time, and
// pages by id; GrantsExpiringUnnoticed finds grants with credits left
// expiring in (from, to], allowances left out, until their notice exists.
func testGrantLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	paid := grant("g1", "a", 5)
	paid.ExternalRef, paid.ExpiresAt = "order:1", ptr(T0.Add(48*time.Hour))
	promo := grant("g2", "a", 5)
	promo.Source, promo.ExpiresAt = tollgate.SourcePromo, ptr(T0.Add(time.Hour))
	expired := grant("g3", "a", 0)
	expired.ExpiresAt, expired.ExpiredAt = ptr(T0), ptr(T0)
	allowance := grant("g4", "a", 5)
	allowance.Source, allowance.ExpiresAt = tollgate.SourceAllowance, ptr(T0.Add(time.Hour))
	spent := grant("g5", "a", 0)
	spent.ExpiresAt = ptr(T0.Add(time.Hour))
	other := grant("g6", "b", 5)
	other.ExternalRef, other.ExpiresAt = "order:1", ptr(T0.Add(time.Hour))
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{paid, promo, expired, allowance, spent, other}})
	})
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GrantByRef(ctx, "a", "order:1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(paid, got); diff != "" {
			t.Errorf("GrantByRef (-want +got):\n%s", diff)
		}
		for _, c := range [][2]string{{"a", "order:2"}, {"c", "order:1"}} {
			if _, err := tx.GrantByRef(ctx, c[0], c[1]); !errors.Is(err, tollgate.ErrNotFound) {
				t.Errorf("GrantByRef(%s, %s): got %v, want not found", c[0], c[1], err)
			}
		}
		grantID := func(g tollgate.Grant) string { return g.ID }
		for _, c := range []struct {
			name string
			p    store.GrantListParams
			want []string
		}{
			{"all", store.GrantListParams{}, []string{"g1", "g2", "g3", "g4", "g5", "g6"}},
			{"account", store.GrantListParams{AccountID: "a"}, []string{"g1", "g2", "g3", "g4", "g5"}},
			{"source", store.GrantListParams{AccountID: "a", Source: tollgate.SourcePromo}, []string{"g2"}},
			{"open now", store.GrantListParams{AccountID: "a", Open: ptr(true), Now: T0}, []string{"g1", "g2", "g4", "g5"}},
			{"open later", store.GrantListParams{AccountID: "a", Open: ptr(true), Now: T0.Add(2 * time.Hour)}, []string{"g1"}},
			{"closed later", store.GrantListParams{AccountID: "a", Open: ptr(false), Now: T0.Add(2 * time.Hour)}, []string{"g2", "g3", "g4", "g5"}},
			{"page", store.GrantListParams{AccountID: "a", After: "g2", Limit: 2}, []string{"g3", "g4"}},
		} {
			gs, err := tx.GrantList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(gs, grantID)); diff != "" {
				t.Errorf("GrantList %s (-want +got):\n%s", c.name, diff)
			}
		}
		for _, c := range []struct {
			name     string
			from, to time.Time
			n        int
			want     []string
		}{
			{"within the hour", T0, T0.Add(time.Hour), 0, []string{"g2", "g6"}},
			{"limit", T0, T0.Add(time.Hour), 1, []string{"g2"}},
			{"from is excluded", T0.Add(time.Hour), T0.Add(72 * time.Hour), 0, []string{"g1"}},
			{"none", T0.Add(-time.Hour), T0.Add(-time.Minute), 0, []string{}},
		} {
			gs, err := tx.GrantsExpiringUnnoticed(ctx, c.from, c.to, c.n)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(gs, grantID)); diff != "" {
				t.Errorf("GrantsExpiringUnnoticed %s (-want +got):\n%s", c.name, diff)
			}
		}
		return nil
	})
	// Once its notice is sent, a grant is not found again.
	write(t, s, func(tx store.Tx) error {
		return tx.EventEnqueue(ctx, tollgate.Event{ID: store.ExpiringEventID("g2"), Type: tollgate.EventCreditsExpiring, AccountID: "a",
			Payload: []byte(`{}`), CreatedAt: T0})
	})
	read(t, s, func(tx store.Tx) error {
		gs, err := tx.GrantsExpiringUnnoticed(ctx, T0, T0.Add(time.Hour), 0)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"g6"}, ids(gs, func(g tollgate.Grant) string { return g.ID })); diff != "" {
			t.Errorf("GrantsExpiringUnnoticed after g2's notice (-want +got):\n%s", diff)
		}
		return nil
	})
}

// testAccountState: AccountState reads the account, its open grants and
// those that pending holds hold credits on (closed or not), its pending
// holds due by a time, and every plan version; an unknown account is
// ErrNotFound.
func testAccountState(t *testing.T, s store.Store) {
	ctx := t.Context()
	open := grant("g_open", "a", 5)
	spentHeld := grant("g_spent_held", "a", 0)
	spentHeld.Held = tollgate.WholeCredits(2)
	spent := grant("g_spent", "a", 0)
	expiredHeld := grant("g_expired_held", "a", 0)
	expiredHeld.ExpiresAt, expiredHeld.ExpiredAt, expiredHeld.Held = ptr(T0), ptr(T0), tollgate.WholeCredits(1)
	other := grant("g_other", "b", 5)
	soon := hold("h_soon", "a", T0.Add(time.Minute))
	later := hold("h_later", "a", T0.Add(time.Hour))
	settled := hold("h_settled", "a", T0)
	settled.Status, settled.SettledAt = tollgate.HoldReleased, ptr(T0)
	theirs := hold("h_theirs", "b", T0)
	v := tollgate.PlanVersion{Plan: "free", Version: 1, EffectiveAt: T0,
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)}, CreatedAt: T0}
	write(t, s, func(tx store.Tx) error {
		for _, id := range []string{"a", "b"} {
			if err := tx.AccountInsert(ctx, account(id)); err != nil {
				return err
			}
		}
		if err := tx.PlanVersionInsert(ctx, v); err != nil {
			return err
		}
		return tx.Apply(ctx, &store.Writes{
			Grants: []tollgate.Grant{open, spentHeld, spent, expiredHeld, other},
			Holds:  []tollgate.Hold{soon, later, settled, theirs},
		})
	})
	grantID := func(g tollgate.Grant) string { return g.ID }
	holdID := func(h tollgate.Hold) string { return h.ID }
	read(t, s, func(tx store.Tx) error {
		st, err := tx.AccountState(ctx, "a", T0.Add(time.Minute))
		if err != nil {
			return err
		}
		if diff := cmp.Diff(account("a"), st.Account); diff != "" {
			t.Errorf("AccountState account (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]tollgate.Grant{expiredHeld, open, spentHeld}, st.Grants); diff != "" {
			t.Errorf("AccountState grants: open or holding, by id (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"h_soon"}, ids(st.Overdue, holdID)); diff != "" {
			t.Errorf("AccountState overdue holds (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]tollgate.PlanVersion{v}, st.Plans); diff != "" {
			t.Errorf("AccountState plans (-want +got):\n%s", diff)
		}
		if st, err = tx.AccountState(ctx, "a", T0.Add(2*time.Hour)); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"h_later", "h_soon"}, ids(st.Overdue, holdID)); diff != "" {
			t.Errorf("AccountState overdue holds, later (-want +got):\n%s", diff)
		}
		if st, err = tx.AccountState(ctx, "b", T0); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"g_other"}, ids(st.Grants, grantID)); diff != "" {
			t.Errorf("AccountState grants of b (-want +got):\n%s", diff)
		}
		if _, err := tx.AccountState(ctx, "nobody", T0); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("AccountState of an unknown account: got %v, want ErrNotFound", err)
		}
		return nil
	})
}

// testLockAccounts: LockAccounts returns what AccountsLock, GrantsOpen,
// HoldsPending, HoldsByID and PlanVersionList would, in a write
// transaction, leaving out accounts that do not exist and the plans unless
// asked.
func testLockAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	ga := grant("g_a", "a", 5)
	gSpent := grant("g_a_spent", "a", 0)
	gb := grant("g_b", "b", 5)
	due := hold("h_due", "a", T0)
	later := hold("h_later", "a", T0.Add(time.Hour))
	theirs := hold("h_b", "b", T0)
	v := tollgate.PlanVersion{Plan: "free", Version: 1, EffectiveAt: T0,
		Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)}, CreatedAt: T0}
	write(t, s, func(tx store.Tx) error {
		for _, id := range []string{"a", "b"} {
			if err := tx.AccountInsert(ctx, account(id)); err != nil {
				return err
			}
		}
		if err := tx.PlanVersionInsert(ctx, v); err != nil {
			return err
		}
		return tx.Apply(ctx, &store.Writes{Grants: []tollgate.Grant{ga, gSpent, gb}, Holds: []tollgate.Hold{due, later, theirs}})
	})
	accountID := func(a tollgate.Account) string { return a.ID }
	grantID := func(g tollgate.Grant) string { return g.ID }
	holdID := func(h tollgate.Hold) string { return h.ID }
	write(t, s, func(tx store.Tx) error {
		l, err := tx.LockAccounts(ctx, store.LockQuery{AccountIDs: []string{"a", "b", "c"}, DueBy: T0, Holds: []string{"h_later", "nope"}, Plans: true})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"a", "b"}, ids(l.Accounts, accountID)); diff != "" {
			t.Errorf("LockAccounts accounts (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]tollgate.Grant{ga, gb}, l.Grants); diff != "" {
			t.Errorf("LockAccounts grants (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"h_due", "h_b"}, ids(l.Overdue, holdID)); diff != "" {
			t.Errorf("LockAccounts overdue holds, by account then id (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]tollgate.Hold{later}, l.Holds); diff != "" {
			t.Errorf("LockAccounts holds by id (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]tollgate.PlanVersion{v}, l.Plans); diff != "" {
			t.Errorf("LockAccounts plans (-want +got):\n%s", diff)
		}
		if l, err = tx.LockAccounts(ctx, store.LockQuery{AccountIDs: []string{"b"}, DueBy: T0.Add(-time.Hour)}); err != nil {
			return err
		}
		if len(l.Overdue) != 0 || len(l.Holds) != 0 || len(l.Plans) != 0 {
			t.Errorf("LockAccounts of b, nothing due, no holds or plans asked: got %v, %v, %v", ids(l.Overdue, holdID), ids(l.Holds, holdID), l.Plans)
		}
		if diff := cmp.Diff([]string{"g_b"}, ids(l.Grants, grantID)); diff != "" {
			t.Errorf("LockAccounts grants of b (-want +got):\n%s", diff)
		}
		return nil
	})
}
