package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

func scanVideo(r interface{ Scan(...any) error }) (tollgate.Video, error) {
	var version int64
	var doc string
	if err := r.Scan(&version, &doc); err != nil {
		return tollgate.Video{}, mapErr(err)
	}
	return store.DecodeVideo(doc, version)
}

func videoNext(v *tollgate.Video) any { return nullMicros(v.NextAt) }

func (t *tx) VideoInsert(ctx context.Context, v tollgate.Video) error {
	r, err := t.exec(ctx, sqlq.VideoInsert.Lite, v.ID, v.AccountID, string(v.Status), videoNext(&v), nullMicros(v.DeletedAt),
		store.EncodeVideo(v))
	if err != nil {
		return fmt.Errorf("insert video: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("insert video %s: %w", v.ID, tollgate.ErrConflict)
	}
	return nil
}

func (t *tx) VideoByID(ctx context.Context, id string) (tollgate.Video, error) {
	return scanVideo(t.q.QueryRowContext(ctx, sqlq.VideoByID.Lite, id))
}

func (t *tx) VideoList(ctx context.Context, p record.VideoListParams) ([]tollgate.Video, error) {
	q, after := sqlq.VideoListAsc.Lite, p.After
	if p.Desc {
		q = sqlq.VideoListDesc.Lite
		if after == "" {
			after = "~"
		}
	}
	rows, err := t.q.QueryContext(ctx, q, p.AccountID, p.Deleted, after, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list videos: %w", mapErr(err))
	}
	return collect(rows, scanVideo)
}

func (t *tx) VideoUpdate(ctx context.Context, v tollgate.Video) error {
	r, err := t.exec(ctx, sqlq.VideoUpdate.Lite, string(v.Status), videoNext(&v), nullMicros(v.DeletedAt), nullMicros(store.VideoEnded(v)), store.EncodeVideo(v), v.ID, v.Version)
	if err != nil {
		return fmt.Errorf("update video %s: %w", v.ID, err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := t.VideoByID(ctx, v.ID); err != nil {
		return fmt.Errorf("update video %s: %w", v.ID, err)
	}
	return fmt.Errorf("update video %s: written since version %d: %w", v.ID, v.Version, tollgate.ErrConflict)
}

func (t *tx) VideosEnded(ctx context.Context, p record.VideosEndedParams) ([]tollgate.Video, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.VideosEnded.Lite, micros(p.To), micros(p.AfterAt), micros(p.AfterAt), p.AfterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("videos ended: %w", mapErr(err))
	}
	return collect(rows, scanVideo)
}

func (t *tx) VideosDue(ctx context.Context, now time.Time, limit int) ([]tollgate.Video, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.VideosDue.Lite, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("videos due: %w", mapErr(err))
	}
	return collect(rows, scanVideo)
}

// applyVideos writes a batch's video jobs: inserts, then updates that
// check their version, naming in conflict those written since.
func (t *tx) applyVideos(ctx context.Context, w *store.Writes, conflict *store.ConflictError) error {
	n, _, err := t.insertRows(ctx, insertVideos, ` ON CONFLICT (id) DO NOTHING`, 7, len(w.Videos), func(i int, a []any) []any {
		v := &w.Videos[i]
		return append(a, v.ID, v.AccountID, string(v.Status), videoNext(v), nullMicros(v.DeletedAt), 1, store.EncodeVideo(*v))
	})
	if err != nil {
		return fmt.Errorf("insert videos: %w", err)
	}
	if n != int64(len(w.Videos)) {
		return fmt.Errorf("insert videos: %d of %d were new: %w", n, len(w.Videos), tollgate.ErrConflict)
	}
	for _, v := range w.VideoUpdates {
		err := t.VideoUpdate(ctx, v)
		switch {
		case err == nil:
		case errors.Is(err, tollgate.ErrConflict):
			conflict.Videos = append(conflict.Videos, v.ID)
		default:
			return err
		}
	}
	return nil
}
