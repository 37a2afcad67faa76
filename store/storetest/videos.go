package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// video returns a queued job of acct due at next.
func video(id, acct string, next time.Time) tollgate.Video {
	return tollgate.Video{ID: id, AccountID: acct, Kind: tollgate.VideoCreate, Status: tollgate.VideoQueued, Model: "sora-2",
		Prompt: "a lighthouse at dusk", Seconds: 4, Size: "1280x720", HoldID: "h_" + id, Held: tollgate.WholeCredits(1),
		Step: tollgate.StepRoute, NextAt: &next, CreatedAt: T0,
		Attempts: []tollgate.VideoAttempt{{Provider: "local", ProviderModel: "local", StartedAt: T0, Outcome: "running"}}}
}

func testVideos(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2, v3 := video("video_1", "a", T0.Add(2*time.Second)), video("video_2", "a", T0.Add(time.Second)), video("video_3", "a", T0)
	other := video("video_4", "b", T0.Add(time.Hour))
	write(t, s, func(tx store.Tx) error {
		for _, v := range []tollgate.Video{v1, v2, v3, other} {
			if err := tx.VideoInsert(ctx, v); err != nil {
				return err
			}
		}
		if err := tx.VideoInsert(ctx, v1); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("insert of a taken id: got %v, want conflict", err)
		}
		return nil
	})
	v1.Version, v2.Version, v3.Version, other.Version = 1, 1, 1, 1
	read(t, s, func(tx store.Tx) error {
		if err := byID(t, "VideoByID", func(id string) (tollgate.Video, error) { return tx.VideoByID(ctx, id) }, "video_1", v1, "video_9"); err != nil {
			return err
		}
		for _, tc := range []struct {
			p    record.VideoListParams
			want []string
		}{
			{record.VideoListParams{AccountID: "a", Limit: 10}, []string{"video_1", "video_2", "video_3"}},
			{record.VideoListParams{AccountID: "a", Limit: 2, Desc: true}, []string{"video_3", "video_2"}},
			{record.VideoListParams{AccountID: "a", Limit: 2, Desc: true, After: "video_2"}, []string{"video_1"}},
			{record.VideoListParams{AccountID: "a", Limit: 10, After: "video_1"}, []string{"video_2", "video_3"}},
			{record.VideoListParams{AccountID: "c", Limit: 10}, nil},
		} {
			vs, err := tx.VideoList(ctx, tc.p)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(tc.want, videoIDs(vs)); diff != "" {
				t.Errorf("VideoList %+v (-want +got):\n%s", tc.p, diff)
			}
		}
		due, err := tx.VideosDue(ctx, T0.Add(time.Second), 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"video_3", "video_2"}, videoIDs(due)); diff != "" {
			t.Errorf("VideosDue (-want +got):\n%s", diff)
		}
		return nil
	})

	// A write checks the version read; a stale one changes nothing.
	done := T0.Add(time.Minute)
	v3.Status, v3.Step, v3.NextAt, v3.Progress, v3.CompletedAt = tollgate.VideoCompleted, tollgate.StepDone, nil, 100, &done
	v2.DeletedAt = &done
	write(t, s, func(tx store.Tx) error {
		if err := tx.VideoUpdate(ctx, v3); err != nil {
			return err
		}
		if err := tx.VideoUpdate(ctx, v2); err != nil {
			return err
		}
		if err := tx.VideoUpdate(ctx, v3); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("stale update: got %v, want conflict", err)
		}
		missing := v1
		missing.ID = "video_9"
		if err := tx.VideoUpdate(ctx, missing); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("update of a missing job: got %v, want not found", err)
		}
		return nil
	})
	v3.Version, v2.Version = 2, 2
	read(t, s, func(tx store.Tx) error {
		got, err := tx.VideoByID(ctx, "video_3")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(v3, got); diff != "" {
			t.Errorf("after update (-want +got):\n%s", diff)
		}
		due, err := tx.VideosDue(ctx, T0.Add(time.Hour), 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"video_2", "video_1", "video_4"}, videoIDs(due)); diff != "" {
			t.Errorf("VideosDue after the job finished (-want +got):\n%s", diff)
		}
		vs, err := tx.VideoList(ctx, record.VideoListParams{AccountID: "a", Limit: 10})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"video_1", "video_3"}, videoIDs(vs)); diff != "" {
			t.Errorf("VideoList leaves deleted jobs out (-want +got):\n%s", diff)
		}
		return nil
	})

	// Through Apply: inserts, and an update whose version moved on names
	// the job in a ConflictError and writes nothing.
	v5 := video("video_5", "a", T0)
	stale := v3 // at version 2; make it 3 first
	write(t, s, func(tx store.Tx) error { return tx.VideoUpdate(ctx, v3) })
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Videos: []tollgate.Video{v5}, VideoUpdates: []tollgate.Video{stale}})
	})
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || len(conflict.Videos) != 1 || conflict.Videos[0] != "video_3" {
		t.Errorf("Apply with a stale job: got %v, want a ConflictError naming video_3", err)
	}
	read(t, s, func(tx store.Tx) error {
		if _, err := tx.VideoByID(ctx, "video_5"); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("the failed Apply inserted its job: %v", err)
		}
		return nil
	})
	stale.Version = 3
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Videos: []tollgate.Video{v5}, VideoUpdates: []tollgate.Video{stale}})
	})
	read(t, s, func(tx store.Tx) error {
		for id, want := range map[string]int64{"video_5": 1, "video_3": 4} {
			v, err := tx.VideoByID(ctx, id)
			if err != nil {
				return err
			}
			if v.Version != want {
				t.Errorf("%s: got version %d, want %d", id, v.Version, want)
			}
		}
		return nil
	})
}

func videoIDs(vs []tollgate.Video) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids
}

// testCameos: cameos by id and by unique handle (deleting one frees its
// handle), an owner's list and count, approvals, uses per day, and the
// earnings a batch writes.
func testCameos(t *testing.T, s store.Store) {
	ctx := t.Context()
	c1 := tollgate.Cameo{ID: "char_1", AccountID: "a", KeyID: "key_1", Kind: tollgate.CameoCharacter, Name: "Captain Lux", Handle: "captain_lux",
		Policy: tollgate.PolicyOwnerOnly, Status: tollgate.CameoActive, Provider: "openai", ProviderID: "ch_up_1", CreatedAt: T0}
	c2 := tollgate.Cameo{ID: "char_2", AccountID: "a", Kind: tollgate.CameoLikeness, Name: "Mira", Handle: "mira", Policy: tollgate.PolicyApproved,
		Status: tollgate.CameoPendingVerification, Fee: 2 * tollgate.MicroPerCredit, DailyLimit: 3, CreatedAt: T0.Add(time.Second)}
	c3 := tollgate.Cameo{ID: "char_3", AccountID: "b", Kind: tollgate.CameoCharacter, Name: "Other", Handle: "other", Policy: tollgate.PolicyAnyone,
		Status: tollgate.CameoActive, CreatedAt: T0}
	write(t, s, func(tx store.Tx) error {
		for _, c := range []tollgate.Cameo{c1, c2, c3} {
			if err := tx.CameoInsert(ctx, c); err != nil {
				return err
			}
		}
		if err := tx.CameoInsert(ctx, c1); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("insert of a taken id: got %v, want conflict", err)
		}
		taken := c3
		taken.ID = "char_4"
		if err := tx.CameoInsert(ctx, taken); !errors.Is(err, tollgate.ErrConflict) {
			t.Errorf("insert of a taken handle: got %v, want conflict", err)
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		if err := byID(t, "CameoByID", func(id string) (tollgate.Cameo, error) { return tx.CameoByID(ctx, id) }, "char_2", c2, "char_9"); err != nil {
			return err
		}
		if err := byID(t, "CameoByHandle", func(h string) (tollgate.Cameo, error) { return tx.CameoByHandle(ctx, h) }, "other", c3, "nobody"); err != nil {
			return err
		}
		for acct, want := range map[string]int{"a": 2, "b": 1, "c": 0} {
			n, err := tx.CameoCount(ctx, acct)
			if err != nil {
				return err
			}
			if n != want {
				t.Errorf("CameoCount(%s) = %d, want %d", acct, n, want)
			}
		}
		got, err := tx.CameoList(ctx, "a", "char_1", 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Cameo{c2}, got); diff != "" {
			t.Errorf("CameoList after char_1 (-want +got):\n%s", diff)
		}
		return nil
	})
	// Deleting frees the handle for another cameo; the row stays.
	deleted := c3
	deleted.Status, deleted.DeletedAt = tollgate.CameoDeleted, &T0
	again := c3
	again.ID, again.AccountID = "char_5", "c"
	write(t, s, func(tx store.Tx) error {
		if err := tx.CameoUpdate(ctx, deleted); err != nil {
			return err
		}
		if err := tx.CameoUpdate(ctx, tollgate.Cameo{ID: "char_9"}); !errors.Is(err, tollgate.ErrNotFound) {
			t.Errorf("update of a missing cameo: got %v, want not_found", err)
		}
		return tx.CameoInsert(ctx, again)
	})
	read(t, s, func(tx store.Tx) error {
		if got, err := tx.CameoByHandle(ctx, "other"); err != nil || got.ID != "char_5" {
			t.Errorf("handle other after the delete: %s %v, want char_5", got.ID, err)
		}
		if got, err := tx.CameoByID(ctx, "char_3"); err != nil || got.Status != tollgate.CameoDeleted {
			t.Errorf("deleted cameo: %+v %v, want it kept as deleted", got, err)
		}
		if n, err := tx.CameoCount(ctx, "b"); err != nil || n != 0 {
			t.Errorf("count of b after its delete: %d %v, want 0", n, err)
		}
		return nil
	})
	// Approvals.
	write(t, s, func(tx store.Tx) error {
		for _, acct := range []string{"y", "x", "z", "x"} {
			if err := tx.CameoApprove(ctx, "char_2", acct, T0); err != nil {
				return err
			}
		}
		if ok, err := tx.CameoRevoke(ctx, "char_2", "z"); err != nil || !ok {
			t.Errorf("revoke z: %v %v, want true", ok, err)
		}
		if ok, err := tx.CameoRevoke(ctx, "char_2", "z"); err != nil || ok {
			t.Errorf("revoke z again: %v %v, want false", ok, err)
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		for acct, want := range map[string]bool{"x": true, "y": true, "z": false, "a": false} {
			if ok, err := tx.CameoApproved(ctx, "char_2", acct); err != nil || ok != want {
				t.Errorf("CameoApproved(char_2, %s) = %v %v, want %v", acct, ok, err, want)
			}
		}
		if n, err := tx.CameoApprovalCount(ctx, "char_2"); err != nil || n != 2 {
			t.Errorf("CameoApprovalCount = %d %v, want 2", n, err)
		}
		got, err := tx.CameoApprovals(ctx, "char_2", "", 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"x", "y"}, got); diff != "" {
			t.Errorf("CameoApprovals (-want +got):\n%s", diff)
		}
		return nil
	})
	// Published videos: put twice keeps the first time, newest first.
	p1 := tollgate.Published{VideoID: "video_1", AccountID: "a", RemixFee: 5, Remixable: true, PublishedAt: T0}
	p2 := tollgate.Published{VideoID: "video_2", AccountID: "b", RemixFee: 0, Remixable: false, PublishedAt: T0.Add(time.Second)}
	write(t, s, func(tx store.Tx) error {
		for _, p := range []tollgate.Published{p1, p2, {VideoID: "video_3", AccountID: "a", PublishedAt: T0}} {
			if err := tx.PublishedPut(ctx, p); err != nil {
				return err
			}
		}
		changed := p1
		changed.RemixFee, changed.Remixable, changed.PublishedAt = 7, false, T0.Add(time.Hour)
		if err := tx.PublishedPut(ctx, changed); err != nil {
			return err
		}
		p1.RemixFee, p1.Remixable = 7, false
		if ok, err := tx.PublishedDelete(ctx, "video_3"); err != nil || !ok {
			t.Errorf("unpublish video_3: %v %v, want true", ok, err)
		}
		if ok, err := tx.PublishedDelete(ctx, "video_3"); err != nil || ok {
			t.Errorf("unpublish video_3 again: %v %v, want false", ok, err)
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		if err := byID(t, "PublishedByID", func(id string) (tollgate.Published, error) { return tx.PublishedByID(ctx, id) }, "video_1", p1, "video_3"); err != nil {
			return err
		}
		got, err := tx.PublishedList(ctx, time.Time{}, "", 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Published{p2, p1}, got); diff != "" {
			t.Errorf("PublishedList (-want +got):\n%s", diff)
		}
		got, err = tx.PublishedList(ctx, p2.PublishedAt, p2.VideoID, 10)
		if err != nil || len(got) != 1 || got[0].VideoID != "video_1" {
			t.Errorf("PublishedList after video_2: %+v %v, want video_1", got, err)
		}
		return nil
	})
	// Payouts, their rates and destinations.
	po := tollgate.Payout{ID: "po_1", AccountID: "a", Credits: 5_000_000, Amount: tollgate.Money{Amount: 150, Currency: "usd"}, RateVersion: 1,
		Status: tollgate.PayoutPending, Drawn: []tollgate.Allocation{{GrantID: "g1", Amount: 5_000_000}}, CreatedAt: T0}
	po2 := po
	po2.ID, po2.Credits = "po_2", 1_000_000
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{Payouts: []tollgate.Payout{po, po2}})
	})
	paid := po
	paid.Status, paid.TransferID, paid.SettledAt = tollgate.PayoutPaid, "tr_1", &T0
	failed := po2
	failed.Status, failed.Failure = tollgate.PayoutFailed, "no"
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{PayoutUpdates: []tollgate.Payout{paid, failed}})
	})
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{PayoutUpdates: []tollgate.Payout{paid}})
	}); !errors.Is(err, tollgate.ErrConflict) {
		t.Errorf("updating a payout no longer pending: got %v, want conflict", err)
	}
	write(t, s, func(tx store.Tx) error {
		for _, r := range []tollgate.PayoutRate{{Currency: "usd", MinorPerCredit: 30, Minimum: 10, EffectiveAt: T0, CreatedAt: T0},
			{Currency: "eur", MinorPerCredit: 28, EffectiveAt: T0, CreatedAt: T0}, {Currency: "usd", MinorPerCredit: 35, EffectiveAt: T0.Add(time.Hour), CreatedAt: T0}} {
			got, err := tx.PayoutRatePut(ctx, r)
			if err != nil {
				return err
			}
			if want := map[int64]int{30: 1, 28: 1, 35: 2}[r.MinorPerCredit]; got.Version != want {
				t.Errorf("rate %d got version %d, want %d", r.MinorPerCredit, got.Version, want)
			}
		}
		if err := tx.DestinationPut(ctx, "a", "acct_1", T0); err != nil {
			return err
		}
		return tx.DestinationPut(ctx, "a", "acct_2", T0)
	})
	read(t, s, func(tx store.Tx) error {
		if err := byID(t, "PayoutByID", func(id string) (tollgate.Payout, error) { return tx.PayoutByID(ctx, id) }, "po_1", paid, "po_9"); err != nil {
			return err
		}
		list, err := tx.PayoutList(ctx, "a", "", 10)
		if err != nil || len(list) != 2 || list[1].Status != tollgate.PayoutFailed {
			t.Errorf("PayoutList: %+v %v", list, err)
		}
		if pend, err := tx.PayoutsPending(ctx, "", 10); err != nil || len(pend) != 0 {
			t.Errorf("PayoutsPending: %+v %v, want none", pend, err)
		}
		tot, err := tx.PayoutTotals(ctx)
		if err != nil || tot["a"] != 5_000_000 {
			t.Errorf("PayoutTotals: %v %v, want a: 5 (the failed one left out)", tot, err)
		}
		rates, err := tx.PayoutRates(ctx)
		if err != nil || len(rates) != 3 || rates[0].Currency != "eur" || rates[2].MinorPerCredit != 35 || rates[2].Version != 2 ||
			!rates[2].EffectiveAt.Equal(T0.Add(time.Hour)) || rates[1].Minimum != 10 {
			t.Errorf("PayoutRates: %+v %v", rates, err)
		}
		if d, err := tx.Destination(ctx, "a"); err != nil || d != "acct_2" {
			t.Errorf("Destination(a) = %q %v, want acct_2", d, err)
		}
		if d, err := tx.Destination(ctx, "b"); err != nil || d != "" {
			t.Errorf("Destination(b) = %q %v, want none", d, err)
		}
		return nil
	})
	// Uses per day and earnings, written by a batch.
	e1 := tollgate.Earning{ID: "earn_1", OwnerID: "a", PayerID: "b", Kind: tollgate.FeeCameo, Subject: "char_2", VideoID: "video_1",
		Gross: 10, Take: 2, Net: 8, CreatedAt: T0}
	e2 := e1
	e2.ID, e2.Kind, e2.Subject, e2.CreatedAt = "earn_2", tollgate.FeeRemix, "video_0", T0.Add(time.Hour)
	write(t, s, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{
			CameoUses: []store.CameoUse{{CameoID: "char_2", Day: "2026-01-02", Delta: 2}, {CameoID: "char_2", Day: "2026-01-02", Delta: -1},
				{CameoID: "char_2", Day: "2026-01-03", Delta: 1}},
			Earnings: []tollgate.Earning{e1, e2},
		})
	})
	read(t, s, func(tx store.Tx) error {
		for day, want := range map[string]int{"2026-01-02": 1, "2026-01-03": 1, "2026-01-04": 0} {
			if n, err := tx.CameoUsesOn(ctx, "char_2", day); err != nil || n != want {
				t.Errorf("CameoUsesOn(%s) = %d %v, want %d", day, n, err, want)
			}
		}
		got, err := tx.EarningList(ctx, record.EarningListParams{OwnerID: "a", From: T0, To: T0.Add(2 * time.Hour), Limit: 10})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]tollgate.Earning{e1, e2}, got); diff != "" {
			t.Errorf("EarningList (-want +got):\n%s", diff)
		}
		got, err = tx.EarningList(ctx, record.EarningListParams{OwnerID: "a", From: T0, To: T0.Add(2 * time.Hour), AfterAt: T0, AfterID: "earn_1", Limit: 10})
		if err != nil || len(got) != 1 || got[0].ID != "earn_2" {
			t.Errorf("EarningList after earn_1: %+v %v, want earn_2", got, err)
		}
		got, err = tx.EarningList(ctx, record.EarningListParams{OwnerID: "b", From: T0, To: T0.Add(2 * time.Hour), Limit: 10})
		if err != nil || len(got) != 0 {
			t.Errorf("EarningList of the payer: %+v %v, want none", got, err)
		}
		return nil
	})
}

// testVideosEnded: the jobs that ended (completed or failed) in a period,
// across accounts, by when they ended then id, paged from the last row
// read; running jobs and jobs that ended outside it are left out.
func testVideosEnded(t *testing.T, s store.Store) {
	ctx := t.Context()
	end := func(v tollgate.Video, st tollgate.VideoStatus, at time.Time) tollgate.Video {
		v.Status, v.CompletedAt, v.Step, v.NextAt = st, &at, tollgate.StepDone, nil
		return v
	}
	vs := []tollgate.Video{video("video_a", "a", T0), video("video_b", "b", T0), video("video_c", "a", T0), video("video_d", "c", T0),
		video("video_e", "a", T0), video("video_f", "b", T0), video("video_g", "c", T0)}
	write(t, s, func(tx store.Tx) error {
		for _, v := range vs {
			if err := tx.VideoInsert(ctx, v); err != nil {
				return err
			}
		}
		for i, e := range []tollgate.Video{
			end(vs[0], tollgate.VideoCompleted, T0.Add(time.Hour)),
			end(vs[1], tollgate.VideoFailed, T0.Add(time.Hour)), // the same instant: by id
			end(vs[2], tollgate.VideoCompleted, T0.Add(2*time.Hour)),
			end(vs[3], tollgate.VideoCompleted, T0.Add(-time.Hour)),   // before the period
			end(vs[4], tollgate.VideoCompleted, T0.Add(24*time.Hour)), // at its end: excluded
		} {
			e.Version = 1
			if err := tx.VideoUpdate(ctx, e); err != nil {
				t.Errorf("end %d: %v", i, err)
			}
		}
		// Ended through the committer's writes, as the ledger ends a job.
		g := end(vs[6], tollgate.VideoCompleted, T0.Add(3*time.Hour))
		g.Version = 1
		if err := tx.Apply(ctx, &store.Writes{VideoUpdates: []tollgate.Video{g}}); err != nil {
			t.Errorf("end through Apply: %v", err)
		}
		return nil // vs[5] still queued
	})
	var got []string
	p := record.VideosEndedParams{To: T0.Add(24 * time.Hour), AfterAt: T0, Limit: 2}
	read(t, s, func(tx store.Tx) error {
		for range 5 {
			page, err := tx.VideosEnded(ctx, p)
			if err != nil {
				return err
			}
			for _, v := range page {
				got = append(got, v.ID)
			}
			if len(page) < p.Limit {
				break
			}
			last := page[len(page)-1]
			p.AfterAt, p.AfterID = *last.CompletedAt, last.ID
		}
		return nil
	})
	if diff := cmp.Diff([]string{"video_a", "video_b", "video_c", "video_g"}, got); diff != "" {
		t.Errorf("videos ended in the period (-want +got):\n%s", diff)
	}
}
