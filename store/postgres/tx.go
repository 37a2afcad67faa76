package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

type tx struct {
	q     pgx.Tx
	write bool
	// batch and xid are the batch id Apply wrote and the transaction's
	// id, for BatchStatus after a lost COMMIT answer.
	batch, xid int64
}

var _ store.Tx = (*tx)(nil)

var errReadOnly = errors.New("postgres: write in a read transaction")

type row interface{ Scan(...any) error }

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !t.write {
		return pgconn.CommandTag{}, errReadOnly
	}
	ct, err := t.q.Exec(ctx, sql, args...)
	return ct, mapErr(err)
}

// query runs sql and scans every row with scan.
func query[T any](ctx context.Context, t *tx, scan func(row) (T, error), sql string, args ...any) ([]T, error) {
	return scanAll(scan)(t.q.Query(ctx, sql, args...))
}

// scanAll returns a function that scans every row of a result with scan.
func scanAll[T any](scan func(row) (T, error)) func(pgx.Rows, error) ([]T, error) {
	return func(rows pgx.Rows, err error) ([]T, error) {
		if err != nil {
			return nil, mapErr(err)
		}
		return collectRows(rows, scan)
	}
}

func collectRows[T any](rows pgx.Rows, scan func(row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

// --- accounts

func scanAccount(r row) (tollgate.Account, error) {
	var a tollgate.Account
	err := r.Scan(&a.ID, &a.Name, &a.Plan, &a.Timezone, &a.Status, &a.CreatedAt, &a.LowBalance, &a.PendingHolds, &a.TimezoneFrom,
		&a.PlanBefore, &a.PlanFrom, &a.Currency)
	a.CreatedAt, a.TimezoneFrom, a.PlanFrom = a.CreatedAt.UTC(), utc(a.TimezoneFrom), utc(a.PlanFrom)
	return a, mapErr(err)
}

func (t *tx) AccountInsert(ctx context.Context, a tollgate.Account) error {
	_, err := t.exec(ctx, `INSERT INTO accounts (`+sqlq.AccountCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.ID, a.Name, a.Plan, a.Timezone, string(a.Status), a.CreatedAt, int64(a.LowBalance), a.PendingHolds, a.TimezoneFrom,
		a.PlanBefore, a.PlanFrom, a.Currency)
	if err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	return nil
}

func (t *tx) AccountUpdate(ctx context.Context, a tollgate.Account) error {
	ct, err := t.exec(ctx, sqlq.AccountUpdate.PG,
		a.Name, a.Plan, a.Timezone, string(a.Status), int64(a.LowBalance), a.TimezoneFrom, a.PlanBefore, a.PlanFrom, a.Currency, a.ID)
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	if ct.RowsAffected() == 0 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) AccountByID(ctx context.Context, id string) (tollgate.Account, error) {
	return scanAccount(t.q.QueryRow(ctx, sqlq.AccountByID.PG, id))
}

// AccountsLock locks the rows FOR UPDATE, in id order so that instances
// locking overlapping sets wait rather than deadlock. In a read transaction
// it only reads: a snapshot has nothing to lock.
func (t *tx) AccountsLock(ctx context.Context, ids []string) ([]tollgate.Account, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q := accountsLockSQL
	if t.write {
		q += ` FOR UPDATE`
	}
	as, err := query(ctx, t, scanAccount, q, ids)
	if err != nil {
		return nil, fmt.Errorf("lock accounts: %w", err)
	}
	return as, nil
}

func (t *tx) AccountList(ctx context.Context, p store.AccountListParams) ([]tollgate.Account, error) {
	as, err := query(ctx, t, scanAccount, sqlq.AccountList.PG,
		p.After, limit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return as, nil
}

// --- keys

func scanKey(r row) (tollgate.APIKey, error) {
	var k tollgate.APIKey
	var scopes, products, limits string
	err := r.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt,
		&scopes, &products, &k.ExpiresAt, &limits)
	if err != nil {
		return k, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt, k.LastUsedAt, k.ExpiresAt = k.CreatedAt.UTC(), utc(k.RevokedAt), utc(k.LastUsedAt), utc(k.ExpiresAt)
	k.Scopes, k.Products = store.SplitScopes(scopes), store.SplitProducts(products)
	k.Limits, err = store.DecodeLimits(limits)
	return k, err
}

func (t *tx) APIKeyInsert(ctx context.Context, k tollgate.APIKey) error {
	_, err := t.exec(ctx, `INSERT INTO api_keys (id, account_id, name, prefix, hash, created_at, scopes, products, expires_at, limits)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.AccountID, k.Name, k.Prefix, k.Hash, k.CreatedAt, store.JoinScopes(k.Scopes), store.JoinProducts(k.Products),
		tsz(k.ExpiresAt), store.EncodeLimits(k.Limits))
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

func (t *tx) APIKeyByHash(ctx context.Context, hash []byte) (tollgate.APIKey, error) {
	return scanKey(t.q.QueryRow(ctx, sqlq.APIKeyByHash.PG, hash))
}

func (t *tx) APIKeyAdminExists(ctx context.Context) (bool, error) {
	var ok bool
	err := t.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE account_id = '' AND revoked_at IS NULL)`).Scan(&ok)
	return ok, mapErr(err)
}

func (t *tx) APIKeyList(ctx context.Context, accountID string) ([]tollgate.APIKey, error) {
	ks, err := query(ctx, t, scanKey, sqlq.APIKeyList.PG, accountID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return ks, nil
}

func (t *tx) APIKeyRevoke(ctx context.Context, accountID, id string, at time.Time) (tollgate.APIKey, error) {
	if _, err := t.exec(ctx, sqlq.APIKeyRevoke.PG,
		at, id, accountID); err != nil {
		return tollgate.APIKey{}, fmt.Errorf("revoke key: %w", err)
	}
	return scanKey(t.q.QueryRow(ctx, sqlq.APIKeyByIDOfAccount.PG, id, accountID))
}

func (t *tx) APIKeyTouch(ctx context.Context, id string, at time.Time) error {
	if _, err := t.exec(ctx, sqlq.APIKeyTouch.PG, at, id); err != nil {
		return fmt.Errorf("touch key: %w", err)
	}
	return nil
}

// --- plans

func (t *tx) PlanVersionInsert(ctx context.Context, v tollgate.PlanVersion) error {
	_, err := t.exec(ctx, `INSERT INTO plan_versions (plan, version, effective_at, allowances, created_at, limits) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.Plan, v.Version, v.EffectiveAt, store.EncodeAllowances(v.Allowances), v.CreatedAt, store.EncodeLimits(v.Limits))
	if err != nil {
		return fmt.Errorf("insert plan version: %w", err)
	}
	return nil
}

func (t *tx) PlanVersionList(ctx context.Context) ([]tollgate.PlanVersion, error) {
	vs, err := query(ctx, t, scanPlanVersion, sqlq.PlanVersions.PG)
	if err != nil {
		return nil, fmt.Errorf("list plan versions: %w", err)
	}
	return vs, nil
}

func scanPlanVersion(r row) (tollgate.PlanVersion, error) {
	var v tollgate.PlanVersion
	var allow, limits string
	if err := r.Scan(&v.Plan, &v.Version, &v.EffectiveAt, &allow, &v.CreatedAt, &limits); err != nil {
		return v, err
	}
	v.EffectiveAt, v.CreatedAt = v.EffectiveAt.UTC(), v.CreatedAt.UTC()
	var err error
	if v.Allowances, err = store.DecodeAllowances(allow); err != nil {
		return v, err
	}
	v.Limits, err = store.DecodeLimits(limits)
	return v, err
}

// --- grants

func scanGrant(r row) (tollgate.Grant, error) {
	var g tollgate.Grant
	var products string
	err := r.Scan(&g.ID, &g.AccountID, &g.Source, &g.Amount, &g.Remaining, &products, &g.Priority,
		&g.EffectiveAt, &g.ExpiresAt, &g.ExpiredAt, &g.ExternalRef, &g.CreatedAt, &g.RefundOwed, &g.Frozen, &g.Held)
	g.Products = store.SplitProducts(products)
	g.EffectiveAt, g.CreatedAt = g.EffectiveAt.UTC(), g.CreatedAt.UTC()
	g.ExpiresAt, g.ExpiredAt = utc(g.ExpiresAt), utc(g.ExpiredAt)
	return g, mapErr(err)
}

func (t *tx) GrantsOpen(ctx context.Context, accountIDs []string) ([]tollgate.Grant, error) {
	if len(accountIDs) == 0 {
		return nil, nil
	}
	gs, err := query(ctx, t, scanGrant, grantsOpenSQL, accountIDs)
	if err != nil {
		return nil, fmt.Errorf("open grants: %w", err)
	}
	return gs, nil
}

func (t *tx) GrantsByID(ctx context.Context, ids []string) ([]tollgate.Grant, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	gs, err := query(ctx, t, scanGrant, `SELECT `+sqlq.GrantCols+` FROM grants WHERE id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("grants by id: %w", err)
	}
	return gs, nil
}

func (t *tx) GrantList(ctx context.Context, p store.GrantListParams) ([]tollgate.Grant, error) {
	q := `SELECT ` + sqlq.GrantCols + ` FROM grants WHERE id > $1`
	args := []any{p.After}
	if p.AccountID != "" {
		args = append(args, p.AccountID)
		q += fmt.Sprintf(` AND account_id = $%d`, len(args))
	}
	if p.Source != "" {
		args = append(args, string(p.Source))
		q += fmt.Sprintf(` AND source = $%d`, len(args))
	}
	if p.Open != nil {
		args = append(args, p.Now)
		open := fmt.Sprintf(`(expired_at IS NULL AND (expires_at IS NULL OR expires_at > $%d))`, len(args))
		if !*p.Open {
			open = `NOT ` + open
		}
		q += ` AND ` + open
	}
	args = append(args, limit(p.Limit))
	gs, err := query(ctx, t, scanGrant, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return gs, nil
}

func (t *tx) GrantsDue(ctx context.Context, now time.Time, n int) ([]string, error) {
	ids, err := query(ctx, t, scanString, sqlq.GrantsDue.PG, now, limit(n))
	if err != nil {
		return nil, fmt.Errorf("grants due: %w", err)
	}
	return ids, nil
}

func scanString(r row) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// --- holds

func scanHold(r row) (tollgate.Hold, error) {
	var h tollgate.Hold
	var alloc, meta string
	if err := r.Scan(&h.ID, &h.AccountID, &h.Product, &h.Amount, &h.Captured, &h.Status, &alloc, &meta,
		&h.QuoteID, &h.CreatedAt, &h.ExpiresAt, &h.SettledAt, &h.KeyID); err != nil {
		return h, mapErr(err)
	}
	h.CreatedAt, h.ExpiresAt, h.SettledAt = h.CreatedAt.UTC(), h.ExpiresAt.UTC(), utc(h.SettledAt)
	var err error
	if h.Allocations, err = store.DecodeAllocations(alloc); err != nil {
		return h, err
	}
	h.Metadata, err = store.DecodeMetadata(meta)
	return h, err
}

func (t *tx) HoldsByID(ctx context.Context, ids []string) ([]tollgate.Hold, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	hs, err := query(ctx, t, scanHold, holdsByIDSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("holds by id: %w", err)
	}
	return hs, nil
}

func (t *tx) HoldsByQuote(ctx context.Context, quoteIDs []string) ([]tollgate.Hold, error) {
	if len(quoteIDs) == 0 {
		return nil, nil
	}
	hs, err := query(ctx, t, scanHold, `SELECT `+sqlq.HoldCols+` FROM holds WHERE quote_id = ANY($1) AND quote_id <> '' ORDER BY id`, quoteIDs)
	if err != nil {
		return nil, fmt.Errorf("holds by quote: %w", err)
	}
	return hs, nil
}

func (t *tx) HoldsPending(ctx context.Context, accountIDs []string, dueBy time.Time) ([]tollgate.Hold, error) {
	if len(accountIDs) == 0 {
		return nil, nil
	}
	q := `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE status = 'pending' AND account_id = ANY($1)`
	args := []any{accountIDs}
	if !dueBy.IsZero() {
		q += ` AND expires_at <= $2`
		args = append(args, dueBy)
	}
	hs, err := query(ctx, t, scanHold, q+` ORDER BY account_id, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("pending holds: %w", err)
	}
	return hs, nil
}

func (t *tx) HoldsDue(ctx context.Context, now time.Time, n int) ([]string, error) {
	ids, err := query(ctx, t, scanString, sqlq.HoldsDue.PG, now, limit(n))
	if err != nil {
		return nil, fmt.Errorf("holds due: %w", err)
	}
	return ids, nil
}

func (t *tx) HoldList(ctx context.Context, p store.HoldListParams) ([]tollgate.Hold, error) {
	q := `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE id > $1`
	args := []any{p.After}
	if p.AccountID != "" {
		args = append(args, p.AccountID)
		q += fmt.Sprintf(` AND account_id = $%d`, len(args))
	}
	switch {
	case p.Status == tollgate.HoldPending && !p.Now.IsZero():
		args = append(args, p.Now)
		q += fmt.Sprintf(` AND status = 'pending' AND expires_at > $%d`, len(args))
	case p.Status == tollgate.HoldExpired && !p.Now.IsZero():
		args = append(args, p.Now)
		q += fmt.Sprintf(` AND (status = 'expired' OR (status = 'pending' AND expires_at <= $%d))`, len(args))
	case p.Status != "":
		args = append(args, string(p.Status))
		q += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	if p.Product != "" {
		args = append(args, string(p.Product))
		q += fmt.Sprintf(` AND product = $%d`, len(args))
	}
	if !p.CreatedFrom.IsZero() {
		args = append(args, p.CreatedFrom)
		q += fmt.Sprintf(` AND created_at >= $%d`, len(args))
	}
	if !p.CreatedTo.IsZero() {
		args = append(args, p.CreatedTo)
		q += fmt.Sprintf(` AND created_at < $%d`, len(args))
	}
	args = append(args, limit(p.Limit))
	hs, err := query(ctx, t, scanHold, q+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	return hs, nil
}

// --- journal

const entryCols = `id, txn_id, kind, account_id, book, grant_id, hold_id, amount, created_at`

func (t *tx) EntryList(ctx context.Context, p store.EntryListParams) ([]tollgate.Entry, error) {
	es, err := query(ctx, t, func(r row) (tollgate.Entry, error) {
		var e tollgate.Entry
		err := r.Scan(&e.ID, &e.TxnID, &e.Kind, &e.AccountID, &e.Book, &e.GrantID, &e.HoldID, &e.Amount, &e.CreatedAt)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	}, `SELECT `+entryCols+` FROM entries WHERE account_id = $1 AND id > $2
		AND ($4 = '' OR kind = $4) AND ($5 = '' OR book = $5) AND ($6 = '' OR grant_id = $6)
		AND ($7 = '' OR hold_id = $7) AND ($8 = '' OR txn_id = $8)
		AND ($9::timestamptz IS NULL OR created_at >= $9) AND ($10::timestamptz IS NULL OR created_at < $10)
		ORDER BY id LIMIT $3`,
		p.AccountID, p.After, limit(p.Limit), string(p.Kind), string(p.Book), p.GrantID, p.HoldID, p.TxnID,
		optTime(p.CreatedFrom), optTime(p.CreatedTo))
	if err != nil {
		return nil, fmt.Errorf("list entries: %w", err)
	}
	return es, nil
}

func (t *tx) EntryTotals(ctx context.Context) ([]store.EntryTotal, error) {
	// sum(bigint) is numeric; the cast fails loudly on overflow.
	ts, err := query(ctx, t, func(r row) (store.EntryTotal, error) {
		var e store.EntryTotal
		err := r.Scan(&e.AccountID, &e.Book, &e.GrantID, &e.Sum)
		return e, err
	}, `SELECT account_id, book, grant_id, sum(amount)::bigint FROM entries
		GROUP BY account_id, book, grant_id ORDER BY account_id, book, grant_id`)
	if err != nil {
		return nil, fmt.Errorf("entry totals: %w", err)
	}
	return ts, nil
}

func (t *tx) TxnsUnbalanced(ctx context.Context) ([]store.TxnSum, error) {
	ss, err := query(ctx, t, func(r row) (store.TxnSum, error) {
		var s store.TxnSum
		err := r.Scan(&s.TxnID, &s.Sum)
		return s, err
	}, `SELECT txn_id, sum(amount)::bigint FROM entries GROUP BY txn_id HAVING sum(amount) <> 0 ORDER BY txn_id`)
	if err != nil {
		return nil, fmt.Errorf("unbalanced transactions: %w", err)
	}
	return ss, nil
}

// --- quotes

func (t *tx) QuoteInsert(ctx context.Context, q tollgate.Quote) error {
	_, err := t.exec(ctx, sqlq.QuoteInsert.PG,
		q.ID, q.AccountID, string(q.Product), int64(q.Credits), q.Details, q.CreatedAt, q.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert quote: %w", err)
	}
	return nil
}

func (t *tx) QuoteByID(ctx context.Context, id string) (tollgate.Quote, error) {
	var q tollgate.Quote
	var product string
	var credits int64
	err := t.q.QueryRow(ctx, sqlq.QuoteByID.PG, id).
		Scan(&q.ID, &q.AccountID, &product, &credits, &q.Details, &q.CreatedAt, &q.ExpiresAt)
	q.Product, q.Credits = tollgate.Product(product), tollgate.Credits(credits)
	q.CreatedAt, q.ExpiresAt = q.CreatedAt.UTC(), q.ExpiresAt.UTC()
	return q, mapErr(err)
}

// --- idempotency

func (t *tx) IdempotencyByKey(ctx context.Context, scope, key string) (record.Idempotency, error) {
	i := record.Idempotency{Scope: scope, Key: key}
	err := t.q.QueryRow(ctx, `SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = $1 AND key = $2`,
		scope, key).Scan(&i.RequestHash, &i.Status, &i.Body, &i.CreatedAt)
	i.CreatedAt = i.CreatedAt.UTC()
	// Empty reads as nil, as on SQLite.
	if len(i.RequestHash) == 0 {
		i.RequestHash = nil
	}
	if len(i.Body) == 0 {
		i.Body = nil
	}
	return i, mapErr(err)
}

// idempotencyLockKey is the first key of the advisory locks on idempotency
// keys; the second is a hash of the scope and key.
const idempotencyLockKey = 0x69646d70 // "idmp"

func (t *tx) IdempotencyLock(ctx context.Context, scope, key string) error {
	_, err := t.exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || ' ' || $3))`, int32(idempotencyLockKey), scope, key)
	if err != nil {
		return fmt.Errorf("lock idempotency key: %w", err)
	}
	return nil
}

func (t *tx) IdempotencyPurge(ctx context.Context, before time.Time) (int64, error) {
	ct, err := t.exec(ctx, sqlq.IdempotencyPurge.PG, before)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency: %w", err)
	}
	return ct.RowsAffected(), nil
}

func (t *tx) BatchPurge(ctx context.Context, before time.Time) (int64, error) {
	ct, err := t.exec(ctx, `DELETE FROM batches WHERE id < $1`, store.BatchIDBefore(before))
	if err != nil {
		return 0, fmt.Errorf("purge batches: %w", err)
	}
	return ct.RowsAffected(), nil
}

// --- bulk writes

const grantUpdateSQL = `UPDATE grants g SET remaining = u.remaining, refund_owed = u.refund_owed, expired_at = coalesce(u.expired_at, g.expired_at),
	frozen = u.frozen, amount = coalesce(nullif(u.amount, 0), g.amount), held = u.held
	FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::boolean[], $6::bigint[], $7::bigint[])
		AS u(id, remaining, refund_owed, expired_at, frozen, amount, held)
	WHERE g.id = u.id`

const accountPendingSQL = `UPDATE accounts a SET pending_holds = u.n
	FROM unnest($1::text[], $2::int[]) AS u(id, n) WHERE a.id = u.id`

const holdUpdateSQL = `UPDATE holds h SET status = u.status, captured = u.captured, settled_at = u.settled_at
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) AS u(id, status, captured, settled_at)
	WHERE h.id = u.id`

// Rows that may meet a unique key another transaction took are inserted
// with ON CONFLICT DO NOTHING RETURNING, so Apply learns which were skipped
// without aborting the transaction.
const (
	batchInsertSQL = `INSERT INTO batches (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING pg_current_xact_id()::text`
	grantInsertSQL = `INSERT INTO grants (` + sqlq.GrantCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::int[],
		$8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::timestamptz[], $13::bigint[], $14::boolean[], $15::bigint[])
	ON CONFLICT DO NOTHING RETURNING id`
	holdInsertSQL        = plainHoldInsertSQL + ` ON CONFLICT DO NOTHING RETURNING id`
	idempotencyInsertSQL = `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::bytea[], $6::timestamptz[])
	ON CONFLICT DO NOTHING RETURNING scope, key`
)

// Apply writes holds without a quote and journal entries with COPY, then
// sends everything else in one round trip: the batch id, the grants, the
// holds with a quote (whose unique keys another transaction may have taken
// meanwhile), the updates (one statement per table) and the idempotency
// records. An update of a missing row, or two updates of one row, fail with
// tollgate.ErrNotFound; rows skipped for a taken key, with a
// *store.ConflictError.
func (t *tx) Apply(ctx context.Context, w *store.Writes) error {
	if !t.write {
		return errReadOnly
	}
	if err := w.Check(); err != nil {
		return err
	}
	var quoted, plain []*tollgate.Hold
	for i := range w.Holds {
		if w.Holds[i].QuoteID != "" {
			quoted = append(quoted, &w.Holds[i])
		} else {
			plain = append(plain, &w.Holds[i])
		}
	}
	// Everything goes in one batch, one round trip; the answers are read
	// in this order by sendApply.
	var b pgx.Batch
	if w.Batch != 0 {
		b.Queue(batchInsertSQL, w.Batch)
	}
	if len(plain) > 0 {
		b.Queue(plainHoldInsertSQL, holdArrays(plain)...)
	}
	if len(w.Entries) > 0 {
		b.Queue(entryInsertSQL, entryArrays(w.Entries)...)
	}
	if n := len(w.Grants); n > 0 {
		c := newColumns(15, n)
		for _, g := range w.Grants {
			c.add(g.ID, g.AccountID, string(g.Source), int64(g.Amount), int64(g.Remaining), store.JoinProducts(g.Products),
				int32(g.Priority), tsz(&g.EffectiveAt), tsz(g.ExpiresAt), tsz(g.ExpiredAt), g.ExternalRef, tsz(&g.CreatedAt), int64(g.RefundOwed),
				g.Frozen, int64(g.Held))
		}
		b.Queue(grantInsertSQL, c.args()...)
	}
	if len(quoted) > 0 {
		b.Queue(holdInsertSQL, holdArrays(quoted)...)
	}
	queueUpdates(&b, w.GrantUpdates, w.HoldUpdates)
	if n := len(w.AccountPending); n > 0 {
		ids, counts := make([]string, n), make([]int32, n)
		for i, a := range w.AccountPending {
			ids[i], counts[i] = a.ID, int32(a.N)
		}
		b.Queue(accountPendingSQL, ids, counts)
	}
	if n := len(w.Idempotency); n > 0 {
		c := newColumns(6, n)
		for _, k := range w.Idempotency {
			c.add(k.Scope, k.Key, nonNil(k.RequestHash), int32(k.Status), nonNil(k.Body), tsz(&k.CreatedAt))
		}
		b.Queue(idempotencyInsertSQL, c.args()...)
	}
	if len(w.Videos) > 0 {
		b.Queue(videoInsertSQL, videoArrays(w.Videos)[:7]...)
	}
	if len(w.VideoUpdates) > 0 {
		b.Queue(videoUpdateSQL, videoArrays(w.VideoUpdates)...)
	}
	if b.Len() > 0 {
		if err := t.sendApply(ctx, &b, w, plain, quoted); err != nil {
			return err
		}
	}
	for _, u := range w.OrderUpdates {
		if err := t.orderUpdate(ctx, u); err != nil {
			return err
		}
	}
	for _, e := range w.Events {
		if err := t.EventEnqueue(ctx, e); err != nil {
			return err
		}
	}
	if len(w.Audit) > 0 {
		if err := t.AuditAppend(ctx, w.Audit); err != nil {
			return err
		}
	}
	if err := t.applyCameos(ctx, w); err != nil {
		return err
	}
	return nil
}

// Holds without a quote meet no unique key but their id, and entries none:
// they are inserted plainly.
const (
	plainHoldInsertSQL = `INSERT INTO holds (` + sqlq.HoldCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::text[])`
	entryInsertSQL = `INSERT INTO entries (txn_id, kind, account_id, book, grant_id, hold_id, amount, created_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[])`
)

// Video jobs, inserted and updated in the writes' batch; an update checks
// the version it was read at.
const (
	videoInsertSQL = `INSERT INTO videos (id, account_id, status, next_at, deleted_at, version, doc)
	SELECT u.id, u.account_id, u.status, u.next_at, u.deleted_at, 1, u.doc
	FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::bigint[])
		AS u(id, account_id, status, next_at, deleted_at, doc, version)
	ON CONFLICT (id) DO NOTHING RETURNING id`
	videoUpdateSQL = `UPDATE videos v SET status = u.status, next_at = u.next_at, deleted_at = u.deleted_at, ended_at = u.ended_at,
		version = v.version + 1, doc = u.doc
	FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::bigint[], $8::timestamptz[])
		AS u(id, account_id, status, next_at, deleted_at, doc, version, ended_at)
	WHERE v.id = u.id AND v.version = u.version RETURNING v.id`
)

// videoArrays returns the jobs as one array per column of videoUpdateSQL
// (the version is the one an update checks); videoInsertSQL takes the
// first seven (a job is never made ended).
func videoArrays(vs []tollgate.Video) []any {
	n := len(vs)
	id, acct, status, doc := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	next, deleted, ended, version := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]int64, n)
	for i := range vs {
		v := &vs[i]
		id[i], acct[i], status[i], doc[i] = v.ID, v.AccountID, string(v.Status), store.EncodeVideo(*v)
		next[i], deleted[i], ended[i], version[i] = tsz(v.NextAt), tsz(v.DeletedAt), tsz(store.VideoEnded(*v)), v.Version
	}
	return []any{id, acct, status, next, deleted, doc, version, ended}
}

// holdArrays returns the holds as one array per column of HoldCols.
func holdArrays(hs []*tollgate.Hold) []any {
	n := len(hs)
	id, acct, product, status, alloc, meta, quote, key := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, captured := make([]int64, n), make([]int64, n)
	created, expires, settled := make([]time.Time, n), make([]time.Time, n), make([]pgtype.Timestamptz, n)
	for i, h := range hs {
		id[i], acct[i], product[i], status[i] = h.ID, h.AccountID, string(h.Product), string(h.Status)
		alloc[i], meta[i], quote[i], key[i] = store.EncodeAllocations(h.Allocations), store.EncodeMetadata(h.Metadata), h.QuoteID, h.KeyID
		amount[i], captured[i] = int64(h.Amount), int64(h.Captured)
		created[i], expires[i], settled[i] = h.CreatedAt, h.ExpiresAt, tsz(h.SettledAt)
	}
	return []any{id, acct, product, amount, captured, status, alloc, meta, quote, created, expires, settled, key}
}

// entryArrays returns the entries as one array per column of entryInsertSQL.
func entryArrays(es []tollgate.Entry) []any {
	n := len(es)
	txn, kind, acct, book, grant, hold := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	amount, at := make([]int64, n), make([]time.Time, n)
	for i := range es {
		e := &es[i]
		txn[i], kind[i], acct[i], book[i], grant[i], hold[i] = e.TxnID, string(e.Kind), e.AccountID, string(e.Book), e.GrantID, e.HoldID
		amount[i], at[i] = int64(e.Amount), e.CreatedAt
	}
	return []any{txn, kind, acct, book, grant, hold, amount, at}
}

// sendApply sends what Apply queued and reads the answers in order.
func (t *tx) sendApply(ctx context.Context, b *pgx.Batch, w *store.Writes, plain, quoted []*tollgate.Hold) error {
	br := t.q.SendBatch(ctx, b)
	var conflict store.ConflictError
	var stale []string // video updates that changed no row
	err := func() error {
		if w.Batch != 0 {
			xids, err := returned(br, scanString)
			if err != nil {
				return fmt.Errorf("insert batch: %w", err)
			}
			if len(xids) == 0 {
				conflict.Batch = true
			} else {
				t.batch = w.Batch
				t.xid, _ = strconv.ParseInt(xids[0], 10, 64)
			}
		}
		if len(plain) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("insert holds: %w", mapErr(err))
			}
		}
		if len(w.Entries) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("insert entries: %w", mapErr(err))
			}
		}
		if len(w.Grants) > 0 {
			ids, err := returned(br, scanString)
			if err != nil {
				return fmt.Errorf("insert grants: %w", err)
			}
			conflict.Grants = missing(ids, len(w.Grants), func(i int) string { return w.Grants[i].ID })
		}
		if len(quoted) > 0 {
			ids, err := returned(br, scanString)
			if err != nil {
				return fmt.Errorf("insert holds: %w", err)
			}
			conflict.Holds = missing(ids, len(quoted), func(i int) string { return quoted[i].ID })
		}
		if err := checkUpdate(br, "grants", len(w.GrantUpdates)); err != nil {
			return err
		}
		if err := checkUpdate(br, "holds", len(w.HoldUpdates)); err != nil {
			return err
		}
		if err := checkUpdate(br, "accounts", len(w.AccountPending)); err != nil {
			return err
		}
		if len(w.Idempotency) > 0 {
			keys, err := returned(br, func(r row) (store.IdempotencyKey, error) {
				var k store.IdempotencyKey
				return k, r.Scan(&k.Scope, &k.Key)
			})
			if err != nil {
				return fmt.Errorf("insert idempotency: %w", err)
			}
			got := map[store.IdempotencyKey]bool{}
			for _, k := range keys {
				got[k] = true
			}
			for _, r := range w.Idempotency {
				if k := (store.IdempotencyKey{Scope: r.Scope, Key: r.Key}); !got[k] {
					conflict.Idempotency = append(conflict.Idempotency, k)
				}
			}
		}
		if len(w.Videos) > 0 {
			ids, err := returned(br, scanString)
			if err != nil {
				return fmt.Errorf("insert videos: %w", err)
			}
			if m := missing(ids, len(w.Videos), func(i int) string { return w.Videos[i].ID }); len(m) > 0 {
				return fmt.Errorf("insert video %s: %w", m[0], tollgate.ErrConflict)
			}
		}
		if len(w.VideoUpdates) > 0 {
			ids, err := returned(br, scanString)
			if err != nil {
				return fmt.Errorf("update videos: %w", err)
			}
			stale = missing(ids, len(w.VideoUpdates), func(i int) string { return w.VideoUpdates[i].ID })
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("apply: %w", mapErr(cerr))
	}
	if err != nil {
		return err
	}
	// A video update that changed nothing met a job written since its
	// version, or one that does not exist.
	for _, id := range stale {
		if _, err := t.VideoByID(ctx, id); err != nil {
			return fmt.Errorf("update video %s: %w", id, err)
		}
		conflict.Videos = append(conflict.Videos, id)
	}
	if conflict.Batch || len(conflict.Grants) > 0 || len(conflict.Holds) > 0 || len(conflict.Idempotency) > 0 || len(conflict.Videos) > 0 {
		return &conflict
	}
	return nil
}

// returned reads the rows a queued statement returned.
func returned[T any](br pgx.BatchResults, scan func(row) (T, error)) ([]T, error) {
	return scanAll(scan)(br.Query())
}

// missing returns the ids, of the n that id gives, not in got.
func missing(got []string, n int, id func(i int) string) []string {
	if len(got) == n {
		return nil
	}
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	var out []string
	for i := range n {
		if !have[id(i)] {
			out = append(out, id(i))
		}
	}
	return out
}

// columns gathers rows as one slice per column, for unnest.
type columns struct{ cols [][]any }

func newColumns(n, rows int) *columns {
	c := &columns{cols: make([][]any, n)}
	for i := range c.cols {
		c.cols[i] = make([]any, 0, rows)
	}
	return c
}

func (c *columns) add(vals ...any) {
	for i, v := range vals {
		c.cols[i] = append(c.cols[i], v)
	}
}

// args returns each column as a typed slice pgx encodes as an array.
func (c *columns) args() []any {
	out := make([]any, len(c.cols))
	for i, col := range c.cols {
		out[i] = typed(col)
	}
	return out
}

func typed(col []any) any {
	switch col[0].(type) {
	case string:
		return convert[string](col)
	case int64:
		return convert[int64](col)
	case int32:
		return convert[int32](col)
	case []byte:
		return convert[[]byte](col)
	case pgtype.Timestamptz:
		return convert[pgtype.Timestamptz](col)
	case bool:
		return convert[bool](col)
	}
	panic(fmt.Sprintf("postgres: no array type for %T", col[0]))
}

func convert[T any](col []any) []T {
	out := make([]T, len(col))
	for i, v := range col {
		out[i] = v.(T)
	}
	return out
}

func queueUpdates(b *pgx.Batch, gus []store.GrantUpdate, hus []store.HoldUpdate) {
	if len(gus) > 0 {
		ids, remaining, owed, expired := make([]string, len(gus)), make([]int64, len(gus)), make([]int64, len(gus)), make([]pgtype.Timestamptz, len(gus))
		frozen, amount, held := make([]bool, len(gus)), make([]int64, len(gus)), make([]int64, len(gus))
		for i, u := range gus {
			ids[i], remaining[i], owed[i], expired[i], frozen[i] = u.ID, int64(u.Remaining), int64(u.RefundOwed), tsz(u.ExpiredAt), u.Frozen
			amount[i], held[i] = int64(u.Amount), int64(u.Held)
		}
		b.Queue(grantUpdateSQL, ids, remaining, owed, expired, frozen, amount, held)
	}
	if len(hus) > 0 {
		ids, status, captured, settled := make([]string, len(hus)), make([]string, len(hus)), make([]int64, len(hus)), make([]pgtype.Timestamptz, len(hus))
		for i, u := range hus {
			ids[i], status[i], captured[i], settled[i] = u.ID, string(u.Status), int64(u.Captured), tsz(u.SettledAt)
		}
		b.Queue(holdUpdateSQL, ids, status, captured, settled)
	}
}

// checkUpdate reads the result of an update of n rows of table, if queued.
func checkUpdate(br pgx.BatchResults, table string, n int) error {
	if n == 0 {
		return nil
	}
	ct, err := br.Exec()
	if err != nil {
		return fmt.Errorf("update %s: %w", table, mapErr(err))
	}
	if got := ct.RowsAffected(); got != int64(n) {
		return fmt.Errorf("update %s: %d of %d rows: %w", table, got, n, tollgate.ErrNotFound)
	}
	return nil
}

// nonNil returns b, empty rather than nil: nil would be NULL and break NOT
// NULL, as it does on SQLite.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *tx) HoldsPendingCount(ctx context.Context, accountIDs []string) ([]store.PendingCount, error) {
	cs, err := query(ctx, t, func(r row) (store.PendingCount, error) {
		var c store.PendingCount
		err := r.Scan(&c.AccountID, &c.KeyID, &c.N)
		return c, err
	}, `SELECT account_id, key_id, count(*) FROM holds WHERE status = 'pending' AND account_id = ANY($1)
		GROUP BY account_id, key_id ORDER BY account_id, key_id`, accountIDs)
	if err != nil {
		return nil, fmt.Errorf("count pending holds: %w", err)
	}
	return cs, nil
}

const (
	accountsLockSQL = `SELECT ` + sqlq.AccountCols + ` FROM accounts WHERE id = ANY($1) ORDER BY id`
	grantsOpenSQL   = `SELECT ` + sqlq.GrantCols + ` FROM grants
		WHERE account_id = ANY($1) AND expired_at IS NULL
		AND (remaining > 0 OR source = 'allowance') ORDER BY account_id, id`
	holdsByIDSQL  = `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE id = ANY($1) ORDER BY id`
	holdsDueBySQL = `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE status = 'pending' AND account_id = ANY($1)
		AND expires_at <= $2 ORDER BY account_id, id`
)

// LockAccounts sends the lock and the reads as one batch: one round trip.
// They run in order, so the reads see the accounts' state once locked.
func (t *tx) LockAccounts(ctx context.Context, q store.LockQuery) (l store.Locked, err error) {
	if len(q.AccountIDs) == 0 && len(q.Holds) == 0 && !q.Plans {
		return l, nil
	}
	var b pgx.Batch
	lock := accountsLockSQL
	if t.write {
		lock += ` FOR UPDATE`
	}
	b.Queue(lock, q.AccountIDs)
	b.Queue(grantsOpenSQL, q.AccountIDs)
	b.Queue(holdsDueBySQL, q.AccountIDs, q.DueBy)
	if len(q.Holds) > 0 {
		b.Queue(holdsByIDSQL, q.Holds)
	}
	if q.Plans {
		b.Queue(sqlq.PlanVersions.PG)
	}
	br := t.q.SendBatch(ctx, &b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = mapErr(cerr)
		}
	}()
	if l.Accounts, err = scanAll(scanAccount)(br.Query()); err != nil {
		return l, fmt.Errorf("lock accounts: %w", err)
	}
	if l.Grants, err = scanAll(scanGrant)(br.Query()); err != nil {
		return l, fmt.Errorf("open grants: %w", err)
	}
	if l.Overdue, err = scanAll(scanHold)(br.Query()); err != nil {
		return l, fmt.Errorf("pending holds: %w", err)
	}
	if len(q.Holds) > 0 {
		if l.Holds, err = scanAll(scanHold)(br.Query()); err != nil {
			return l, fmt.Errorf("holds by id: %w", err)
		}
	}
	if q.Plans {
		if l.Plans, err = scanAll(scanPlanVersion)(br.Query()); err != nil {
			return l, fmt.Errorf("list plan versions: %w", err)
		}
	}
	return l, nil
}

// AccountState sends its four reads as one batch: one round trip.
func (t *tx) AccountState(ctx context.Context, accountID string, dueBy time.Time) (st store.AccountState, err error) {
	var b pgx.Batch
	b.Queue(sqlq.AccountByID.PG, accountID)
	b.Queue(sqlq.GrantsOpenOrHeld.PG, accountID)
	b.Queue(sqlq.HoldsOverdue.PG, accountID, dueBy)
	b.Queue(sqlq.PlanVersions.PG)
	br := t.q.SendBatch(ctx, &b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = mapErr(cerr)
		}
	}()
	if st.Account, err = scanAccount(br.QueryRow()); err != nil {
		return st, err
	}
	if st.Grants, err = scanAll(scanGrant)(br.Query()); err != nil {
		return st, fmt.Errorf("grants: %w", err)
	}
	if st.Overdue, err = scanAll(scanHold)(br.Query()); err != nil {
		return st, fmt.Errorf("overdue holds: %w", err)
	}
	if st.Plans, err = scanAll(scanPlanVersion)(br.Query()); err != nil {
		return st, fmt.Errorf("list plan versions: %w", err)
	}
	return st, nil
}
