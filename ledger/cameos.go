package ledger

import (
	"context"
	"errors"
	"fmt"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// feeOwners are the accounts a video's fees pay: locked with the payer's,
// so that a cameo's daily uses and its owner's royalty grant change under
// one lock across instances.
func feeOwners(v *tollgate.Video) []string {
	var out []string
	for _, f := range v.Fees {
		out = append(out, f.OwnerID)
	}
	return out
}

// checkFees checks, when a video is held, each fee it will pay: that the
// payer may use the cameo now (its owner's consent, its status) and that
// the use fits its daily limit on its owner's day. Every use is counted on
// that day (countUses), limited or not, so a limit set during a day
// counts the uses before it.
// A refusal is cameo_not_permitted naming the cameo.
func (b *batch) checkFees(ctx context.Context, payer *account, v *tollgate.Video) error {
	type use struct{ cameo, day string }
	counted := map[use]bool{}
	for i := range v.Fees {
		f := &v.Fees[i]
		switch {
		case f.Credits < 0 || f.Credits > tollgate.MaxCameoFee:
			return fmt.Errorf("fee of %s for %s is out of range", f.Credits, f.Subject)
		case f.TakeBPS < 0 || f.TakeBPS > tollgate.MaxTakeBPS:
			return fmt.Errorf("take of %d bps on %s is out of range", f.TakeBPS, f.Subject)
		case f.OwnerID == payer.a.ID:
			return fmt.Errorf("fee for %s would pay its payer %s", f.Subject, f.OwnerID)
		}
		owner := b.accounts[f.OwnerID]
		if owner == nil {
			return tollgate.Errorf(tollgate.CodeCameoNotPermitted, "the owner of %s no longer exists", f.Subject)
		}
		if f.Kind == tollgate.FeeRemix {
			pub, err := b.tx.PublishedByID(ctx, f.Subject)
			if errors.Is(err, tollgate.ErrNotFound) || err == nil && pub.AccountID != f.OwnerID {
				return &tollgate.Error{Code: tollgate.CodeCameoNotPermitted, Field: "video",
					Message: fmt.Sprintf("video %s is no longer published by its creator: it cannot be remixed, edited or extended", f.Subject)}
			}
			if err != nil {
				return err
			}
			if !pub.Remixable {
				return &tollgate.Error{Code: tollgate.CodeCameoNotPermitted, Field: "video",
					Message: fmt.Sprintf("the creator of video %s does not allow remixes, edits or extensions of it", f.Subject)}
			}
			continue
		}
		if f.Kind != tollgate.FeeCameo {
			return fmt.Errorf("unknown fee kind %q", f.Kind)
		}
		c, err := b.tx.CameoByID(ctx, f.Subject)
		if err != nil {
			return fmt.Errorf("read cameo %s: %w", f.Subject, err)
		}
		approved := false
		if c.Policy == tollgate.PolicyApproved && c.AccountID != payer.a.ID {
			if approved, err = b.tx.CameoApproved(ctx, c.ID, payer.a.ID); err != nil {
				return err
			}
		}
		if err := c.Permits(payer.a.ID, approved); err != nil {
			return err
		}
		day := b.now.In(owner.a.Location()).Format("2006-01-02")
		k := use{c.ID, day}
		if c.DailyLimit > 0 && !counted[k] {
			n, err := b.tx.CameoUsesOn(ctx, c.ID, day)
			if err != nil {
				return err
			}
			if n+b.cameoUses[k.cameo+" "+k.day] >= c.DailyLimit {
				return &tollgate.Error{Code: tollgate.CodeCameoNotPermitted, Field: "cameos",
					Message: fmt.Sprintf("cameo @%s (%s) was used %d times today, its owner's daily limit; it can be used again after midnight in %s",
						c.Handle, c.ID, c.DailyLimit, owner.a.Timezone)}
			}
		}
		counted[k] = true
		f.Day = day
	}
	return nil
}

// countUses counts the uses of a video's cameos, once it is held.
func (b *batch) countUses(v *tollgate.Video) {
	for _, f := range v.Fees {
		if f.Day != "" {
			b.countUse(f.Subject, f.Day, 1)
		}
	}
}

// countUse changes a cameo's uses on a day, in the batch and in its
// writes.
func (b *batch) countUse(cameo, day string, delta int) {
	if b.cameoUses == nil {
		b.cameoUses = map[string]int{}
	}
	b.cameoUses[cameo+" "+day] += delta
	b.w.CameoUses = append(b.w.CameoUses, store.CameoUse{CameoID: cameo, Day: day, Delta: delta})
}

// checkPayable checks, before a video's hold is closed, that its fees can
// be settled: their owners are locked and a delivered video's capture
// covers them (nil capture: all of the hold, which includes them).
func (b *batch) checkPayable(v *tollgate.Video, capture *tollgate.Credits) error {
	var total tollgate.Credits
	for _, f := range v.Fees {
		if b.accounts[f.OwnerID] == nil {
			return fmt.Errorf("pay %s's fee: account %s is not locked", f.Subject, f.OwnerID)
		}
		total += f.Credits
	}
	if v.Status == tollgate.VideoCompleted && capture != nil && *capture < total {
		return fmt.Errorf("video %s would capture %s, less than the fees it pays (%s)", v.ID, *capture, total)
	}
	return nil
}

// payFees settles a video's fees with its hold h, just closed, once
// checkPayable passed: a delivered (completed) video pays each in full
// from what was captured, less the platform's take, to its owner's
// royalty grant, in a royalty transaction of the journal; a failed one
// pays no one and gives its cameos' uses back to their day. A delivered
// video also counts, for statements and leaderboards, as a generation of
// its payer and a paid use of each cameo and published video.
func (b *batch) payFees(h tollgate.Hold, v *tollgate.Video) {
	if v.Status != tollgate.VideoCompleted || h.Status != tollgate.HoldCaptured {
		for _, f := range v.Fees {
			if f.Day != "" {
				b.countUse(f.Subject, f.Day, -1)
			}
		}
		return
	}
	b.w.Counters = append(b.w.Counters, record.Counter{Board: BoardCreator, Subject: h.AccountID, OwnerID: h.AccountID, Bucket: b.now, Uses: 1})
	for _, f := range v.Fees {
		owner := b.accounts[f.OwnerID]
		take, net := f.Split()
		e := tollgate.Earning{ID: tollgate.NewID("earn"), OwnerID: f.OwnerID, PayerID: h.AccountID, Kind: f.Kind, Subject: f.Subject,
			VideoID: v.ID, Gross: f.Credits, Take: take, Net: net, CreatedAt: b.now}
		b.w.Earnings = append(b.w.Earnings, e)
		board := BoardCameo
		if f.Kind == tollgate.FeeRemix {
			board = BoardVideo
		}
		b.w.Counters = append(b.w.Counters,
			record.Counter{Board: board, Subject: f.Subject, OwnerID: f.OwnerID, Bucket: b.now, Uses: 1, Gross: f.Credits, Take: take, Net: net},
			record.Counter{Board: BoardCreator, Subject: f.OwnerID, OwnerID: f.OwnerID, Bucket: b.now, Gross: f.Credits, Take: take, Net: net})
		if net == 0 {
			continue
		}
		gs := b.royaltyGrant(owner)
		gs.g.Amount += net
		gs.g.Remaining += net
		gs.dirty = true
		txn := tollgate.NewID("txn")
		b.entry(txn, tollgate.TxnRoyalty, h.AccountID, tollgate.RevenueBook(h.Product), "", h.ID, -net)
		b.entry(txn, tollgate.TxnRoyalty, h.AccountID, tollgate.BookRoyaltyOut, "", h.ID, net)
		b.entry(txn, tollgate.TxnRoyalty, owner.a.ID, tollgate.BookRoyaltyIn, gs.g.ID, h.ID, -net)
		b.entry(txn, tollgate.TxnRoyalty, owner.a.ID, tollgate.BookAvailable, gs.g.ID, h.ID, net)
	}
}

// Boards of the counters: a cameo's paid uses, a published video's paid
// remixes, edits and extensions, and a creator's generations and
// earnings.
const (
	BoardCameo   = "cameo"
	BoardVideo   = "video"
	BoardCreator = "creator"
)

// royaltyGrant is the grant an owner's earnings go to: its open royalty
// grant, or a new one once that is spent. Royalty grants never expire and
// pay for every product, so they burn last (after allowances and
// purchases, which expire) and keep earnings for a payout.
func (b *batch) royaltyGrant(a *account) *grantState {
	for _, gs := range a.grants {
		g := &gs.g
		if g.Source == tollgate.SourceRoyalty && g.ExternalRef == "" && g.ExpiresAt == nil && !g.Frozen && g.Remaining > 0 && len(g.Products) == 0 {
			return gs
		}
	}
	g := tollgate.Grant{ID: tollgate.NewID("grant"), AccountID: a.a.ID, Source: tollgate.SourceRoyalty, EffectiveAt: b.now, CreatedAt: b.now}
	return b.addGrant(g, true)
}
