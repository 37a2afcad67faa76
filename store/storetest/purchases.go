package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// recordTests are the contract tests of record.Tx, which Run adds to the
// store.Tx ones.
var recordTests = []struct {
	name string
	fn   func(*testing.T, store.Store)
}{
	{"Packs", testPacks},
	{"OrderInsert", testOrderInsert},
	{"OrderLookups", testOrderLookups},
	{"OrderList", testOrderList},
	{"OrderSetRefAndProblem", testOrderSetRefAndProblem},
	{"OrderPaid", testOrderPaid},
	{"PlanPrices", testPlanPrices},
	{"Subscriptions", testSubscriptions},
	{"Invoices", testInvoices},
	{"Settings", testSettings},
	{"PriceRules", testPriceRules},
	{"Quotes", testQuotes},
	{"PaymentEvents", testPaymentEvents},
	{"AuditLog", testAuditLog},
	{"IdempotencyLock", testIdempotencyLock},
	{"Endpoints", testEndpoints},
	{"EndpointInsertKeepsEveryField", testEndpointInsertKeepsEveryField},
	{"EventEnqueue", testEventEnqueue},
	{"EventEnqueueMatchesTypesExactly", testEventEnqueueMatchesTypesExactly},
	{"EventLastAt", testEventLastAt},
	{"DeliveriesDue", testDeliveriesDue},
	{"DeliveryClaim", testDeliveryClaim},
	{"DeliveryDone", testDeliveryDone},
	{"DeliveriesResend", testDeliveriesResend},
	{"Videos", testVideos},
	{"VideosEnded", testVideosEnded},
	{"Cameos", testCameos},
	{"EventEnqueueByAccount", testEventEnqueueByAccount},
}

func testPacks(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := tollgate.Pack{ID: "pk_b", Credits: tollgate.WholeCredits(100), Price: tollgate.Money{Amount: 900, Currency: "usd"},
		Prices: []tollgate.Money{{Amount: 850, Currency: "eur"}, {Amount: 14_500_000, Currency: "idr"}}, ValidForDays: 30, Active: true, CreatedAt: T0}
	a := tollgate.Pack{ID: "pk_a", Credits: tollgate.WholeCredits(10) + 500_000, Price: tollgate.Money{Amount: 150, Currency: "eur"},
		ValidForDays: 365, Products: []tollgate.Product{tollgate.ProductVideo, tollgate.ProductStitch}, CreatedAt: T0.Add(time.Microsecond)}
	write(t, s, func(tx store.Tx) error {
		for _, p := range []tollgate.Pack{b, a} {
			if err := tx.PackPut(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	// A put with a known id replaces every term of the pack, and a retired
	// pack is still listed: orders made from it name it. (The replacement
	// keeps CreatedAt: whether a put may change it is not the contract's.)
	b2 := b
	b2.Credits, b2.Price, b2.ValidForDays = tollgate.WholeCredits(120), tollgate.Money{Amount: 1000, Currency: "gbp"}, 7
	b2.Products, b2.Active, b2.Prices = []tollgate.Product{tollgate.ProductAssistant}, false, []tollgate.Money{{Amount: 1200, Currency: "usd"}}
	write(t, s, func(tx store.Tx) error { return tx.PackPut(ctx, b2) })

	read(t, s, func(tx store.Tx) error {
		got, err := tx.PackList(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Pack{a, b2}, got); diff != "" {
			t.Errorf("PackList (-want +got):\n%s", diff)
		}
		return nil
	})
}

// order returns a pending order of one pack, with a checkout reference of
// the dev provider.
func order(id, acct string, status tollgate.OrderStatus) tollgate.Order {
	return tollgate.Order{ID: id, AccountID: acct, PackID: "pk_1", Credits: tollgate.WholeCredits(100),
		Price: tollgate.Money{Amount: 900, Currency: "usd"}, ValidForDays: 30, Status: status,
		Provider: "dev", ProviderRef: "cs_" + id, CreatedAt: T0}
}

func testOrderInsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Every field comes back as written.
	o1 := order("ord_1", "a1", tollgate.OrderRefunded)
	o1.Products = []tollgate.Product{tollgate.ProductVideo, tollgate.ProductAssistant}
	o1.PaymentRef, o1.PaymentProblem, o1.GrantID = "pi_1", "amount differs", "g_1"
	o1.RefundedCredits = tollgate.WholeCredits(40)
	o1.CompletedAt, o1.RefundedAt = ptr(T0.Add(time.Minute)), ptr(T0.Add(time.Hour+time.Microsecond))
	o1.DisputeID, o1.DisputeStatus = "dp_1", tollgate.DisputeLost

	// The ledger inserts orders in a transaction that goes on after a
	// duplicate: a conflict must not abort it.
	o3 := order("ord_3", "a1", tollgate.OrderPending)
	write(t, s, func(tx store.Tx) error {
		if err := tx.OrderInsert(ctx, o1); err != nil {
			return err
		}
		dupID := order("ord_1", "a2", tollgate.OrderPending)
		dupID.ProviderRef = "cs_other"
		if err := tx.OrderInsert(ctx, dupID); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("OrderInsert with a taken id: got %v, want conflict", err)
		}
		dupRef := order("ord_2", "a2", tollgate.OrderPending)
		dupRef.ProviderRef = o1.ProviderRef
		if err := tx.OrderInsert(ctx, dupRef); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("OrderInsert with a taken checkout reference: got %v, want conflict", err)
		}
		dupPay := order("ord_4", "a2", tollgate.OrderCompleted)
		dupPay.PaymentRef = o1.PaymentRef
		if err := tx.OrderInsert(ctx, dupPay); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("OrderInsert with a taken payment reference: got %v, want conflict", err)
		}
		return tx.OrderInsert(ctx, o3)
	})

	read(t, s, func(tx store.Tx) error {
		got, err := tx.OrderList(ctx, record.OrderListParams{})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Order{o1, o3}, got); diff != "" {
			t.Errorf("OrderList after conflicts (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testOrderLookups(t *testing.T, s store.Store) {
	ctx := t.Context()
	o1 := order("ord_1", "a1", tollgate.OrderCompleted)
	o1.PaymentRef = "pi_1"
	o2 := order("ord_2", "a1", tollgate.OrderPending)
	write(t, s, func(tx store.Tx) error {
		for _, o := range []tollgate.Order{o1, o2} {
			if err := tx.OrderInsert(ctx, o); err != nil {
				return err
			}
		}
		return nil
	})

	read(t, s, func(tx store.Tx) error {
		if err := byID(t, "OrderByID", func(id string) (tollgate.Order, error) { return tx.OrderByID(ctx, id) }, "ord_2", o2, "ord_9"); err != nil {
			return err
		}
		// Refunds and disputes name the payment, checkouts the session.
		for _, ref := range []string{"cs_ord_1", "pi_1"} {
			got, err := tx.OrderByProviderRef(ctx, "dev", ref)
			if err != nil {
				t.Errorf("OrderByProviderRef %s: %v", ref, err)
				continue
			}
			if diff := cmp.Diff(o1, got); diff != "" {
				t.Errorf("OrderByProviderRef %s (-want +got):\n%s", ref, diff)
			}
		}
		// A reference is the provider's: another provider's is another one.
		for _, c := range []struct{ provider, ref string }{{"stripe", "pi_1"}, {"dev", "pi_9"}} {
			if _, err := tx.OrderByProviderRef(ctx, c.provider, c.ref); !errors.Is(err, tollgate.ErrNotFound) {
				t.Errorf("OrderByProviderRef %s %s: got %v, want not found", c.provider, c.ref, err)
			}
		}
		return nil
	})
}

func testOrderList(t *testing.T, s store.Store) {
	ctx := t.Context()
	write(t, s, func(tx store.Tx) error {
		for _, o := range []tollgate.Order{
			order("ord_5", "a1", tollgate.OrderPending),
			order("ord_2", "a2", tollgate.OrderCompleted),
			order("ord_4", "a1", tollgate.OrderCompleted),
			order("ord_1", "a1", tollgate.OrderPending),
			order("ord_3", "a2", tollgate.OrderPending),
		} {
			if err := tx.OrderInsert(ctx, o); err != nil {
				return err
			}
		}
		return nil
	})

	for _, c := range []struct {
		name string
		p    record.OrderListParams
		want []string
	}{
		{"all", record.OrderListParams{}, []string{"ord_1", "ord_2", "ord_3", "ord_4", "ord_5"}},
		{"account", record.OrderListParams{AccountID: "a1"}, []string{"ord_1", "ord_4", "ord_5"}},
		{"status", record.OrderListParams{Status: tollgate.OrderCompleted}, []string{"ord_2", "ord_4"}},
		{"account and status", record.OrderListParams{AccountID: "a1", Status: tollgate.OrderPending}, []string{"ord_1", "ord_5"}},
		{"limit", record.OrderListParams{Limit: 2}, []string{"ord_1", "ord_2"}},
		{"next page", record.OrderListParams{After: "ord_2", Limit: 2}, []string{"ord_3", "ord_4"}},
		{"account after", record.OrderListParams{AccountID: "a2", After: "ord_2"}, []string{"ord_3"}},
		{"none", record.OrderListParams{AccountID: "a9"}, []string{}},
	} {
		read(t, s, func(tx store.Tx) error {
			got, err := tx.OrderList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(got, func(o tollgate.Order) string { return o.ID })); diff != "" {
				t.Errorf("OrderList %s (-want +got):\n%s", c.name, diff)
			}
			return nil
		})
	}
}

func testOrderSetRefAndProblem(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := order("ord_1", "a1", tollgate.OrderPending)
	o.ProviderRef = "" // the checkout is made after the order
	write(t, s, func(tx store.Tx) error { return tx.OrderInsert(ctx, o) })

	// Two checkouts of one order race: the first reference stays.
	for i, c := range []struct {
		id, ref string
		want    bool
	}{{"ord_1", "cs_a", true}, {"ord_1", "cs_b", false}, {"ord_9", "cs_c", false}} {
		write(t, s, func(tx store.Tx) error {
			got, err := tx.OrderSetRef(ctx, c.id, c.ref)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("OrderSetRef #%d (%s, %s): got %v, want %v", i, c.id, c.ref, got, c.want)
			}
			return nil
		})
	}
	write(t, s, func(tx store.Tx) error {
		if err := tx.OrderSetProblem(ctx, "ord_1", "another session"); err != nil {
			return err
		}
		// A payment may name an order this installation never made.
		if err := tx.OrderSetProblem(ctx, "ord_9", "unknown order"); err != nil {
			t.Errorf("OrderSetProblem missing: got %v, want no error", err)
		}
		return nil
	})

	read(t, s, func(tx store.Tx) error {
		got, err := tx.OrderByProviderRef(ctx, "dev", "cs_a")
		if err != nil {
			return err
		}
		want := o
		want.ProviderRef, want.PaymentProblem = "cs_a", "another session"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("order after OrderSetRef and OrderSetProblem (-want +got):\n%s", diff)
		}
		if _, err := tx.OrderByID(ctx, "ord_9"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("OrderByID of the order OrderSetProblem did not find: got %v, want not found", err)
		}
		return nil
	})
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	read(t, s, func(tx store.Tx) error {
		if v, err := tx.SettingGet(ctx, "link_secret"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("SettingGet unset: got %q, %v, want not found", v, err)
		}
		return nil
	})
	// Instances starting together each draw a secret: all must use the
	// first one stored.
	for _, v := range []string{"first", "second"} {
		write(t, s, func(tx store.Tx) error {
			got, err := tx.SettingPut(ctx, "link_secret", v)
			if err != nil {
				return err
			}
			if got != "first" {
				t.Errorf("SettingPut %q: got %q, want the first writer's %q", v, got, "first")
			}
			return nil
		})
	}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.SettingGet(ctx, "link_secret")
		if err != nil {
			return err
		}
		if got != "first" {
			t.Errorf("SettingGet: got %q, want %q", got, "first")
		}
		if _, err := tx.SettingGet(ctx, "packs_seeded"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("SettingGet of another key: got %v, want not found", err)
		}
		return nil
	})
}

func testPriceRules(t *testing.T, s store.Store) {
	ctx := t.Context()
	rule := func(id string, eff time.Time, credits int64) tollgate.PriceRule {
		return tollgate.PriceRule{ID: id, Product: tollgate.ProductVideo, Meter: "seconds", Tier: "pro", Resolution: "1080p",
			Per: 60, Credits: tollgate.WholeCredits(credits), EffectiveAt: eff, CreatedAt: T0}
	}
	later := rule("pr_b", T0.Add(48*time.Hour), 3)
	later.Tier, later.Resolution = "", ""
	rules := []tollgate.PriceRule{later, rule("pr_a", T0.Add(time.Hour), 2), rule("pr_b", T0, 1), rule("pr_a", T0, 1)}
	write(t, s, func(tx store.Tx) error {
		for _, r := range rules {
			if err := tx.PriceRuleInsert(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	// A version is its rule id and effective time: the same pair twice is
	// a conflict, whatever the price.
	err := s.Write(ctx, func(tx store.Tx) error { return tx.PriceRuleInsert(ctx, rule("pr_a", T0.Add(time.Hour), 5)) })
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("PriceRuleInsert of a stored version: got %v, want conflict", err)
	}

	read(t, s, func(tx store.Tx) error {
		got, err := tx.PriceRuleList(ctx)
		if err != nil {
			return err
		}
		want := []tollgate.PriceRule{rules[3], rules[1], rules[2], rules[0]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PriceRuleList (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testQuotes(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := tollgate.Quote{ID: "qt_1", AccountID: "a1", Product: tollgate.ProductStitch, Credits: tollgate.WholeCredits(3) + 1,
		Details: []byte(`{"credits":"3.000001"}`), CreatedAt: T0, ExpiresAt: T0.Add(15*time.Minute + time.Microsecond)}
	write(t, s, func(tx store.Tx) error { return tx.QuoteInsert(ctx, q) })
	err := s.Write(ctx, func(tx store.Tx) error { return tx.QuoteInsert(ctx, q) })
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("QuoteInsert of a stored id: got %v, want conflict", err)
	}
	read(t, s, func(tx store.Tx) error {
		return byID(t, "QuoteByID", func(id string) (tollgate.Quote, error) { return tx.QuoteByID(ctx, id) }, "qt_1", q, "qt_9")
	})
}

func testPaymentEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := func(id, eventID string, matched bool) tollgate.PaymentEvent {
		e := tollgate.PaymentEvent{ID: id, Provider: "stripe", EventID: eventID, Type: "charge.refunded", ObjectID: "ch_" + eventID,
			Matched: matched, Outcome: "ignored", CreatedAt: T0, ReceivedAt: T0.Add(time.Second)}
		if matched {
			e.OrderID, e.Outcome = "ord_"+eventID, "refunded"
		}
		return e
	}
	p1, p2, p3, p4 := ev("pev_1", "evt_1", false), ev("pev_2", "evt_2", true), ev("pev_3", "evt_3", false), ev("pev_4", "evt_4", true)
	write(t, s, func(tx store.Tx) error {
		for _, e := range []tollgate.PaymentEvent{p3, p1, p4, p2} {
			if err := tx.PaymentEventPut(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	// The provider retries evt_1, which now finds its order: the record
	// says so under the id it was first given, so the operator's list
	// does not shift.
	retry := ev("pev_9", "evt_1", true)
	retry.ReceivedAt = T0.Add(time.Hour)
	write(t, s, func(tx store.Tx) error { return tx.PaymentEventPut(ctx, retry) })
	p1 = retry
	p1.ID = "pev_1"

	for _, c := range []struct {
		name string
		p    record.PaymentEventListParams
		want []tollgate.PaymentEvent
	}{
		{"all", record.PaymentEventListParams{}, []tollgate.PaymentEvent{p1, p2, p3, p4}},
		{"matched", record.PaymentEventListParams{Matched: ptr(true)}, []tollgate.PaymentEvent{p1, p2, p4}},
		{"unmatched", record.PaymentEventListParams{Matched: ptr(false)}, []tollgate.PaymentEvent{p3}},
		{"page", record.PaymentEventListParams{After: "pev_1", Limit: 2}, []tollgate.PaymentEvent{p2, p3}},
		{"matched page", record.PaymentEventListParams{Matched: ptr(true), After: "pev_2", Limit: 5}, []tollgate.PaymentEvent{p4}},
		{"none", record.PaymentEventListParams{After: "pev_4"}, nil},
	} {
		read(t, s, func(tx store.Tx) error {
			got, err := tx.PaymentEventList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("PaymentEventList %s (-want +got):\n%s", c.name, diff)
			}
			return nil
		})
	}
}

func testAuditLog(t *testing.T, s store.Store) {
	ctx := t.Context()
	entry := func(id string, at time.Time, key, acct, action string) tollgate.AuditEntry {
		return tollgate.AuditEntry{ID: id, CreatedAt: at, ActorKey: key, ActorKind: "admin", AccountID: acct, Action: action,
			Target: "tg_" + id, RequestID: "req_" + id, Detail: `{"id":"` + id + `"}`}
	}
	es := []tollgate.AuditEntry{
		entry("au_1", T0, "key_1", "a1", "grant.create"),
		entry("au_2", T0.Add(time.Minute), "key_2", "a1", "key.revoke"),
		entry("au_3", T0.Add(2*time.Minute), "key_1", "a2", "grant.create"),
		entry("au_4", T0.Add(3*time.Minute), "", "", "pack.put"),
		entry("au_5", T0.Add(3*time.Minute+time.Microsecond), "key_1", "a1", "grant.create"),
	}
	es[3].ActorKind = "system"
	// Entries come in batches, in any id order.
	write(t, s, func(tx store.Tx) error { return tx.AuditAppend(ctx, []tollgate.AuditEntry{es[2], es[0]}) })
	write(t, s, func(tx store.Tx) error { return tx.AuditAppend(ctx, []tollgate.AuditEntry{es[4], es[1], es[3]}) })
	write(t, s, func(tx store.Tx) error { return tx.AuditAppend(ctx, nil) })

	read(t, s, func(tx store.Tx) error {
		got, err := tx.AuditList(ctx, record.AuditListParams{})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(es, got); diff != "" {
			t.Errorf("AuditList (-want +got):\n%s", diff)
		}
		return nil
	})
	for _, c := range []struct {
		name string
		p    record.AuditListParams
		want []string
	}{
		{"account", record.AuditListParams{AccountID: "a1"}, []string{"au_1", "au_2", "au_5"}},
		{"actor", record.AuditListParams{ActorKey: "key_1"}, []string{"au_1", "au_3", "au_5"}},
		{"action", record.AuditListParams{Action: "grant.create"}, []string{"au_1", "au_3", "au_5"}},
		{"every filter", record.AuditListParams{AccountID: "a1", ActorKey: "key_1", Action: "grant.create"}, []string{"au_1", "au_5"}},
		// [from, to): an entry made at to is the next range's.
		{"from", record.AuditListParams{CreatedFrom: T0.Add(time.Minute)}, []string{"au_2", "au_3", "au_4", "au_5"}},
		{"to", record.AuditListParams{CreatedTo: T0.Add(3 * time.Minute)}, []string{"au_1", "au_2", "au_3"}},
		{"from to", record.AuditListParams{CreatedFrom: T0.Add(time.Minute), CreatedTo: T0.Add(3*time.Minute + time.Microsecond)},
			[]string{"au_2", "au_3", "au_4"}},
		{"page", record.AuditListParams{After: "au_2", Limit: 2}, []string{"au_3", "au_4"}},
		{"account page", record.AuditListParams{AccountID: "a1", After: "au_1", Limit: 1}, []string{"au_2"}},
		{"none", record.AuditListParams{ActorKey: "key_9"}, []string{}},
	} {
		read(t, s, func(tx store.Tx) error {
			got, err := tx.AuditList(ctx, c.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, ids(got, func(e tollgate.AuditEntry) string { return e.ID })); diff != "" {
				t.Errorf("AuditList %s (-want +got):\n%s", c.name, diff)
			}
			return nil
		})
	}
}

func testIdempotencyLock(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A second transaction locking the same key must not get past its lock
	// until the first has ended. (On SQLite it waits to begin instead.)
	var ended atomic.Bool
	second := make(chan error, 1)
	write(t, s, func(tx store.Tx) error {
		if err := tx.IdempotencyLock(ctx, "a1", "k1"); err != nil {
			return err
		}
		// Locking a key twice in one transaction is no deadlock.
		if err := tx.IdempotencyLock(ctx, "a1", "k1"); err != nil {
			return err
		}
		go func() {
			second <- s.Write(ctx, func(tx store.Tx) error {
				if err := tx.IdempotencyLock(ctx, "a1", "k1"); err != nil {
					return err
				}
				if !ended.Load() {
					t.Error("IdempotencyLock: the second locker got the key while the first transaction held it")
				}
				return nil
			})
		}()
		time.Sleep(200 * time.Millisecond)
		ended.Store(true)
		return nil
	})
	if err := <-second; err != nil {
		t.Errorf("IdempotencyLock in the second transaction: %v", err)
	}
}
