package httpapi

import (
	"context"
	"errors"
	"sync"
	"testing"

	"tollgate"
	"tollgate/cameo"
)

// fakeTransfers is Stripe Connect as a payout sees it: each idempotency
// key sends once; next says how the next call goes.
type fakeTransfers struct {
	mu   sync.Mutex
	sent map[string]string // key: transfer id
	next []error           // popped per call; nil: sent
}

func (f *fakeTransfers) Transfer(_ context.Context, dest string, amount tollgate.Money, key string, _ map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.next) > 0 {
		err := f.next[0]
		f.next = f.next[1:]
		if err != nil {
			return "", err
		}
	}
	if id, ok := f.sent[key]; ok {
		return id, nil
	}
	id := "tr_" + key
	f.sent[key] = id
	return id, nil
}

func (f *fakeTransfers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// TestPayouts: earnings are paid out at the operator's rate, by hand or
// through a connected account; a refused transfer returns the credits, an
// unknown outcome stays pending until a retry with the same key; a
// replayed request pays once.
func TestPayouts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createAccount(t, "o", "free", "UTC")
		keyO := e.createKey(t, "o")
		e.grant(t, "o", `{"credits":"40","source":"royalty"}`)
		e.grant(t, "o", `{"credits":"100","source":"promo"}`) // not earnings

		// No rate yet: a clear 422.
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{"credits":"5"}`}), 422, tollgate.CodeInvalidField)
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payout_rates", Key: keyO, Body: `{"currency":"usd","minor_per_credit":30}`}), 403, tollgate.CodeForbidden)
		var rate payoutRateView
		e.call(t, request{Method: "POST", Path: "/v1/payout_rates", Key: adminKey, Body: `{"currency":"usd","minor_per_credit":30,"minimum":"5"}`}, 201, &rate)
		if rate.Version != 1 {
			t.Fatalf("rate %+v", rate)
		}
		before := e.world(t)
		for _, tc := range []struct{ body, field string }{
			{`{"credits":"1"}`, "credits"},     // below the minimum
			{`{"credits":"41"}`, "credits"},    // more than the earnings
			{`{"credits":"-1"}`, "credits"},    // negative
			{`{"currency":"eur"}`, "currency"}, // no rate in it
		} {
			r := e.do(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: tc.body})
			if p := problemOf(t, r, 422, tollgate.CodeInvalidField); p.Field != tc.field {
				t.Errorf("%s: field %q, want %s", tc.body, p.Field, tc.field)
			}
		}
		e.unchanged(t, before)

		// By hand: pending until the operator marks it.
		start := e.balance(t, "o").Available // earnings, the promotion and today's allowance
		var po payoutView
		req := request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{"credits":"10"}`, Header: map[string]string{"Idempotency-Key": "po-1"}}
		e.call(t, req, 201, &po)
		if po.Status != "pending" || po.Amount != (tollgate.Money{Amount: 300, Currency: "usd"}) || po.Destination != "" {
			t.Fatalf("payout %+v", po)
		}
		var again payoutView
		if r := e.call(t, req, 201, &again); again.ID != po.ID || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %s, want %s replayed", again.ID, po.ID)
		}
		if b := e.balance(t, "o"); b.Available != start-tollgate.WholeCredits(10) {
			t.Errorf("available after the payout: %s, want %s less 10", b.Available, start)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payouts/" + po.ID + "/mark", Key: keyO, Body: `{"status":"paid"}`}), 403, tollgate.CodeForbidden)
		e.call(t, request{Method: "POST", Path: "/v1/payouts/" + po.ID + "/mark", Key: adminKey, Body: `{"status":"paid","reference":"wire 42"}`}, 200, &po)
		if po.Status != "paid" || po.Reference != "wire 42" {
			t.Errorf("marked %+v", po)
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payouts/" + po.ID + "/mark", Key: adminKey, Body: `{"status":"failed"}`}), 409, tollgate.CodeConflict)

		// Through a connected account, with Stripe faked.
		fake := &fakeTransfers{sent: map[string]string{}}
		e.videos.Cameos().SetPayouts(cameo.PayoutConfig{Transfers: fake})
		e.call(t, request{Method: "POST", Path: "/v1/payouts/destination", Key: adminKey, Body: `{"account_id":"o","stripe_account":"acct_o"}`}, 200, nil)
		var sent payoutView
		e.call(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{"credits":"5"}`}, 201, &sent)
		if sent.Status != "paid" || sent.TransferID == "" || sent.Destination != "acct_o" {
			t.Errorf("sent %+v", sent)
		}
		// Refused: failed, the credits back.
		fake.next = []error{&cameo.TransferError{Message: "No such destination"}}
		var refused payoutView
		e.call(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{"credits":"5"}`}, 201, &refused)
		if refused.Status != "failed" || refused.Failure != "No such destination" {
			t.Errorf("refused %+v", refused)
		}
		if b := e.balance(t, "o"); b.Available != start-tollgate.WholeCredits(15) {
			t.Errorf("available after the refusal: %s, want %s less the 15 paid out (the refused 5 back)", b.Available, start)
		}
		// Unknown: pending; the retry sends it once.
		fake.next = []error{errors.New("connection reset")}
		var unknown payoutView
		e.call(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{}`}, 201, &unknown) // all the earnings left: 25
		if unknown.Status != "pending" || unknown.Credits != tollgate.WholeCredits(25) {
			t.Fatalf("unknown outcome %+v", unknown)
		}
		n := fake.count()
		e.call(t, request{Method: "POST", Path: "/v1/payouts/" + unknown.ID + "/execute", Key: keyO}, 200, &unknown)
		e.call(t, request{Method: "POST", Path: "/v1/payouts/" + unknown.ID + "/execute", Key: keyO}, 200, &unknown)
		if unknown.Status != "paid" || fake.count() != n+1 {
			t.Errorf("after the retries %+v, %d transfers (want one more than %d)", unknown, fake.count(), n)
		}
		var list listView[payoutView]
		e.call(t, request{Method: "GET", Path: "/v1/payouts", Key: keyO}, 200, &list)
		if len(list.Data) != 4 {
			t.Errorf("payouts: %d, want 4", len(list.Data))
		}
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payouts", Key: keyO, Body: `{}`}), 422, tollgate.CodeInvalidField) // nothing left
		// Onboarding needs Stripe.
		problemOf(t, e.do(t, request{Method: "POST", Path: "/v1/payouts/onboarding", Key: keyO}), 503, tollgate.CodeUnavailable)
	})
}
