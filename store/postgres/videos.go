package postgres

import (
	"context"
	"fmt"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

func scanVideo(r row) (tollgate.Video, error) {
	var version int64
	var doc string
	if err := r.Scan(&version, &doc); err != nil {
		return tollgate.Video{}, mapErr(err)
	}
	return store.DecodeVideo(doc, version)
}

func (t *tx) VideoInsert(ctx context.Context, v tollgate.Video) error {
	r, err := t.exec(ctx, sqlq.VideoInsert.PG, v.ID, v.AccountID, string(v.Status), v.NextAt, v.DeletedAt,
		store.EncodeVideo(v))
	if err != nil {
		return fmt.Errorf("insert video: %w", err)
	}
	if r.RowsAffected() != 1 {
		return fmt.Errorf("insert video %s: %w", v.ID, tollgate.ErrConflict)
	}
	return nil
}

func (t *tx) VideoByID(ctx context.Context, id string) (tollgate.Video, error) {
	return scanVideo(t.q.QueryRow(ctx, sqlq.VideoByID.PG, id))
}

func (t *tx) VideoList(ctx context.Context, p record.VideoListParams) ([]tollgate.Video, error) {
	q, after := sqlq.VideoListAsc.PG, p.After
	if p.Desc {
		q = sqlq.VideoListDesc.PG
		if after == "" {
			after = "~"
		}
	}
	vs, err := query(ctx, t, scanVideo, q, p.AccountID, p.Deleted, after, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list videos: %w", err)
	}
	return vs, nil
}

func (t *tx) VideoUpdate(ctx context.Context, v tollgate.Video) error {
	r, err := t.exec(ctx, sqlq.VideoUpdate.PG, string(v.Status), v.NextAt, v.DeletedAt, store.VideoEnded(v), store.EncodeVideo(v), v.ID, v.Version)
	if err != nil {
		return fmt.Errorf("update video %s: %w", v.ID, err)
	}
	if r.RowsAffected() == 1 {
		return nil
	}
	if _, err := t.VideoByID(ctx, v.ID); err != nil {
		return fmt.Errorf("update video %s: %w", v.ID, err)
	}
	return fmt.Errorf("update video %s: written since version %d: %w", v.ID, v.Version, tollgate.ErrConflict)
}

func (t *tx) VideosEnded(ctx context.Context, p record.VideosEndedParams) ([]tollgate.Video, error) {
	vs, err := query(ctx, t, scanVideo, sqlq.VideosEnded.PG, p.To, p.AfterAt, p.AfterAt, p.AfterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("videos ended: %w", err)
	}
	return vs, nil
}

func (t *tx) VideosDue(ctx context.Context, now time.Time, limit int) ([]tollgate.Video, error) {
	vs, err := query(ctx, t, scanVideo, sqlq.VideosDue.PG, now, limit)
	if err != nil {
		return nil, fmt.Errorf("videos due: %w", err)
	}
	return vs, nil
}
