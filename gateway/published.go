package gateway

import (
	"context"
	"errors"
	"fmt"

	"tollgate"
	"tollgate/store/record"
)

// PublishParams publish a completed video of an account.
type PublishParams struct {
	VideoID   string
	AccountID string // the creator; "" for an admin key
	RemixFee  tollgate.Credits
	// Remixable lets other accounts remix, edit and extend it (for the
	// fee); false shows it without letting anyone build on it.
	Remixable bool
}

// Publish makes a completed video visible to every account, with the fee
// others pay its creator for each remix, edit or extension of it (less
// the platform's take, as a cameo's). Publishing again changes the fee and
// the switch; uses already held pay what they were quoted. It fails with
// not_found for a video not the account's, and invalid_field for one not
// completed or a fee out of range.
func (s *Service) Publish(ctx context.Context, p PublishParams) (tollgate.Published, error) {
	if p.RemixFee < 0 || p.RemixFee > tollgate.MaxCameoFee {
		return tollgate.Published{}, tollgate.FieldError("remix_fee", "must be from 0 to %s credits", tollgate.MaxCameoFee)
	}
	v, err := s.Get(ctx, p.VideoID, p.AccountID)
	if err != nil {
		return tollgate.Published{}, err
	}
	if v.Status != tollgate.VideoCompleted {
		return tollgate.Published{}, tollgate.FieldError("video_id", "video %s is %s; only a completed video can be published", v.ID, v.Status)
	}
	pub := tollgate.Published{VideoID: v.ID, AccountID: v.AccountID, RemixFee: p.RemixFee, Remixable: p.Remixable, PublishedAt: s.c.Clock.Now()}
	err = s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		if was, err := tx.PublishedByID(ctx, v.ID); err == nil {
			pub.PublishedAt = was.PublishedAt
		} else if !errors.Is(err, tollgate.ErrNotFound) {
			return err
		}
		if err := tx.PublishedPut(ctx, pub); err != nil {
			return err
		}
		return s.c.Ledger.Audit(ctx, tx, "video.publish", v.AccountID, v.ID, map[string]any{"remix_fee": p.RemixFee, "remixable": p.Remixable})
	})
	return pub, err
}

// Unpublish hides a published video from other accounts again: no new
// remix, edit or extension of it by them; those already held finish and
// pay as quoted.
func (s *Service) Unpublish(ctx context.Context, id, accountID string) (tollgate.Video, error) {
	v, err := s.Get(ctx, id, accountID)
	if err != nil {
		return tollgate.Video{}, err
	}
	err = s.c.Ledger.WriteRecords(ctx, func(tx record.Tx) error {
		ok, err := tx.PublishedDelete(ctx, v.ID)
		if err != nil {
			return err
		}
		if !ok {
			return tollgate.FieldError("video_id", "video %s is not published", v.ID)
		}
		return s.c.Ledger.Audit(ctx, tx, "video.unpublish", v.AccountID, v.ID, nil)
	})
	return v, err
}

// Published returns a video's terms of publication; not_found when it is
// not published.
func (s *Service) Published(ctx context.Context, id string) (tollgate.Published, error) {
	var p tollgate.Published
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var err error
		p, err = tx.PublishedByID(ctx, id)
		return err
	})
	return p, err
}

// PublishedList pages through the published videos, newest first, after
// the one before (its id; "" for the first page).
func (s *Service) PublishedList(ctx context.Context, before string, limit int) ([]tollgate.Published, error) {
	var out []tollgate.Published
	err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
		var at = tollgate.Published{}
		if before != "" {
			var err error
			if at, err = tx.PublishedByID(ctx, before); err != nil {
				if errors.Is(err, tollgate.ErrNotFound) {
					return tollgate.FieldError("cursor", "video %q is not published (any more): start again from the first page", before)
				}
				return err
			}
		}
		var err error
		out, err = tx.PublishedList(ctx, at.PublishedAt, at.VideoID, limit)
		return err
	})
	return out, err
}

// Shared returns a video as accountID may see it: its own (own true), or
// another account's that is published (own false). Anything else is
// not_found.
func (s *Service) Shared(ctx context.Context, id, accountID string) (v tollgate.Video, own bool, err error) {
	v, err = s.Get(ctx, id, accountID)
	if err == nil || accountID == "" || tollgate.ErrorCode(err) != tollgate.CodeNotFound {
		return v, err == nil, err
	}
	if _, perr := s.Published(ctx, id); perr != nil {
		return tollgate.Video{}, false, err
	}
	v, err = s.Get(ctx, id, "")
	return v, false, err
}

// source reads the video a remix, an edit or an extension of accountID
// builds on: its own, or another account's published video, which adds
// the remix fee to what the new video pays (the creator's consent switch
// is checked here and again when the video is held).
func (s *Service) source(ctx context.Context, p *CreateParams) (tollgate.Video, error) {
	src, own, err := s.Shared(ctx, p.SourceID, p.AccountID)
	if err != nil || own {
		return src, err
	}
	pub, err := s.Published(ctx, src.ID)
	if err != nil {
		return tollgate.Video{}, err
	}
	if !pub.Remixable {
		return tollgate.Video{}, &tollgate.Error{Code: tollgate.CodeCameoNotPermitted, Field: "video",
			Message: fmt.Sprintf("the creator of video %s does not allow remixes, edits or extensions of it", src.ID)}
	}
	p.fees = append(p.fees, tollgate.Fee{Kind: tollgate.FeeRemix, Subject: src.ID, OwnerID: src.AccountID, Credits: pub.RemixFee,
		TakeBPS: s.c.Cameos.TakeBPS()})
	return src, nil
}
