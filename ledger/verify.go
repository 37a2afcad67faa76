package ledger

import (
	"context"
	"fmt"
	"sort"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// Report is the outcome of Verify. It is clean when Violations is empty.
type Report struct {
	Accounts, Grants, Holds int
	Violations              []string
}

// Verify recomputes every grant remainder and every hold from the journal
// and checks the invariants of DESIGN.md on one snapshot: each transaction
// sums to zero; each grant's remainder equals its available entries, is
// between zero and its amount, and its issuance equals its amount; each
// grant's held entries, and the held it records, equal what pending holds
// draw on it; each hold's
// allocations sum to its amount and it captured no more than it held; an
// expired grant keeps nothing; a grant a refund is owed from keeps nothing
// available and is owed no more than pending holds hold on it; and each
// order's refunded credits are all accounted for on its grant (taken back,
// owed or lost), so refunded credits can never be spent again.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	var r Report
	err := l.store.Read(ctx, func(tx store.Tx) error {
		unbalanced, err := tx.TxnsUnbalanced(ctx)
		if err != nil {
			return err
		}
		for _, t := range unbalanced {
			r.add("transaction %s does not sum to zero: %s", t.TxnID, t.Sum)
		}
		totals, err := tx.EntryTotals(ctx)
		if err != nil {
			return err
		}
		type key struct {
			grant string
			book  tollgate.Book
		}
		sum := map[key]tollgate.Credits{}
		var total tollgate.Credits
		for _, t := range totals {
			sum[key{t.GrantID, t.Book}] += t.Sum
			total += t.Sum
		}
		if total != 0 {
			r.add("the journal as a whole sums to %s, not zero", total)
		}
		grants, err := tx.GrantList(ctx, store.GrantListParams{})
		if err != nil {
			return err
		}
		r.Grants = len(grants)
		known := map[string]tollgate.Grant{}
		for _, g := range grants {
			known[g.ID] = g
			if g.Remaining < 0 {
				r.add("grant %s has a negative remainder %s", g.ID, g.Remaining)
			}
			if g.Remaining > g.Amount {
				r.add("grant %s has %s remaining, more than its amount %s", g.ID, g.Remaining, g.Amount)
			}
			if got := sum[key{g.ID, tollgate.BookAvailable}]; got != g.Remaining {
				r.add("grant %s: remaining is %s but the journal says %s", g.ID, g.Remaining, got)
			}
			// A grant is issued, or received from another account.
			if got := -sum[key{g.ID, tollgate.BookIssuance}] - sum[key{g.ID, tollgate.BookTransferIn}] - sum[key{g.ID, tollgate.BookRoyaltyIn}]; got != g.Amount {
				r.add("grant %s: amount is %s but the journal issued %s", g.ID, g.Amount, got)
			}
			if g.ExpiredAt != nil && g.Remaining != 0 {
				r.add("grant %s expired with %s remaining", g.ID, g.Remaining)
			}
		}
		for k, v := range sum {
			if k.grant != "" {
				if _, ok := known[k.grant]; !ok && v != 0 {
					r.add("journal book %s names grant %s, which does not exist", k.book, k.grant)
				}
			}
		}
		holds, err := tx.HoldList(ctx, store.HoldListParams{})
		if err != nil {
			return err
		}
		r.Holds = len(holds)
		held := map[string]tollgate.Credits{}
		pending := map[string]int{}
		for _, h := range holds {
			if h.Status == tollgate.HoldPending {
				pending[h.AccountID]++
			}
			var alloc tollgate.Credits
			for _, a := range h.Allocations {
				if _, ok := known[a.GrantID]; !ok {
					r.add("hold %s draws on grant %s, which does not exist", h.ID, a.GrantID)
				}
				if a.Amount <= 0 {
					r.add("hold %s draws %s on grant %s", h.ID, a.Amount, a.GrantID)
				}
				alloc += a.Amount
				if h.Status == tollgate.HoldPending {
					held[a.GrantID] += a.Amount
				}
			}
			if alloc != h.Amount {
				r.add("hold %s holds %s but its allocations sum to %s", h.ID, h.Amount, alloc)
			}
			if h.Captured > h.Amount || h.Captured < 0 {
				r.add("hold %s captured %s of %s", h.ID, h.Captured, h.Amount)
			}
			if h.Status != tollgate.HoldCaptured && h.Captured != 0 {
				r.add("hold %s is %s but captured %s", h.ID, h.Status, h.Captured)
			}
		}
		for _, g := range grants {
			if got := sum[key{g.ID, tollgate.BookHeld}]; got != held[g.ID] {
				r.add("grant %s: pending holds draw %s but the journal holds %s", g.ID, held[g.ID], got)
			}
			if g.Held != held[g.ID] {
				r.add("grant %s: held is %s but pending holds draw %s", g.ID, g.Held, held[g.ID])
			}
			if g.RefundOwed < 0 || g.RefundOwed > held[g.ID] {
				r.add("grant %s: a refund is owed %s of it but pending holds hold %s", g.ID, g.RefundOwed, held[g.ID])
			}
			if g.RefundOwed > 0 && g.Remaining != 0 {
				r.add("grant %s: a refund is owed %s of it yet %s is available to spend", g.ID, g.RefundOwed, g.Remaining)
			}
		}
		// Refunds: on an order's grant, the refunds book holds what was
		// taken back less what was lost, and refund_loss what was lost.
		// Losses recorded before they named their grant are summed per
		// account and must make up exactly what those accounts' orders
		// leave unaccounted.
		untagged := map[string]tollgate.Credits{}
		for _, t := range totals {
			if t.Book == tollgate.BookRefundLoss && t.GrantID == "" {
				untagged[t.AccountID] += t.Sum
			}
		}
		orders, err := tx.OrderList(ctx, record.OrderListParams{})
		if err != nil {
			return err
		}
		gap := map[string]tollgate.Credits{}
		frozenBy := map[string]bool{} // grants an open dispute freezes
		for _, o := range orders {
			if o.DisputeStatus == tollgate.DisputeOpen && o.GrantID != "" {
				frozenBy[o.GrantID] = true
			}
		}
		for _, g := range grants {
			if g.Frozen != frozenBy[g.ID] {
				r.add("grant %s: frozen is %v, but its order's dispute says %v", g.ID, g.Frozen, frozenBy[g.ID])
			}
		}
		for _, o := range orders {
			if o.GrantID == "" {
				continue
			}
			g, ok := known[o.GrantID]
			if !ok {
				r.add("order %s names grant %s, which does not exist", o.ID, o.GrantID)
				continue
			}
			accounted := sum[key{g.ID, tollgate.BookRefunds}] + 2*sum[key{g.ID, tollgate.BookRefundLoss}] + g.RefundOwed
			switch d := o.RefundedCredits - accounted; {
			case d < 0:
				r.add("order %s: refunds covered %s of its credits but its grant %s accounts for %s", o.ID, o.RefundedCredits, g.ID, accounted)
			case d > 0:
				gap[o.AccountID] += d
			}
		}
		for acct := range untagged {
			if _, ok := gap[acct]; !ok {
				gap[acct] = 0
			}
		}
		for acct, d := range gap {
			if d != untagged[acct] {
				r.add("account %s: its orders' refunds cover %s more than their grants account for", acct, d-untagged[acct])
			}
		}
		// Royalties: what each owner's grants received from royalty_in is
		// the net of the earnings recorded for it, and each earning's gross
		// is its take plus its net.
		royaltyIn := map[string]tollgate.Credits{}
		for _, t := range totals {
			if t.Book == tollgate.BookRoyaltyIn {
				royaltyIn[t.AccountID] -= t.Sum
			}
		}
		earned, err := tx.EarningTotals(ctx)
		if err != nil {
			return err
		}
		for _, e := range earned {
			if e.Bad > 0 {
				r.add("account %s: %d of its earnings do not split into take plus net", e.OwnerID, e.Bad)
			}
			if royaltyIn[e.OwnerID] != e.Net {
				r.add("account %s earned %s net by its earnings but its grants received %s in royalties", e.OwnerID, e.Net, royaltyIn[e.OwnerID])
			}
			delete(royaltyIn, e.OwnerID)
		}
		for acct, got := range royaltyIn {
			if got != 0 {
				r.add("account %s received %s in royalties with no earnings recorded", acct, got)
			}
		}
		// Payouts: the payouts book of each account holds the credits of
		// its payouts that did not fail.
		paidOut := map[string]tollgate.Credits{}
		for _, t := range totals {
			if t.Book == tollgate.BookPayouts {
				paidOut[t.AccountID] += t.Sum
			}
		}
		payouts, err := tx.PayoutTotals(ctx)
		if err != nil {
			return err
		}
		for acct, want := range payouts {
			if paidOut[acct] != want {
				r.add("account %s: its payouts that did not fail come to %s credits but its payouts book holds %s", acct, want, paidOut[acct])
			}
			delete(paidOut, acct)
		}
		for acct, got := range paidOut {
			if got != 0 {
				r.add("account %s: its payouts book holds %s credits with no payout", acct, got)
			}
		}
		accts, err := tx.AccountList(ctx, store.AccountListParams{})
		if err != nil {
			return err
		}
		r.Accounts = len(accts)
		for _, a := range accts {
			if a.PendingHolds != pending[a.ID] {
				r.add("account %s counts %d pending holds but has %d", a.ID, a.PendingHolds, pending[a.ID])
			}
		}
		byID := make(map[string]*tollgate.Hold, len(holds))
		for i := range holds {
			byID[holds[i].ID] = &holds[i]
		}
		for _, a := range accts {
			if err := verifyVideos(ctx, tx, a.ID, byID, &r); err != nil {
				return err
			}
		}
		return nil
	})
	sort.Strings(r.Violations)
	return r, err
}

func (r *Report) add(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

// verifyVideos checks an account's video jobs against their holds: a job
// is completed exactly when its hold was captured, charging what the hold
// captured and no more than it held; failed when it was released or timed
// out, charging nothing; running while it is pending.
func verifyVideos(ctx context.Context, tx store.Tx, account string, holds map[string]*tollgate.Hold, r *Report) error {
	for after := ""; ; {
		vs, err := tx.VideoList(ctx, record.VideoListParams{AccountID: account, After: after, Limit: 1000, Deleted: true})
		if err != nil {
			return err
		}
		for _, v := range vs {
			h := holds[v.HoldID]
			switch {
			case h == nil:
				r.add("video %s pays with hold %s, which does not exist", v.ID, v.HoldID)
			case h.AccountID != v.AccountID:
				r.add("video %s of account %s pays with hold %s of account %s", v.ID, v.AccountID, h.ID, h.AccountID)
			case v.Charged > v.Held || v.Held != h.Amount:
				r.add("video %s charged %s of %s held, its hold %s held %s", v.ID, v.Charged, v.Held, h.ID, h.Amount)
			case h.Status == tollgate.HoldCaptured && (v.Status != tollgate.VideoCompleted || v.Charged != h.Captured):
				r.add("video %s is %s charging %s, but its hold %s captured %s", v.ID, v.Status, v.Charged, h.ID, h.Captured)
			case (h.Status == tollgate.HoldReleased || h.Status == tollgate.HoldExpired) && v.Status == tollgate.VideoCompleted:
				r.add("video %s is completed, but its hold %s was %s", v.ID, h.ID, h.Status)
			case h.Status == tollgate.HoldPending && v.Status.Final():
				r.add("video %s is %s, but its hold %s is still pending", v.ID, v.Status, h.ID)
			case v.Status != tollgate.VideoCompleted && v.Charged != 0:
				r.add("video %s is %s but charged %s", v.ID, v.Status, v.Charged)
			}
		}
		if len(vs) < 1000 {
			return nil
		}
		after = vs[len(vs)-1].ID
	}
}
