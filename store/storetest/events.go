package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"tollgate"
	"tollgate/store"
)

// endpoint returns an enabled endpoint taking the given event types, or
// every type if none is given.
func endpoint(id string, types ...string) tollgate.Endpoint {
	return tollgate.Endpoint{ID: id, URL: "https://example.com/hooks/" + id, Secret: "whsec_" + id, Types: types, CreatedAt: T0}
}

func event(id, typ, acct string, at time.Time) tollgate.Event {
	return tollgate.Event{ID: id, Type: typ, AccountID: acct, Payload: []byte(`{"type":"` + typ + `"}`), CreatedAt: at}
}

// delivery is e owed to ep, before any attempt, as DeliveriesDue returns it.
func delivery(e tollgate.Event, ep tollgate.Endpoint, next time.Time) tollgate.Delivery {
	return tollgate.Delivery{Event: e, EndpointID: ep.ID, URL: ep.URL, Secret: ep.Secret, NextAt: next}
}

// setUp writes endpoints, then enqueues events.
func setUp(t *testing.T, s store.Store, eps []tollgate.Endpoint, evs []tollgate.Event) {
	t.Helper()
	write(t, s, func(tx store.Tx) error {
		for _, ep := range eps {
			if err := tx.EndpointInsert(t.Context(), ep); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := tx.EventEnqueue(t.Context(), e); err != nil {
				return err
			}
		}
		return nil
	})
}

func deliveriesDue(t *testing.T, s store.Store, now time.Time, limit int) []tollgate.Delivery {
	t.Helper()
	var ds []tollgate.Delivery
	read(t, s, func(tx store.Tx) error {
		var err error
		ds, err = tx.DeliveriesDue(t.Context(), now, limit)
		return err
	})
	return ds
}

func testEndpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := endpoint("we_b", tollgate.EventCreditsLow, tollgate.EventOrderCompleted)
	a := endpoint("we_a")
	a.CreatedAt = T0.Add(time.Microsecond)
	setUp(t, s, []tollgate.Endpoint{b, a}, nil)
	read(t, s, func(tx store.Tx) error {
		got, err := tx.EndpointList(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Endpoint{a, b}, got); diff != "" {
			t.Errorf("EndpointList (-want +got):\n%s", diff)
		}
		return byID(t, "EndpointByID", func(id string) (tollgate.Endpoint, error) { return tx.EndpointByID(ctx, id) }, "we_b", b, "we_9")
	})

	// A rotation: the new secret signs, the old one beside it for a day.
	rotated := a
	rotated.Types, rotated.Disabled = []string{tollgate.EventPlanChangeScheduled}, true
	rotated.Secret, rotated.OldSecret, rotated.OldSecretUntil = "whsec_new", a.Secret, ptr(T0.Add(24*time.Hour))
	// Then back to every type, enabled, the rotation over: zero values are
	// written too.
	back := rotated
	back.Types, back.Disabled, back.OldSecret, back.OldSecretUntil = nil, false, "", nil
	for _, want := range []tollgate.Endpoint{rotated, back} {
		write(t, s, func(tx store.Tx) error { return tx.EndpointUpdate(ctx, want) })
		read(t, s, func(tx store.Tx) error {
			got, err := tx.EndpointByID(ctx, "we_a")
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("EndpointByID after EndpointUpdate (-want +got):\n%s", diff)
			}
			return nil
		})
	}
	err := s.Write(ctx, func(tx store.Tx) error { return tx.EndpointUpdate(ctx, endpoint("we_9")) })
	if !errors.Is(err, tollgate.ErrNotFound) {
		t.Errorf("EndpointUpdate missing: got %v, want not found", err)
	}

	// we_b is owed an event when it is deleted.
	e := event("evt_1", tollgate.EventCreditsLow, "a1", T0)
	write(t, s, func(tx store.Tx) error {
		if err := tx.EventEnqueue(ctx, e); err != nil {
			return err
		}
		return tx.EndpointDelete(ctx, "we_b")
	})
	err = s.Write(ctx, func(tx store.Tx) error { return tx.EndpointDelete(ctx, "we_b") })
	if !errors.Is(err, tollgate.ErrNotFound) {
		t.Errorf("EndpointDelete missing: got %v, want not found", err)
	}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.EndpointList(ctx)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Endpoint{back}, got); diff != "" {
			t.Errorf("EndpointList after EndpointDelete (-want +got):\n%s", diff)
		}
		if _, err := tx.EndpointByID(ctx, "we_b"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("EndpointByID deleted: got %v, want not found", err)
		}
		return nil
	})
	// An endpoint made again with the id of a deleted one is owed nothing
	// the deleted one was.
	write(t, s, func(tx store.Tx) error { return tx.EndpointInsert(ctx, b) })
	want := []tollgate.Delivery{delivery(e, back, T0)}
	if diff := cmp.Diff(want, deliveriesDue(t, s, T0, 0)); diff != "" {
		t.Errorf("DeliveriesDue after EndpointDelete (-want +got):\n%s", diff)
	}
}

func testEndpointInsertKeepsEveryField(t *testing.T, s store.Store) {
	// An endpoint stored disabled, or in the middle of a rotation, must not
	// come back enabled or without its old secret.
	ep := endpoint("we_1", tollgate.EventOrderCompleted)
	ep.Disabled, ep.OldSecret, ep.OldSecretUntil = true, "whsec_old", ptr(T0.Add(time.Hour))
	setUp(t, s, []tollgate.Endpoint{ep}, nil)
	read(t, s, func(tx store.Tx) error {
		got, err := tx.EndpointByID(t.Context(), "we_1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(ep, got); diff != "" {
			t.Errorf("EndpointByID after EndpointInsert (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testEventEnqueue(t *testing.T, s store.Store) {
	ctx := t.Context()
	low := endpoint("we_1", tollgate.EventCreditsLow)
	all := endpoint("we_2")
	both := endpoint("we_3", tollgate.EventOrderCompleted, tollgate.EventCreditsLow)
	orders := endpoint("we_4", tollgate.EventOrderCompleted)
	off := endpoint("we_5")
	setUp(t, s, []tollgate.Endpoint{low, all, both, orders, off}, nil)
	offDisabled := off
	offDisabled.Disabled = true
	write(t, s, func(tx store.Tx) error { return tx.EndpointUpdate(ctx, offDisabled) })

	e1 := event("evt_1", tollgate.EventCreditsLow, "a1", T0)
	e2 := event("evt_2", tollgate.EventOrderCompleted, "", T0.Add(time.Second))
	setUp(t, s, nil, []tollgate.Event{e1, e2})
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.EventEnqueue(ctx, event("evt_1", tollgate.EventPlanChangeScheduled, "a2", T0.Add(time.Hour)))
	})
	if !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("EventEnqueue of a stored id: got %v, want conflict", err)
	}
	// A disabled endpoint queues nothing: enabled again, it is owed none
	// of what happened meanwhile.
	write(t, s, func(tx store.Tx) error { return tx.EndpointUpdate(ctx, off) })

	want := []tollgate.Delivery{
		delivery(e1, low, T0), delivery(e1, all, T0), delivery(e1, both, T0),
		delivery(e2, all, e2.CreatedAt), delivery(e2, both, e2.CreatedAt), delivery(e2, orders, e2.CreatedAt),
	}
	// The order of deliveries due at one time is not the contract's.
	byEndpoint := cmpopts.SortSlices(func(x, y tollgate.Delivery) bool {
		return x.Event.ID < y.Event.ID || x.Event.ID == y.Event.ID && x.EndpointID < y.EndpointID
	})
	if diff := cmp.Diff(want, deliveriesDue(t, s, T0.Add(time.Hour), 0), byEndpoint); diff != "" {
		t.Errorf("DeliveriesDue after EventEnqueue (-want +got):\n%s", diff)
	}
}

func testEventEnqueueMatchesTypesExactly(t *testing.T, s store.Store) {
	ctx := t.Context()
	// An endpoint takes the types it names, as written: not another case
	// of one, nor one that an event type would match as a pattern.
	eps := []tollgate.Endpoint{endpoint("we_case", "CREDITS.LOW"), endpoint("we_dot", "plan.change.scheduled")}
	evs := []tollgate.Event{
		event("evt_1", tollgate.EventCreditsLow, "a1", T0),
		event("evt_2", tollgate.EventPlanChangeScheduled, "", T0),
	}
	setUp(t, s, eps, evs)
	got := ids(deliveriesDue(t, s, T0, 0), func(d tollgate.Delivery) string { return d.Event.ID + " to " + d.EndpointID })
	if len(got) != 0 {
		t.Errorf("DeliveriesDue after EventEnqueue: got %q, want none", got)
	}
	for _, ep := range eps {
		write(t, s, func(tx store.Tx) error {
			n, err := tx.DeliveriesResend(ctx, ep.ID, "", T0, T0)
			if err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("DeliveriesResend to %s, types %q: got %d, want 0", ep.ID, ep.Types, n)
			}
			return nil
		})
	}
}

func testEventLastAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	// No endpoint: events are kept all the same.
	setUp(t, s, nil, []tollgate.Event{
		event("evt_1", tollgate.EventCreditsLow, "a1", T0),
		event("evt_2", tollgate.EventCreditsLow, "a1", T0.Add(2*time.Hour)),
		event("evt_3", tollgate.EventCreditsLow, "a1", T0.Add(time.Hour)),
		event("evt_4", tollgate.EventCreditsLow, "a2", T0.Add(5*time.Hour)),
		event("evt_5", tollgate.EventCreditsExpiring, "a1", T0.Add(4*time.Hour)),
		event("evt_6", tollgate.EventPriceChangeScheduled, "", T0.Add(3*time.Hour+time.Microsecond)),
	})
	for _, c := range []struct {
		acct, typ string
		want      time.Time
		ok        bool
	}{
		{"a1", tollgate.EventCreditsLow, T0.Add(2 * time.Hour), true},
		{"a2", tollgate.EventCreditsLow, T0.Add(5 * time.Hour), true},
		{"a1", tollgate.EventCreditsExpiring, T0.Add(4 * time.Hour), true},
		{"", tollgate.EventPriceChangeScheduled, T0.Add(3*time.Hour + time.Microsecond), true},
		{"a3", tollgate.EventCreditsLow, time.Time{}, false},
		{"a1", tollgate.EventPriceChangeScheduled, time.Time{}, false},
		{"", tollgate.EventCreditsLow, time.Time{}, false},
	} {
		read(t, s, func(tx store.Tx) error {
			at, ok, err := tx.EventLastAt(ctx, c.acct, c.typ)
			if err != nil {
				return err
			}
			if ok != c.ok || !at.Equal(c.want) {
				t.Errorf("EventLastAt(%q, %s): got %v, %v, want %v, %v", c.acct, c.typ, at, ok, c.want, c.ok)
			}
			return nil
		})
	}
}

func testDeliveriesDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	// One enabled endpoint per event, so that no two deliveries are due
	// at the same time; the disabled one takes them all.
	low := endpoint("we_1", tollgate.EventCreditsLow)
	orders := endpoint("we_2", tollgate.EventOrderCompleted)
	off := endpoint("we_3")
	ea := event("evt_a", tollgate.EventCreditsLow, "a1", T0.Add(2*time.Hour))
	eb := event("evt_b", tollgate.EventOrderCompleted, "a1", T0.Add(time.Hour))
	ec := event("evt_c", tollgate.EventCreditsLow, "a2", T0)
	ed := event("evt_d", tollgate.EventOrderCompleted, "a2", T0.Add(3*time.Hour))
	setUp(t, s, []tollgate.Endpoint{low, orders, off}, []tollgate.Event{ea, eb, ec, ed})
	// we_1 rotates its secret, the old one signing until T0+90m; we_3 is
	// disabled with deliveries queued.
	rotated := low
	rotated.Secret, rotated.OldSecret, rotated.OldSecretUntil = "whsec_new", low.Secret, ptr(T0.Add(90*time.Minute))
	off.Disabled = true
	write(t, s, func(tx store.Tx) error {
		if err := tx.EndpointUpdate(ctx, rotated); err != nil {
			return err
		}
		return tx.EndpointUpdate(ctx, off)
	})

	overlapping := func(d tollgate.Delivery) tollgate.Delivery { d.OldSecret = low.Secret; return d }
	for _, c := range []struct {
		name  string
		now   time.Time
		limit int
		want  []tollgate.Delivery
	}{
		{"one due", T0, 0, []tollgate.Delivery{overlapping(delivery(ec, rotated, T0))}},
		{"during the rotation", T0.Add(time.Hour), 0,
			[]tollgate.Delivery{overlapping(delivery(ec, rotated, T0)), delivery(eb, orders, T0.Add(time.Hour))}},
		{"after the rotation", T0.Add(2 * time.Hour), 0,
			[]tollgate.Delivery{delivery(ec, rotated, T0), delivery(eb, orders, T0.Add(time.Hour)), delivery(ea, rotated, T0.Add(2*time.Hour))}},
		{"limit", T0.Add(3 * time.Hour), 2,
			[]tollgate.Delivery{delivery(ec, rotated, T0), delivery(eb, orders, T0.Add(time.Hour))}},
		{"none yet", T0.Add(-time.Microsecond), 0, nil},
	} {
		if diff := cmp.Diff(c.want, deliveriesDue(t, s, c.now, c.limit), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("DeliveriesDue %s (-want +got):\n%s", c.name, diff)
		}
	}
}

func testDeliveryClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	ep := endpoint("we_1")
	e := event("evt_1", tollgate.EventCreditsLow, "a1", T0)
	setUp(t, s, []tollgate.Endpoint{ep}, []tollgate.Event{e})
	d := delivery(e, ep, T0)
	if diff := cmp.Diff([]tollgate.Delivery{d}, deliveriesDue(t, s, T0, 0)); diff != "" {
		t.Fatalf("DeliveriesDue (-want +got):\n%s", diff)
	}

	// Two workers read the delivery due: only the first to claim sends it.
	// A delivery that is not stored is no one's.
	missing := d
	missing.EndpointID = "we_9"
	for i, c := range []struct {
		d     tollgate.Delivery
		until time.Time
		want  bool
	}{{d, T0.Add(time.Minute), true}, {d, T0.Add(2 * time.Minute), false}, {missing, T0.Add(time.Minute), false}} {
		write(t, s, func(tx store.Tx) error {
			got, err := tx.DeliveryClaim(ctx, c.d, c.until)
			if err != nil {
				return err
			}
			if got != c.want {
				t.Errorf("DeliveryClaim #%d: got %v, want %v", i, got, c.want)
			}
			return nil
		})
	}
	// The claim holds it until its lease ends, counting no attempt; then
	// it is due again, for anyone to claim.
	if got := deliveriesDue(t, s, T0.Add(time.Minute-time.Microsecond), 0); len(got) != 0 {
		t.Errorf("DeliveriesDue while claimed: got %+v, want none", got)
	}
	claimed := d
	claimed.NextAt = T0.Add(time.Minute)
	if diff := cmp.Diff([]tollgate.Delivery{claimed}, deliveriesDue(t, s, T0.Add(time.Minute), 0)); diff != "" {
		t.Errorf("DeliveriesDue when the claim ends (-want +got):\n%s", diff)
	}
	write(t, s, func(tx store.Tx) error {
		got, err := tx.DeliveryClaim(ctx, claimed, T0.Add(3*time.Minute))
		if err != nil {
			return err
		}
		if !got {
			t.Error("DeliveryClaim of the delivery as due again: got false, want true")
		}
		return nil
	})
}

func testDeliveryDone(t *testing.T, s store.Store) {
	ctx := t.Context()
	ep := endpoint("we_1")
	sent := event("evt_1", tollgate.EventCreditsLow, "a1", T0)
	retried := event("evt_2", tollgate.EventCreditsLow, "a1", T0)
	dropped := event("evt_3", tollgate.EventCreditsLow, "a1", T0)
	setUp(t, s, []tollgate.Endpoint{ep}, []tollgate.Event{sent, retried, dropped})

	next := T0.Add(10 * time.Minute)
	write(t, s, func(tx store.Tx) error {
		if err := tx.DeliveryDone(ctx, delivery(sent, ep, T0), true, time.Time{}, ""); err != nil {
			return err
		}
		if err := tx.DeliveryDone(ctx, delivery(retried, ep, T0), false, next, "503 Service Unavailable"); err != nil {
			return err
		}
		return tx.DeliveryDone(ctx, delivery(dropped, ep, T0), false, time.Time{}, "410 Gone")
	})
	if got := deliveriesDue(t, s, next.Add(-time.Microsecond), 0); len(got) != 0 {
		t.Errorf("DeliveriesDue before the retry: got %+v, want none", got)
	}
	// Only the failed delivery with a next attempt is ever due again.
	want := delivery(retried, ep, next)
	want.Attempts = 1
	for _, now := range []time.Time{next, T0.AddDate(100, 0, 0)} {
		if diff := cmp.Diff([]tollgate.Delivery{want}, deliveriesDue(t, s, now, 0)); diff != "" {
			t.Errorf("DeliveriesDue at %v (-want +got):\n%s", now, diff)
		}
	}
	// Each failure counts an attempt.
	write(t, s, func(tx store.Tx) error { return tx.DeliveryDone(ctx, want, false, next.Add(time.Hour), "timeout") })
	want.Attempts, want.NextAt = 2, next.Add(time.Hour)
	if diff := cmp.Diff([]tollgate.Delivery{want}, deliveriesDue(t, s, want.NextAt, 0)); diff != "" {
		t.Errorf("DeliveriesDue after a second failure (-want +got):\n%s", diff)
	}
}

func testDeliveriesResend(t *testing.T, s store.Store) {
	ctx := t.Context()
	mine := endpoint("we_1", tollgate.EventCreditsLow, tollgate.EventOrderCompleted)
	other := endpoint("we_2")
	e1 := event("evt_1", tollgate.EventCreditsLow, "a1", T0)
	e2 := event("evt_2", tollgate.EventOrderCompleted, "a1", T0.Add(time.Hour))
	e3 := event("evt_3", tollgate.EventPlanChangeScheduled, "", T0.Add(2*time.Hour))
	e4 := event("evt_4", tollgate.EventCreditsLow, "a2", T0.Add(3*time.Hour))
	setUp(t, s, []tollgate.Endpoint{mine, other}, []tollgate.Event{e1, e2, e3, e4})
	// Everything was delivered but we_1's evt_2, given up after a failure.
	write(t, s, func(tx store.Tx) error {
		ds, err := tx.DeliveriesDue(ctx, T0.Add(3*time.Hour), 0)
		if err != nil {
			return err
		}
		if len(ds) != 7 {
			t.Errorf("DeliveriesDue: got %d deliveries, want 7", len(ds))
		}
		for _, d := range ds {
			if err := tx.DeliveryDone(ctx, d, d.Event.ID != "evt_2" || d.EndpointID != "we_1", time.Time{}, "410 Gone"); err != nil {
				return err
			}
		}
		return nil
	})

	resend := func(eventID string, since, now time.Time, want int64) {
		t.Helper()
		write(t, s, func(tx store.Tx) error {
			n, err := tx.DeliveriesResend(ctx, "we_1", eventID, since, now)
			if err != nil {
				return err
			}
			if n != want {
				t.Errorf("DeliveriesResend(%q, %v): got %d, want %d", eventID, since, n, want)
			}
			return nil
		})
	}
	// One event; evt_3 is not of we_1's types, evt_9 does not exist.
	now := T0.Add(5 * time.Hour)
	resend("evt_1", time.Time{}, now, 1)
	resend("evt_3", time.Time{}, now, 0)
	resend("evt_9", time.Time{}, now, 0)
	if diff := cmp.Diff([]tollgate.Delivery{delivery(e1, mine, now)}, deliveriesDue(t, s, now, 0)); diff != "" {
		t.Errorf("DeliveriesDue after resending evt_1 (-want +got):\n%s", diff)
	}
	// Every event of its types from since on, since included: the given
	// up one too, its attempt forgotten.
	later := now.Add(time.Hour)
	resend("", e2.CreatedAt, later, 2)
	want := []tollgate.Delivery{delivery(e1, mine, now), delivery(e2, mine, later), delivery(e4, mine, later)}
	if diff := cmp.Diff(want, deliveriesDue(t, s, later, 0)); diff != "" {
		t.Errorf("DeliveriesDue after resending since evt_2 (-want +got):\n%s", diff)
	}
}

// testEventEnqueueByAccount: an account's endpoint is owed its account's
// events only; the operator's, every account's.
func testEventEnqueueByAccount(t *testing.T, s store.Store) {
	ops, mine := endpoint("we_ops"), endpoint("we_a")
	mine.AccountID = "a"
	setUp(t, s, []tollgate.Endpoint{ops, mine}, []tollgate.Event{
		event("evt_1", tollgate.EventVideoCompleted, "a", T0), event("evt_2", tollgate.EventVideoCompleted, "b", T0),
		event("evt_3", tollgate.EventVerifyFailed, "", T0),
	})
	owed := map[string][]string{}
	for _, d := range deliveriesDue(t, s, T0, 10) {
		owed[d.EndpointID] = append(owed[d.EndpointID], d.Event.ID)
	}
	if diff := cmp.Diff(map[string][]string{"we_ops": {"evt_1", "evt_2", "evt_3"}, "we_a": {"evt_1"}}, owed,
		cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	read(t, s, func(tx store.Tx) error {
		e, err := tx.EndpointByID(t.Context(), "we_a")
		if err != nil || e.AccountID != "a" {
			t.Errorf("EndpointByID: %+v %v, want account a", e, err)
		}
		return nil
	})
	// A resend to the account's endpoint covers its account's events only.
	write(t, s, func(tx store.Tx) error {
		n, err := tx.DeliveriesResend(t.Context(), "we_a", "", T0.Add(-time.Hour), T0)
		if err == nil && n != 1 {
			t.Errorf("resend to a's endpoint queued %d, want 1", n)
		}
		return err
	})
}
