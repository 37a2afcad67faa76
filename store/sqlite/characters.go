package sqlite

import (
	"context"
	"fmt"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
)

func (t *tx) CharacterInsert(ctx context.Context, c tollgate.Character) error {
	r, err := t.exec(ctx, sqlq.CharacterInsert.Lite, c.ID, c.AccountID, micros(c.CreatedAt), store.EncodeCharacter(c))
	if err != nil {
		return fmt.Errorf("insert character: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("insert character %s: %w", c.ID, tollgate.ErrConflict)
	}
	return nil
}

func (t *tx) CharacterByID(ctx context.Context, id string) (tollgate.Character, error) {
	var doc string
	if err := t.q.QueryRowContext(ctx, sqlq.CharacterByID.Lite, id).Scan(&doc); err != nil {
		return tollgate.Character{}, mapErr(err)
	}
	return store.DecodeCharacter(doc)
}

func (t *tx) CharacterCount(ctx context.Context, accountID string) (int, error) {
	var n int
	if err := t.q.QueryRowContext(ctx, sqlq.CharacterCount.Lite, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count characters: %w", mapErr(err))
	}
	return n, nil
}
