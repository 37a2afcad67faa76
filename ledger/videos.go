package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"tollgate"
)

// CreateVideo holds the credits of a video job and stores the job, in one
// transaction: a job never exists without its hold, nor a hold without its
// job. p is the hold (its product video, usually with a quote); v is the
// job, which gets the hold's id and amount. It fails like Hold, and the
// idempotency record of p remembers the job (v as made).
func (l *Ledger) CreateVideo(ctx context.Context, p HoldParams, v tollgate.Video) (tollgate.Video, error) {
	if v.ID == "" || v.AccountID != p.AccountID {
		return tollgate.Video{}, fmt.Errorf("create video: the job needs an id and the hold's account")
	}
	if err := validateHold(&p, l, false); err != nil {
		return tollgate.Video{}, err
	}
	o, err := run(ctx, l, &videoHoldOp{hold: holdOp{p: p}, v: v}, p.Idempotency, nil)
	if err != nil {
		return tollgate.Video{}, err
	}
	return o.v, nil
}

// videoHoldOp is a hold and the video job it pays for: Ledger.CreateVideo.
type videoHoldOp struct {
	hold holdOp
	v    tollgate.Video
}

func (o *videoHoldOp) need(n *need) { o.hold.need(n); n.others = feeOwners(&o.v) }
func (o *videoHoldOp) result() any  { return o.v }
func (o *videoHoldOp) apply(ctx context.Context, b *batch, a *account) error {
	if err := b.checkFees(ctx, a, &o.v); err != nil {
		return err
	}
	if err := o.hold.apply(ctx, b, a); err != nil {
		return err
	}
	b.countUses(&o.v)
	h := o.hold.res
	o.v.HoldID, o.v.Held, o.v.QuoteID, o.v.Version = h.ID, h.Amount, h.QuoteID, 1
	b.w.Videos = append(b.w.Videos, o.v)
	return nil
}

// SettleVideo finishes a video job and its hold in one transaction:
// v is the job as it is to be written (completed or failed), with the
// version it was read at. capture, when not nil, is what to charge (at most
// the hold: a user is never charged more than quoted); nil releases the
// hold. The job's Charged is set to what was captured. events are
// enqueued for the webhook endpoints in the same transaction. It returns
// the job as written, at its new version.
//
// It fails with conflict when the job was written since it was read (the
// caller reads it again and decides afresh), hold_not_pending when its hold
// was settled or timed out, capture_exceeds_hold, and not_found.
func (l *Ledger) SettleVideo(ctx context.Context, v tollgate.Video, capture *tollgate.Credits, events ...tollgate.Event) (tollgate.Video, error) {
	if v.HoldID == "" || !validID(v.HoldID) {
		return tollgate.Video{}, fmt.Errorf("settle video %s: it has no hold", v.ID)
	}
	if capture != nil && *capture < 0 {
		return tollgate.Video{}, tollgate.FieldError("credits", "must not be negative")
	}
	o, err := run(ctx, l, &videoSettleOp{
		close: closeHoldOp{holdID: v.HoldID, owner: v.AccountID, credits: capture, release: capture == nil},
		in:    v, events: events,
	}, nil, nil)
	if err != nil {
		return tollgate.Video{}, err
	}
	return o.v, nil
}

// videoSettleOp captures or releases a video job's hold and writes the
// job: Ledger.SettleVideo.
type videoSettleOp struct {
	close  closeHoldOp
	in     tollgate.Video // as the caller wrote it
	v      tollgate.Video // as written: in, settled
	events []tollgate.Event
}

func (o *videoSettleOp) need(n *need) { o.close.need(n); n.others = feeOwners(&o.in) }
func (o *videoSettleOp) result() any  { return o.v }
func (o *videoSettleOp) apply(ctx context.Context, b *batch, a *account) error {
	// A batch that failed is applied again from the start: begin from
	// the job as the caller wrote it, not as the last attempt left it.
	o.v = o.in
	o.v.Fees = slices.Clone(o.in.Fees)
	if err := b.checkPayable(&o.v, o.close.credits); err != nil {
		return err
	}
	if err := o.close.apply(ctx, b, a); err != nil {
		return err
	}
	o.v.Charged = o.close.res.Captured
	b.payFees(o.close.res, &o.v)
	rev, err := b.revenue(ctx, o.close.res)
	if err != nil {
		return err
	}
	o.v.Revenue = rev
	b.w.VideoUpdates = append(b.w.VideoUpdates, o.v)
	b.w.Events = append(b.w.Events, o.events...)
	b.owner[o.v.ID] = b.cur
	o.v.Version++
	return nil
}

// revenue is what the credits h captured were paid for: closeHold takes
// them from h's allocations in order; each taken from a purchase grant is
// worth its order's price per credit, rounded down per grant. Other
// grants' credits (allowance, promotion, admin, refund, royalty,
// transferred) are worth nothing. One amount per currency, in the order
// met.
func (b *batch) revenue(ctx context.Context, h tollgate.Hold) ([]tollgate.Money, error) {
	var out []tollgate.Money
	left := h.Captured
	for _, al := range h.Allocations {
		take := min(left, al.Amount)
		left -= take
		gs := b.grants[al.GrantID]
		if take <= 0 || gs == nil || gs.g.Source != tollgate.SourcePurchase || !strings.HasPrefix(gs.g.ExternalRef, "order:") {
			continue
		}
		o, err := b.tx.OrderByID(ctx, strings.TrimPrefix(gs.g.ExternalRef, "order:"))
		if tollgate.ErrorCode(err) == tollgate.CodeNotFound {
			continue // credits bought before orders were kept: worth what nobody can tell
		}
		if err != nil {
			return nil, fmt.Errorf("read the order of grant %s: %w", gs.g.ID, err)
		}
		if o.Credits <= 0 {
			continue
		}
		v, ok := tollgate.MulDivFloor(int64(take), o.Price.Amount, int64(o.Credits))
		if !ok {
			return nil, fmt.Errorf("the value of %s credits of order %s overflows", take, o.ID)
		}
		out = tollgate.AddMoney(out, tollgate.Money{Amount: v, Currency: o.Price.Currency})
	}
	return out, nil
}
