package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

// handleOf is the handle column of c: NULL once deleted, which frees it.
func handleOf(c tollgate.Cameo) any {
	if c.Status == tollgate.CameoDeleted {
		return nil
	}
	return c.Handle
}

func (t *tx) CameoInsert(ctx context.Context, c tollgate.Cameo) error {
	r, err := t.exec(ctx, sqlq.CameoInsert.PG, c.ID, c.AccountID, c.CreatedAt, handleOf(c), store.EncodeCameo(c))
	if err != nil {
		return fmt.Errorf("insert cameo: %w", err)
	}
	if r.RowsAffected() != 1 {
		return fmt.Errorf("insert cameo %s (@%s): %w", c.ID, c.Handle, tollgate.ErrConflict)
	}
	return nil
}

func (t *tx) CameoUpdate(ctx context.Context, c tollgate.Cameo) error {
	r, err := t.exec(ctx, sqlq.CameoUpdate.PG, handleOf(c), store.EncodeCameo(c), c.ID)
	if err != nil {
		return fmt.Errorf("update cameo %s: %w", c.ID, err)
	}
	if r.RowsAffected() != 1 {
		return fmt.Errorf("update cameo %s: %w", c.ID, tollgate.ErrNotFound)
	}
	return nil
}

func (t *tx) cameo(ctx context.Context, query string, arg string) (tollgate.Cameo, error) {
	var doc string
	if err := t.q.QueryRow(ctx, query, arg).Scan(&doc); err != nil {
		return tollgate.Cameo{}, mapErr(err)
	}
	return store.DecodeCameo(doc)
}

func (t *tx) CameoByID(ctx context.Context, id string) (tollgate.Cameo, error) {
	return t.cameo(ctx, sqlq.CameoByID.PG, id)
}

func (t *tx) CameoByHandle(ctx context.Context, handle string) (tollgate.Cameo, error) {
	return t.cameo(ctx, sqlq.CameoByHandle.PG, handle)
}

func (t *tx) tally(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int
	if err := t.q.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", what, mapErr(err))
	}
	return n, nil
}

func (t *tx) CameoCount(ctx context.Context, accountID string) (int, error) {
	return t.tally(ctx, "cameos", sqlq.CameoCount.PG, accountID)
}

func (t *tx) CameoList(ctx context.Context, accountID, after string, limit int) ([]tollgate.Cameo, error) {
	rows, err := t.q.Query(ctx, sqlq.CameoList.PG, accountID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list cameos: %w", err)
	}
	defer rows.Close()
	var out []tollgate.Cameo
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		c, err := store.DecodeCameo(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) CameoApprove(ctx context.Context, cameoID, accountID string, at time.Time) error {
	if _, err := t.exec(ctx, sqlq.CameoApprove.PG, cameoID, accountID, at); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	return nil
}

func (t *tx) CameoRevoke(ctx context.Context, cameoID, accountID string) (bool, error) {
	r, err := t.exec(ctx, sqlq.CameoRevoke.PG, cameoID, accountID)
	if err != nil {
		return false, fmt.Errorf("revoke: %w", err)
	}
	return r.RowsAffected() == 1, nil
}

func (t *tx) CameoApproved(ctx context.Context, cameoID, accountID string) (bool, error) {
	n, err := t.tally(ctx, "approvals", sqlq.CameoApproved.PG, cameoID, accountID)
	return n > 0, err
}

func (t *tx) CameoApprovalCount(ctx context.Context, cameoID string) (int, error) {
	return t.tally(ctx, "approvals", sqlq.CameoApprovalCount.PG, cameoID)
}

func (t *tx) CameoApprovals(ctx context.Context, cameoID, after string, limit int) ([]string, error) {
	rows, err := t.q.Query(ctx, sqlq.CameoApprovals.PG, cameoID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *tx) CameoUsesOn(ctx context.Context, cameoID, day string) (int, error) {
	var n int
	err := t.q.QueryRow(ctx, sqlq.CameoUsesOn.PG, cameoID, day).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read uses: %w", err)
	}
	return n, nil
}

// applyCameos writes a batch's changes to cameos' uses and its earnings.
func (t *tx) applyCameos(ctx context.Context, w *store.Writes) error {
	for _, u := range w.CameoUses {
		if _, err := t.exec(ctx, sqlq.CameoUsesAdd.PG, u.CameoID, u.Day, u.Delta); err != nil {
			return fmt.Errorf("count uses of %s: %w", u.CameoID, err)
		}
	}
	for _, c := range w.Counters {
		for _, q := range []struct {
			sql    string
			bucket time.Time
		}{{sqlq.CounterAdd.PG, record.CounterBucket(c.Bucket)}, {sqlq.CounterAddDaily.PG, c.Bucket.UTC().Truncate(24 * time.Hour)}} {
			if _, err := t.exec(ctx, q.sql, c.Board, c.Subject, q.bucket.Unix(), c.OwnerID, c.Uses, int64(c.Gross), int64(c.Take), int64(c.Net)); err != nil {
				return fmt.Errorf("count %s %s: %w", c.Board, c.Subject, err)
			}
		}
	}
	for _, p := range w.Payouts {
		if _, err := t.exec(ctx, sqlq.PayoutInsert.PG, p.ID, p.AccountID, string(p.Status), p.CreatedAt, store.EncodePayout(p)); err != nil {
			return fmt.Errorf("insert payout: %w", err)
		}
	}
	for _, p := range w.PayoutUpdates {
		r, err := t.exec(ctx, sqlq.PayoutUpdate.PG, string(p.Status), store.EncodePayout(p), p.ID, string(tollgate.PayoutPending))
		if err != nil {
			return fmt.Errorf("update payout %s: %w", p.ID, err)
		}
		if n := r.RowsAffected(); n != 1 {
			return fmt.Errorf("update payout %s: it is no longer pending: %w", p.ID, tollgate.ErrConflict)
		}
	}
	for _, e := range w.Earnings {
		if _, err := t.exec(ctx, sqlq.EarningInsert.PG, e.ID, e.OwnerID, e.PayerID, string(e.Kind), e.Subject, e.VideoID,
			int64(e.Gross), int64(e.Take), int64(e.Net), e.CreatedAt); err != nil {
			return fmt.Errorf("insert earning: %w", err)
		}
	}
	return nil
}

func (t *tx) EarningList(ctx context.Context, p record.EarningListParams) ([]tollgate.Earning, error) {
	rows, err := t.q.Query(ctx, sqlq.EarningList.PG, p.OwnerID, p.From, p.To, p.AfterAt, p.AfterAt, p.AfterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list earnings: %w", err)
	}
	defer rows.Close()
	var out []tollgate.Earning
	for rows.Next() {
		var e tollgate.Earning
		var kind string
		var gross, take, net int64
		if err := rows.Scan(&e.ID, &e.OwnerID, &e.PayerID, &kind, &e.Subject, &e.VideoID, &gross, &take, &net, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.Kind, e.Gross, e.Take, e.Net, e.CreatedAt = tollgate.FeeKind(kind), tollgate.Credits(gross), tollgate.Credits(take), tollgate.Credits(net), e.CreatedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) EarningTotals(ctx context.Context) ([]record.EarningTotal, error) {
	rows, err := t.q.Query(ctx, sqlq.EarningTotals.PG)
	if err != nil {
		return nil, fmt.Errorf("sum earnings: %w", err)
	}
	defer rows.Close()
	var out []record.EarningTotal
	for rows.Next() {
		var e record.EarningTotal
		var gross, take, net int64
		if err := rows.Scan(&e.OwnerID, &e.N, &gross, &take, &net, &e.Bad); err != nil {
			return nil, err
		}
		e.Gross, e.Take, e.Net = tollgate.Credits(gross), tollgate.Credits(take), tollgate.Credits(net)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) PublishedPut(ctx context.Context, p tollgate.Published) error {
	if _, err := t.exec(ctx, sqlq.PublishedPut.PG, p.VideoID, p.AccountID, int64(p.RemixFee), p.Remixable, p.PublishedAt); err != nil {
		return fmt.Errorf("publish %s: %w", p.VideoID, err)
	}
	return nil
}

func (t *tx) PublishedDelete(ctx context.Context, videoID string) (bool, error) {
	r, err := t.exec(ctx, sqlq.PublishedDelete.PG, videoID)
	if err != nil {
		return false, fmt.Errorf("unpublish %s: %w", videoID, err)
	}
	return r.RowsAffected() == 1, nil
}

// scanPublished reads a published_videos row.
func scanPublished(r interface{ Scan(...any) error }) (tollgate.Published, error) {
	var p tollgate.Published
	var fee int64
	if err := r.Scan(&p.VideoID, &p.AccountID, &fee, &p.Remixable, &p.PublishedAt); err != nil {
		return p, err
	}
	p.RemixFee, p.PublishedAt = tollgate.Credits(fee), p.PublishedAt.UTC()
	return p, nil
}

func (t *tx) PublishedByID(ctx context.Context, videoID string) (tollgate.Published, error) {
	p, err := scanPublished(t.q.QueryRow(ctx, sqlq.PublishedByID.PG, videoID))
	if err != nil {
		return p, mapErr(err)
	}
	return p, nil
}

func (t *tx) PublishedList(ctx context.Context, beforeAt time.Time, beforeID string, limit int) ([]tollgate.Published, error) {
	var at any = beforeAt
	if beforeAt.IsZero() {
		at = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	rows, err := t.q.Query(ctx, sqlq.PublishedList.PG, at, at, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list published videos: %w", err)
	}
	defer rows.Close()
	var out []tollgate.Published
	for rows.Next() {
		p, err := scanPublished(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// scanCounters reads counters: board, subject and bucket when bucketed,
// else subject and owner (sums), then uses, gross, take, net.
func scanCounters(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}, board string, bucketed bool) ([]record.Counter, error) {
	var out []record.Counter
	for rows.Next() {
		c := record.Counter{Board: board}
		var gross, take, net, bucket int64
		var err error
		if bucketed {
			err = rows.Scan(&c.Board, &c.Subject, &bucket, &c.Uses, &gross, &take, &net)
			c.Bucket = time.Unix(bucket, 0).UTC()
		} else {
			err = rows.Scan(&c.Subject, &c.OwnerID, &c.Uses, &gross, &take, &net)
		}
		if err != nil {
			return nil, err
		}
		c.Gross, c.Take, c.Net = tollgate.Credits(gross), tollgate.Credits(take), tollgate.Credits(net)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) CounterTop(ctx context.Context, board string, from, to time.Time, by string, offset, limit int) ([]record.Counter, error) {
	q := sqlq.CounterTopUses.PG
	if by == "net" {
		q = sqlq.CounterTopNet.PG
	}
	d := record.CounterDays(from, to)
	rows, err := t.q.Query(ctx, q, board, d.DaysFrom.Unix(), d.DaysTo.Unix(), board, d.From.Unix(), d.EdgeTo.Unix(), d.EdgeFrom.Unix(), d.To.Unix(), limit, offset)
	if err != nil {
		return nil, fmt.Errorf("sum counters: %w", err)
	}
	defer rows.Close()
	return scanCounters(rows, board, false)
}

func (t *tx) CounterOwner(ctx context.Context, ownerID string, from, to time.Time) ([]record.Counter, error) {
	rows, err := t.q.Query(ctx, sqlq.CounterOwner.PG, ownerID, record.CounterBucket(from).Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	defer rows.Close()
	out, err := scanCounters(rows, "", true)
	for i := range out {
		out[i].OwnerID = ownerID
	}
	return out, err
}

func (t *tx) OptInSet(ctx context.Context, accountID string, in bool, at time.Time) error {
	var err error
	if in {
		_, err = t.exec(ctx, sqlq.OptInPut.PG, accountID, at)
	} else {
		_, err = t.exec(ctx, sqlq.OptInDelete.PG, accountID)
	}
	if err != nil {
		return fmt.Errorf("leaderboard opt-in: %w", err)
	}
	return nil
}

func (t *tx) OptedIn(ctx context.Context, accountID string) (bool, error) {
	n, err := t.tally(ctx, "opt-ins", sqlq.OptInGet.PG, accountID)
	return n > 0, err
}

func (t *tx) payouts(ctx context.Context, query string, args ...any) ([]tollgate.Payout, error) {
	rows, err := t.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list payouts: %w", err)
	}
	defer rows.Close()
	var out []tollgate.Payout
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		p, err := store.DecodePayout(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *tx) PayoutByID(ctx context.Context, id string) (tollgate.Payout, error) {
	var doc string
	if err := t.q.QueryRow(ctx, sqlq.PayoutByID.PG, id).Scan(&doc); err != nil {
		return tollgate.Payout{}, mapErr(err)
	}
	return store.DecodePayout(doc)
}

func (t *tx) PayoutList(ctx context.Context, accountID, after string, limit int) ([]tollgate.Payout, error) {
	return t.payouts(ctx, sqlq.PayoutList.PG, accountID, after, limit)
}

func (t *tx) PayoutsPending(ctx context.Context, after string, limit int) ([]tollgate.Payout, error) {
	return t.payouts(ctx, sqlq.PayoutPending.PG, after, limit)
}

func (t *tx) PayoutTotals(ctx context.Context) (map[string]tollgate.Credits, error) {
	rows, err := t.q.Query(ctx, sqlq.PayoutTotals.PG)
	if err != nil {
		return nil, fmt.Errorf("sum payouts: %w", err)
	}
	defer rows.Close()
	out := map[string]tollgate.Credits{}
	for rows.Next() {
		var acct, doc string
		if err := rows.Scan(&acct, &doc); err != nil {
			return nil, err
		}
		p, err := store.DecodePayout(doc)
		if err != nil {
			return nil, err
		}
		out[acct] += p.Credits
	}
	return out, rows.Err()
}

func (t *tx) PayoutRatePut(ctx context.Context, r tollgate.PayoutRate) (tollgate.PayoutRate, error) {
	if _, err := t.exec(ctx, sqlq.PayoutRatePut.PG, r.Currency, r.MinorPerCredit, int64(r.Minimum), r.EffectiveAt, r.CreatedAt, r.Currency); err != nil {
		return r, fmt.Errorf("add payout rate: %w", err)
	}
	rs, err := t.PayoutRates(ctx)
	if err != nil {
		return r, err
	}
	for _, x := range rs {
		if x.Currency == r.Currency && x.Version > r.Version {
			r.Version = x.Version
		}
	}
	return r, nil
}

func (t *tx) PayoutRates(ctx context.Context) ([]tollgate.PayoutRate, error) {
	rows, err := t.q.Query(ctx, sqlq.PayoutRateList.PG)
	if err != nil {
		return nil, fmt.Errorf("list payout rates: %w", err)
	}
	defer rows.Close()
	var out []tollgate.PayoutRate
	for rows.Next() {
		var r tollgate.PayoutRate
		var minimum int64
		if err := rows.Scan(&r.Currency, &r.Version, &r.MinorPerCredit, &minimum, &r.EffectiveAt, &r.CreatedAt); err != nil {
			return nil, err
		}
		r.Minimum, r.EffectiveAt, r.CreatedAt = tollgate.Credits(minimum), r.EffectiveAt.UTC(), r.CreatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *tx) DestinationPut(ctx context.Context, accountID, stripeAccount string, at time.Time) error {
	if _, err := t.exec(ctx, sqlq.DestinationPut.PG, accountID, stripeAccount, at); err != nil {
		return fmt.Errorf("set payout destination: %w", err)
	}
	return nil
}

func (t *tx) Destination(ctx context.Context, accountID string) (string, error) {
	var d string
	err := t.q.QueryRow(ctx, sqlq.DestinationGet.PG, accountID).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read payout destination: %w", err)
	}
	return d, nil
}
