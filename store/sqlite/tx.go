package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/internal/sqlq"
	"tollgate/store/record"
)

type tx struct {
	db    *DB
	q     *sql.Tx
	write bool
}

var _ store.Tx = (*tx)(nil)

var errReadOnly = errors.New("sqlite: write in a read transaction")

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !t.write {
		return nil, errReadOnly
	}
	if s := t.db.stmt(ctx, t.q, query); s != nil { //nolint:sqlclosecheck // bound to the transaction, closed by database/sql when it ends
		r, err := s.ExecContext(ctx, args...)
		return r, mapErr(err)
	}
	r, err := t.q.ExecContext(ctx, query, args...)
	return r, mapErr(err)
}

// query runs a SELECT, prepared once when it is one of the hot statements.
func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.write { // hot statements live on the writer connection
		if s := t.db.stmt(ctx, t.q, query); s != nil { //nolint:sqlclosecheck // bound to the transaction, closed by database/sql when it ends
			return s.QueryContext(ctx, args...)
		}
	}
	return t.q.QueryContext(ctx, query, args...)
}

// count runs a SELECT of one integer, prepared once when it is one of the
// hot statements.
func (t *tx) count(ctx context.Context, query string, args ...any) (int64, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	defer func() { _ = rows.Close() }()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, mapErr(err)
		}
	}
	return n, mapErr(rows.Err())
}

// Whether a batch id is taken, by the batches table or a journal row.
const (
	qBatchTaken     = `SELECT count(*) FROM batches WHERE id = ?`
	qBatchJournaled = `SELECT count(*) FROM journal WHERE batch = ?`
)

// inIDs is an id list bound as one JSON parameter, so the statement text
// stays the same whatever the number of ids and is prepared once.
const inIDs = `(SELECT value FROM json_each(?))`

func idList(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// --- accounts

func scanAccount(row interface{ Scan(...any) error }) (tollgate.Account, error) {
	var a tollgate.Account
	var created int64
	var tzFrom, planFrom sql.NullInt64
	err := row.Scan(&a.ID, &a.Name, &a.Plan, &a.Timezone, &a.Status, &created, &a.LowBalance, &a.PendingHolds, &tzFrom, &a.PlanBefore, &planFrom,
		&a.Currency)
	a.CreatedAt, a.TimezoneFrom, a.PlanFrom = fromMicros(created), fromNullMicros(tzFrom), fromNullMicros(planFrom)
	return a, mapErr(err)
}

func (t *tx) AccountInsert(ctx context.Context, a tollgate.Account) error {
	_, err := t.exec(ctx, `INSERT INTO accounts (`+sqlq.AccountCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Name, a.Plan, a.Timezone, string(a.Status), micros(a.CreatedAt), int64(a.LowBalance), a.PendingHolds, nullMicros(a.TimezoneFrom),
		a.PlanBefore, nullMicros(a.PlanFrom), a.Currency)
	if err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	return nil
}

func (t *tx) AccountUpdate(ctx context.Context, a tollgate.Account) error {
	r, err := t.exec(ctx, sqlq.AccountUpdate.Lite,
		a.Name, a.Plan, a.Timezone, string(a.Status), int64(a.LowBalance), nullMicros(a.TimezoneFrom), a.PlanBefore, nullMicros(a.PlanFrom), a.Currency, a.ID)
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return tollgate.ErrNotFound
	}
	return nil
}

func (t *tx) AccountByID(ctx context.Context, id string) (tollgate.Account, error) {
	return scanAccount(t.q.QueryRowContext(ctx, sqlq.AccountByID.Lite, id))
}

func (t *tx) AccountsLock(ctx context.Context, ids []string) ([]tollgate.Account, error) {
	// The one writer connection holds the database lock: no row lock needed.
	rows, err := t.query(ctx, qAccountsLock, idList(ids))
	if err != nil {
		return nil, fmt.Errorf("lock accounts: %w", err)
	}
	return collect(rows, scanAccount)
}

func (t *tx) AccountList(ctx context.Context, p store.AccountListParams) ([]tollgate.Account, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.AccountList.Lite, p.After, limit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return collect(rows, scanAccount)
}

func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) (_ []T, err error) {
	defer closeRows(rows, &err)
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

// closeRows closes rows, joining the error of Close, if any, to *err: to be
// deferred by a function with a named error result. *err is left as it is
// when Close succeeds, so sentinel errors keep their identity.
func closeRows(rows *sql.Rows, err *error) {
	cerr := rows.Close()
	switch {
	case cerr == nil:
	case *err == nil:
		*err = mapErr(cerr)
	default:
		*err = errors.Join(*err, cerr)
	}
}

func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// --- keys

func scanKey(r interface{ Scan(...any) error }) (tollgate.APIKey, error) {
	var k tollgate.APIKey
	var created int64
	var revoked, used, expires sql.NullInt64
	var scopes, products, limits string
	err := r.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Hash, &created, &revoked, &used, &scopes, &products, &expires, &limits)
	if err != nil {
		return k, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt, k.LastUsedAt, k.ExpiresAt = fromMicros(created), fromNullMicros(revoked), fromNullMicros(used), fromNullMicros(expires)
	k.Scopes, k.Products = store.SplitScopes(scopes), store.SplitProducts(products)
	k.Limits, err = store.DecodeLimits(limits)
	return k, err
}

func (t *tx) APIKeyInsert(ctx context.Context, k tollgate.APIKey) error {
	_, err := t.exec(ctx, `INSERT INTO api_keys (id, account_id, name, prefix, hash, created_at, scopes, products, expires_at, limits)
		VALUES (?,?,?,?,?,?,?,?,?,?)`,
		k.ID, k.AccountID, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt), store.JoinScopes(k.Scopes), store.JoinProducts(k.Products),
		nullMicros(k.ExpiresAt), store.EncodeLimits(k.Limits))
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

func (t *tx) APIKeyByHash(ctx context.Context, hash []byte) (tollgate.APIKey, error) {
	return scanKey(t.q.QueryRowContext(ctx, sqlq.APIKeyByHash.Lite, hash))
}

func (t *tx) APIKeyAdminExists(ctx context.Context) (bool, error) {
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE account_id = '' AND revoked_at IS NULL`).Scan(&n)
	return n > 0, mapErr(err)
}

func (t *tx) APIKeyList(ctx context.Context, accountID string) ([]tollgate.APIKey, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.APIKeyList.Lite, accountID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return collect(rows, scanKey)
}

func (t *tx) APIKeyRevoke(ctx context.Context, accountID, id string, at time.Time) (tollgate.APIKey, error) {
	if _, err := t.exec(ctx, sqlq.APIKeyRevoke.Lite,
		micros(at), id, accountID); err != nil {
		return tollgate.APIKey{}, fmt.Errorf("revoke key: %w", err)
	}
	return scanKey(t.q.QueryRowContext(ctx, sqlq.APIKeyByIDOfAccount.Lite, id, accountID))
}

func (t *tx) APIKeyTouch(ctx context.Context, id string, at time.Time) error {
	if _, err := t.exec(ctx, sqlq.APIKeyTouch.Lite, micros(at), id); err != nil {
		return fmt.Errorf("touch key: %w", err)
	}
	return nil
}

// --- plans

func (t *tx) PlanVersionInsert(ctx context.Context, v tollgate.PlanVersion) error {
	_, err := t.exec(ctx, `INSERT INTO plan_versions (plan, version, effective_at, allowances, created_at, limits) VALUES (?,?,?,?,?,?)`,
		v.Plan, v.Version, micros(v.EffectiveAt), store.EncodeAllowances(v.Allowances), micros(v.CreatedAt), store.EncodeLimits(v.Limits))
	if err != nil {
		return fmt.Errorf("insert plan version: %w", err)
	}
	return nil
}

func (t *tx) PlanVersionList(ctx context.Context) ([]tollgate.PlanVersion, error) {
	rows, err := t.query(ctx, sqlq.PlanVersions.Lite)
	if err != nil {
		return nil, fmt.Errorf("list plan versions: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (tollgate.PlanVersion, error) {
		var v tollgate.PlanVersion
		var eff, created int64
		var allow, limits string
		if err := r.Scan(&v.Plan, &v.Version, &eff, &allow, &created, &limits); err != nil {
			return v, err
		}
		v.EffectiveAt, v.CreatedAt = fromMicros(eff), fromMicros(created)
		var err error
		if v.Allowances, err = store.DecodeAllowances(allow); err != nil {
			return v, err
		}
		v.Limits, err = store.DecodeLimits(limits)
		return v, err
	})
}

// --- grants

func scanGrant(r interface{ Scan(...any) error }) (tollgate.Grant, error) {
	var g tollgate.Grant
	var products string
	var eff, created int64
	var expires, expired sql.NullInt64
	err := r.Scan(&g.ID, &g.AccountID, &g.Source, &g.Amount, &g.Remaining, &products, &g.Priority,
		&eff, &expires, &expired, &g.ExternalRef, &created, &g.RefundOwed, &g.Frozen, &g.Held)
	g.Products = store.SplitProducts(products)
	g.EffectiveAt, g.CreatedAt = fromMicros(eff), fromMicros(created)
	g.ExpiresAt, g.ExpiredAt = fromNullMicros(expires), fromNullMicros(expired)
	return g, mapErr(err)
}

func (t *tx) GrantsOpen(ctx context.Context, accountIDs []string) ([]tollgate.Grant, error) {
	rows, err := t.query(ctx, qGrantsOpen, idList(accountIDs))
	if err != nil {
		return nil, fmt.Errorf("open grants: %w", err)
	}
	return collect(rows, scanGrant)
}

func (t *tx) GrantsByID(ctx context.Context, ids []string) ([]tollgate.Grant, error) {
	rows, err := t.query(ctx, qGrantsByID, idList(ids))
	if err != nil {
		return nil, fmt.Errorf("grants by id: %w", err)
	}
	return collect(rows, scanGrant)
}

func (t *tx) GrantList(ctx context.Context, p store.GrantListParams) ([]tollgate.Grant, error) {
	q := `SELECT ` + sqlq.GrantCols + ` FROM grants WHERE id > ?`
	args := []any{p.After}
	if p.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, p.AccountID)
	}
	if p.Source != "" {
		q += ` AND source = ?`
		args = append(args, string(p.Source))
	}
	if p.Open != nil {
		open := `(expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?))`
		if !*p.Open {
			open = `NOT ` + open
		}
		q += ` AND ` + open
		args = append(args, micros(p.Now))
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return collect(rows, scanGrant)
}

func (t *tx) GrantsDue(ctx context.Context, now time.Time, n int) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.GrantsDue.Lite, micros(now), limit(n))
	if err != nil {
		return nil, fmt.Errorf("grants due: %w", err)
	}
	return collect(rows, scanString)
}

func scanString(r interface{ Scan(...any) error }) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// --- holds

func scanHold(r interface{ Scan(...any) error }) (tollgate.Hold, error) {
	var h tollgate.Hold
	var alloc, meta string
	var created, expires int64
	var settled sql.NullInt64
	if err := r.Scan(&h.ID, &h.AccountID, &h.Product, &h.Amount, &h.Captured, &h.Status, &alloc, &meta,
		&h.QuoteID, &created, &expires, &settled, &h.KeyID); err != nil {
		return h, mapErr(err)
	}
	h.CreatedAt, h.ExpiresAt, h.SettledAt = fromMicros(created), fromMicros(expires), fromNullMicros(settled)
	var err error
	if h.Allocations, err = store.DecodeAllocations(alloc); err != nil {
		return h, err
	}
	h.Metadata, err = store.DecodeMetadata(meta)
	return h, err
}

func (t *tx) HoldsByID(ctx context.Context, ids []string) ([]tollgate.Hold, error) {
	rows, err := t.query(ctx, qHoldsByID, idList(ids))
	if err != nil {
		return nil, fmt.Errorf("holds by id: %w", err)
	}
	return collect(rows, scanHold)
}

func (t *tx) HoldsByQuote(ctx context.Context, quoteIDs []string) ([]tollgate.Hold, error) {
	rows, err := t.query(ctx, qHoldsByQuote, idList(quoteIDs))
	if err != nil {
		return nil, fmt.Errorf("holds by quote: %w", err)
	}
	return collect(rows, scanHold)
}

func (t *tx) HoldsPending(ctx context.Context, accountIDs []string, dueBy time.Time) ([]tollgate.Hold, error) {
	due := int64(1 << 62)
	if !dueBy.IsZero() {
		due = micros(dueBy)
	}
	rows, err := t.query(ctx, qHoldsPending, idList(accountIDs), due)
	if err != nil {
		return nil, fmt.Errorf("pending holds: %w", err)
	}
	return collect(rows, scanHold)
}

func (t *tx) HoldsDue(ctx context.Context, now time.Time, n int) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, sqlq.HoldsDue.Lite, micros(now), limit(n))
	if err != nil {
		return nil, fmt.Errorf("holds due: %w", err)
	}
	return collect(rows, scanString)
}

func (t *tx) HoldList(ctx context.Context, p store.HoldListParams) ([]tollgate.Hold, error) {
	q := `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE id > ?`
	args := []any{p.After}
	if p.AccountID != "" {
		q += ` AND account_id = ?`
		args = append(args, p.AccountID)
	}
	switch {
	case p.Status == tollgate.HoldPending && !p.Now.IsZero():
		q += ` AND status = 'pending' AND expires_at > ?`
		args = append(args, micros(p.Now))
	case p.Status == tollgate.HoldExpired && !p.Now.IsZero():
		q += ` AND (status = 'expired' OR (status = 'pending' AND expires_at <= ?))`
		args = append(args, micros(p.Now))
	case p.Status != "":
		q += ` AND status = ?`
		args = append(args, string(p.Status))
	}
	if p.Product != "" {
		q += ` AND product = ?`
		args = append(args, string(p.Product))
	}
	if !p.CreatedFrom.IsZero() {
		q += ` AND created_at >= ?`
		args = append(args, micros(p.CreatedFrom))
	}
	if !p.CreatedTo.IsZero() {
		q += ` AND created_at < ?`
		args = append(args, micros(p.CreatedTo))
	}
	rows, err := t.q.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	return collect(rows, scanHold)
}

// --- journal

// linesPerRow caps the entries packed in one journal row; entry ids leave
// room for that many per row.
const linesPerRow = 1024

// encodeLines packs entries as lines "book|grant|hold|amount" joined by
// ";". A grant or hold the same as the line before's is written "^", and
// an amount that brings the row's sum back to zero "=": the usual row, a
// pair of lines moving credits of one grant and hold between two books,
// then repeats neither its ids nor its amount. Rows written before this
// compaction have no "^" or "=" and read the same.
func encodeLines(es []tollgate.Entry) string {
	var b strings.Builder
	var sum tollgate.Credits
	for i, e := range es {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(string(e.Book))
		b.WriteByte('|')
		writeSame(&b, e.GrantID, i > 0 && e.GrantID != "" && e.GrantID == es[i-1].GrantID)
		b.WriteByte('|')
		writeSame(&b, e.HoldID, i > 0 && e.HoldID != "" && e.HoldID == es[i-1].HoldID)
		b.WriteByte('|')
		if i > 0 && e.Amount == -sum {
			b.WriteByte('=')
		} else {
			b.WriteString(strconv.FormatInt(int64(e.Amount), 10))
		}
		sum += e.Amount
	}
	return b.String()
}

func writeSame(b *strings.Builder, id string, same bool) {
	if same {
		b.WriteByte('^')
	} else {
		b.WriteString(id)
	}
}

// journalRow is one stored row: the entries of one transaction.
type journalRow struct {
	id                int64
	txnID, kind, acct string
	lines             string
	created           int64
}

// each calls fn with every entry of the row, in order.
func (r *journalRow) each(fn func(tollgate.Entry)) error {
	if r.lines == "" {
		return nil
	}
	var grant, hold string
	var sum tollgate.Credits
	for i, line := range strings.Split(r.lines, ";") {
		parts := strings.Split(line, "|")
		if len(parts) != 4 || (i == 0 && (parts[1] == "^" || parts[2] == "^" || parts[3] == "=")) {
			return fmt.Errorf("journal row %d: bad line %q", r.id, line)
		}
		if parts[1] != "^" {
			grant = parts[1]
		}
		if parts[2] != "^" {
			hold = parts[2]
		}
		amount := -sum
		if parts[3] != "=" {
			n, err := strconv.ParseInt(parts[3], 10, 64)
			if err != nil {
				return fmt.Errorf("journal row %d: bad amount %q", r.id, parts[3])
			}
			amount = tollgate.Credits(n)
		}
		sum += amount
		fn(tollgate.Entry{ID: r.id*linesPerRow + int64(i), TxnID: r.txnID, Kind: tollgate.TxnKind(r.kind), AccountID: r.acct,
			Book: tollgate.Book(parts[0]), GrantID: grant, HoldID: hold, Amount: amount, CreatedAt: fromMicros(r.created)})
	}
	return nil
}

func (t *tx) journal(ctx context.Context, query string, args []any, fn func(*journalRow) error) (err error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer closeRows(rows, &err)
	var r journalRow
	for rows.Next() {
		if err := rows.Scan(&r.id, &r.txnID, &r.kind, &r.acct, &r.lines, &r.created); err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

const journalCols = `id, txn_id, kind, account_id, lines, created_at`

func (t *tx) EntryList(ctx context.Context, p store.EntryListParams) ([]tollgate.Entry, error) {
	var out []tollgate.Entry
	n := limit(p.Limit)
	// A row packs one transaction's entries: its kind, id and time filter
	// in SQL, the book, grant and hold here, reading on a chunk of rows at
	// a time until the page is full.
	where, args := `account_id = ?`, []any{p.AccountID}
	if p.Kind != "" {
		where, args = where+` AND kind = ?`, append(args, string(p.Kind))
	}
	if p.TxnID != "" {
		where, args = where+` AND txn_id = ?`, append(args, p.TxnID)
	}
	if !p.CreatedFrom.IsZero() {
		where, args = where+` AND created_at >= ?`, append(args, micros(p.CreatedFrom))
	}
	if !p.CreatedTo.IsZero() {
		where, args = where+` AND created_at < ?`, append(args, micros(p.CreatedTo))
	}
	const chunk = 256
	from := p.After / linesPerRow
	first := true
	for {
		rows := 0
		err := t.journal(ctx, `SELECT `+journalCols+` FROM journal WHERE `+where+` AND id `+map[bool]string{true: ">=", false: ">"}[first]+` ? ORDER BY id LIMIT ?`,
			append(append([]any{}, args...), from, chunk), func(r *journalRow) error {
				rows++
				from = r.id
				return r.each(func(e tollgate.Entry) {
					if e.ID > p.After && (n < 0 || len(out) < n) && p.Match(&e) {
						out = append(out, e)
					}
				})
			})
		if err != nil {
			return nil, err
		}
		first = false
		if rows < chunk || (n >= 0 && len(out) >= n) {
			return out, nil
		}
	}
}

func (t *tx) EntryTotals(ctx context.Context) ([]store.EntryTotal, error) {
	sums := map[store.EntryTotal]tollgate.Credits{} // keyed with Sum zero
	err := t.journal(ctx, `SELECT `+journalCols+` FROM journal`, nil, func(r *journalRow) error {
		return r.each(func(e tollgate.Entry) {
			sums[store.EntryTotal{AccountID: e.AccountID, Book: e.Book, GrantID: e.GrantID}] += e.Amount
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]store.EntryTotal, 0, len(sums))
	for k, v := range sums {
		k.Sum = v
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.Book != b.Book {
			return a.Book < b.Book
		}
		return a.GrantID < b.GrantID
	})
	return out, nil
}

func (t *tx) TxnsUnbalanced(ctx context.Context) ([]store.TxnSum, error) {
	// A transaction usually fits one row; only rows that do not balance on
	// their own are summed across rows.
	open := map[string]tollgate.Credits{}
	err := t.journal(ctx, `SELECT `+journalCols+` FROM journal`, nil, func(r *journalRow) error {
		var sum tollgate.Credits
		if err := r.each(func(e tollgate.Entry) { sum += e.Amount }); err != nil {
			return err
		}
		if sum != 0 {
			open[r.txnID] += sum
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []store.TxnSum
	for id, s := range open {
		if s != 0 {
			out = append(out, store.TxnSum{TxnID: id, Sum: s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TxnID < out[j].TxnID })
	return out, nil
}

// --- quotes

func (t *tx) QuoteInsert(ctx context.Context, q tollgate.Quote) error {
	_, err := t.exec(ctx, sqlq.QuoteInsert.Lite,
		q.ID, q.AccountID, string(q.Product), int64(q.Credits), q.Details, micros(q.CreatedAt), micros(q.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert quote: %w", err)
	}
	return nil
}

func (t *tx) QuoteByID(ctx context.Context, id string) (tollgate.Quote, error) {
	var q tollgate.Quote
	var created, expires int64
	err := t.q.QueryRowContext(ctx, sqlq.QuoteByID.Lite, id).
		Scan(&q.ID, &q.AccountID, &q.Product, &q.Credits, &q.Details, &created, &expires)
	q.CreatedAt, q.ExpiresAt = fromMicros(created), fromMicros(expires)
	return q, mapErr(err)
}

// --- idempotency

func (t *tx) IdempotencyByKey(ctx context.Context, scope, key string) (_ record.Idempotency, err error) {
	i := record.Idempotency{Scope: scope, Key: key}
	var created int64
	rows, err := t.query(ctx, qIdempotency, scope, key)
	if err != nil {
		return i, mapErr(err)
	}
	defer closeRows(rows, &err)
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return i, mapErr(err)
		}
		return i, tollgate.ErrNotFound
	}
	err = rows.Scan(&i.RequestHash, &i.Status, &i.Body, &created)
	i.CreatedAt = fromMicros(created)
	return i, mapErr(err)
}

func (t *tx) IdempotencyLock(context.Context, string, string) error {
	if !t.write {
		return errReadOnly
	}
	return nil // the one writer connection holds the database lock
}

func (t *tx) IdempotencyPurge(ctx context.Context, before time.Time) (int64, error) {
	r, err := t.exec(ctx, sqlq.IdempotencyPurge.Lite, micros(before))
	if err != nil {
		return 0, fmt.Errorf("purge idempotency: %w", err)
	}
	return r.RowsAffected()
}

func (t *tx) BatchPurge(ctx context.Context, before time.Time) (int64, error) {
	r, err := t.exec(ctx, `DELETE FROM batches WHERE id < ?`, store.BatchIDBefore(before))
	if err != nil {
		return 0, fmt.Errorf("purge batches: %w", err)
	}
	n, _ := r.RowsAffected()
	if r, err = t.exec(ctx, `UPDATE journal SET batch = NULL WHERE batch < ?`, store.BatchIDBefore(before)); err != nil {
		return 0, fmt.Errorf("purge batches: %w", err)
	}
	m, _ := r.RowsAffected()
	return n + m, nil
}

// --- bulk writes

// chunks are the row counts of the multi-row INSERTs Apply prepares: any
// count is written with at most one statement per size.
var chunks = []int{256, 64, 16, 4, 1}

// insertRows inserts n rows with multi-row INSERTs made of head, the rows'
// placeholders and tail, and returns how many rows were inserted (fewer
// than n when tail is an ON CONFLICT DO NOTHING that skipped some) and the
// rowid of the last.
func (t *tx) insertRows(ctx context.Context, head, tail string, cols, n int, args func(i int, dst []any) []any) (inserted, last int64, err error) {
	buf := make([]any, 0, cols*min(n, chunks[0]))
	for i := 0; i < n; {
		size := 1
		for _, c := range chunks {
			if n-i >= c {
				size = c
				break
			}
		}
		q := insertQuery(head, tail, cols, size)
		buf = buf[:0]
		for j := i; j < i+size; j++ {
			buf = args(j, buf)
		}
		r, err := t.exec(ctx, q, buf...)
		if err != nil {
			return inserted, last, err
		}
		k, _ := r.RowsAffected()
		inserted += k
		last, _ = r.LastInsertId()
		i += size
	}
	return inserted, last, nil
}

// insertQuery returns the multi-row INSERT of rows rows: head, the rows'
// placeholders, tail. Each is built once and kept.
func insertQuery(head, tail string, cols, rows int) string {
	k := insertKey{head, tail, cols, rows}
	if q, ok := insertQueries.Load(k); ok {
		return q.(string)
	}
	row := "(" + placeholders(cols) + ")"
	q := head + strings.TrimSuffix(strings.Repeat(row+",", rows), ",") + tail
	insertQueries.Store(k, q)
	return q
}

// updatePendingQuery sets the pending-hold counts of rows accounts, from
// (id, count) pairs.
func updatePendingQuery(rows int) string {
	return insertQuery(`UPDATE accounts SET pending_holds = v.column2 FROM (VALUES `, `) AS v WHERE accounts.id = v.column1`, 2, rows)
}

type insertKey struct {
	head, tail string
	cols, rows int
}

// insertQueries are the INSERTs insertQuery built: a few per table, one
// per chunk size.
var insertQueries sync.Map // insertKey -> string

const (
	insertGrants      = `INSERT INTO grants (` + sqlq.GrantCols + `) VALUES `
	insertHolds       = `INSERT INTO holds (` + sqlq.HoldCols + `) VALUES `
	insertJournal     = `INSERT INTO journal (txn_id, kind, account_id, lines, created_at, batch) VALUES `
	insertVideos      = `INSERT INTO videos (id, account_id, status, next_at, deleted_at, version, doc) VALUES `
	insertIdempotency = `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`
	insertBatch       = `INSERT INTO batches (id) VALUES (?) ON CONFLICT DO NOTHING`
	updateGrant       = `UPDATE grants SET amount = coalesce(nullif(?, 0), amount), remaining = ?, held = ?, refund_owed = ?, expired_at = coalesce(?, expired_at), frozen = ? WHERE id = ?`
	// Rows that may meet a unique key someone else took are skipped, not
	// refused, so that Apply can say which ones.
	skipTaken  = ` ON CONFLICT (account_id, external_ref) WHERE external_ref <> '' DO NOTHING`
	updateHold = `UPDATE holds SET status = ?, captured = ?, settled_at = ? WHERE id = ?`
)

const (
	qAccountsLock = `SELECT ` + sqlq.AccountCols + ` FROM accounts WHERE id IN ` + inIDs + ` ORDER BY id`
	qGrantsOpen   = `SELECT ` + sqlq.GrantCols + ` FROM grants WHERE account_id IN ` + inIDs + `
		AND expired_at IS NULL AND (remaining > 0 OR source = 'allowance') ORDER BY account_id, id`
	qGrantsByID   = `SELECT ` + sqlq.GrantCols + ` FROM grants WHERE id IN ` + inIDs + ` ORDER BY id`
	qHoldsByID    = `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE id IN ` + inIDs + ` ORDER BY id`
	qHoldsByQuote = `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE quote_id IN ` + inIDs + ` AND quote_id <> '' ORDER BY id`
	qHoldsPending = `SELECT ` + sqlq.HoldCols + ` FROM holds WHERE status = 'pending' AND account_id IN ` + inIDs + `
		AND expires_at <= ? ORDER BY account_id, id`
	qHoldsPendingCount = `SELECT account_id, key_id, count(*) FROM holds WHERE status = 'pending' AND account_id IN ` + inIDs + `
		GROUP BY account_id, key_id ORDER BY account_id, key_id`
	qIdempotency = `SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = ? AND key = ?`
)

// hotQueries lists the statements of the write path, prepared once per store.
func hotQueries() []string {
	qs := []string{updateGrant, updateHold, qAccountsLock, qGrantsOpen, qGrantsByID, qHoldsByID, qHoldsByQuote, qHoldsPending, qHoldsPendingCount,
		sqlq.PlanVersions.Lite, qIdempotency, insertIdempotency, insertBatch, qBatchTaken, qBatchJournaled}
	for _, c := range chunks {
		qs = append(qs, insertQuery(insertGrants, skipTaken, 15, c), insertQuery(insertHolds, "", 13, c),
			insertQuery(insertJournal, "", 6, c), insertQuery(insertVideos, ` ON CONFLICT (id) DO NOTHING`, 7, c), updatePendingQuery(c))
	}
	return qs
}

// insertJournal packs consecutive entries of one transaction and account
// into one journal row each; the last row carries batch (when not zero). It
// returns that row's id.
func (t *tx) insertJournal(ctx context.Context, es []tollgate.Entry, batch int64) (int64, error) {
	type row struct{ from, to int }
	var rows []row
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && j-i < linesPerRow && es[j].TxnID == es[i].TxnID && es[j].AccountID == es[i].AccountID {
			j++
		}
		rows = append(rows, row{i, j})
		i = j
	}
	_, last, err := t.insertRows(ctx, insertJournal, "", 6, len(rows), func(k int, a []any) []any {
		r := rows[k]
		e := &es[r.from]
		var b any
		if k == len(rows)-1 && batch != 0 {
			b = batch
		}
		return append(a, e.TxnID, string(e.Kind), e.AccountID, encodeLines(es[r.from:r.to]), micros(e.CreatedAt), b)
	})
	if err != nil {
		return 0, fmt.Errorf("insert journal: %w", err)
	}
	return last, nil
}

func (t *tx) Apply(ctx context.Context, w *store.Writes) error {
	if err := w.Check(); err != nil {
		return err
	}
	var conflict store.ConflictError
	// The batch id goes on the batch's last journal row, a page written
	// anyway; only a batch without journal entries writes a row of its own.
	// An id is taken when a journal row or the batches table has it. With
	// journal entries, one taken by a journal row breaks the journal's
	// unique index on batch, below; the batches table is looked at here.
	// Without, both are, and the id goes into the batches table.
	if w.Batch != 0 {
		q := qBatchTaken
		if len(w.Entries) == 0 {
			q = qBatchJournaled
		}
		n, err := t.count(ctx, q, w.Batch)
		if err != nil {
			return fmt.Errorf("look up batch: %w", err)
		}
		conflict.Batch = n > 0
		if !conflict.Batch && len(w.Entries) == 0 {
			r, err := t.exec(ctx, insertBatch, w.Batch)
			if err != nil {
				return fmt.Errorf("insert batch: %w", err)
			}
			if n, _ := r.RowsAffected(); n != 1 {
				conflict.Batch = true
			}
		}
	}
	n, _, err := t.insertRows(ctx, insertGrants, skipTaken, 15, len(w.Grants), func(i int, a []any) []any {
		g := &w.Grants[i]
		return append(a, g.ID, g.AccountID, string(g.Source), int64(g.Amount), int64(g.Remaining), store.JoinProducts(g.Products),
			g.Priority, micros(g.EffectiveAt), nullMicros(g.ExpiresAt), nullMicros(g.ExpiredAt), g.ExternalRef, micros(g.CreatedAt), int64(g.RefundOwed),
			g.Frozen, int64(g.Held))
	})
	if err != nil {
		return fmt.Errorf("insert grants: %w", err)
	}
	if n != int64(len(w.Grants)) {
		ids := make([]string, len(w.Grants))
		for i := range w.Grants {
			ids[i] = w.Grants[i].ID
		}
		if conflict.Grants, err = t.absent(ctx, "grants", ids); err != nil {
			return err
		}
	}
	// Holds are checked by the ledger under the database lock (one writer:
	// nobody else can take a quote meanwhile), so they are inserted plainly;
	// ON CONFLICT would cost a lookup per row.
	n, _, err = t.insertRows(ctx, insertHolds, "", 13, len(w.Holds), func(i int, a []any) []any {
		h := &w.Holds[i]
		return append(a, h.ID, h.AccountID, string(h.Product), int64(h.Amount), int64(h.Captured), string(h.Status),
			store.EncodeAllocations(h.Allocations), store.EncodeMetadata(h.Metadata), h.QuoteID,
			micros(h.CreatedAt), micros(h.ExpiresAt), nullMicros(h.SettledAt), h.KeyID)
	})
	if err != nil {
		return fmt.Errorf("insert holds: %w", err)
	}
	if n != int64(len(w.Holds)) {
		ids := make([]string, len(w.Holds))
		for i := range w.Holds {
			ids[i] = w.Holds[i].ID
		}
		if conflict.Holds, err = t.absent(ctx, "holds", ids); err != nil {
			return err
		}
	}
	for i := range w.Idempotency {
		r := &w.Idempotency[i]
		res, err := t.exec(ctx, insertIdempotency, r.Scope, r.Key, nonNil(r.RequestHash), r.Status, nonNil(r.Body), micros(r.CreatedAt))
		if err != nil {
			return fmt.Errorf("insert idempotency: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			conflict.Idempotency = append(conflict.Idempotency, store.IdempotencyKey{Scope: r.Scope, Key: r.Key})
		}
	}
	if err := t.applyVideos(ctx, w, &conflict); err != nil {
		return err
	}
	if conflict.Batch || len(conflict.Grants) > 0 || len(conflict.Holds) > 0 || len(conflict.Idempotency) > 0 || len(conflict.Videos) > 0 {
		return &conflict
	}
	if _, err := t.insertJournal(ctx, w.Entries, w.Batch); err != nil {
		if errors.Is(err, tollgate.ErrConflict) && strings.Contains(err.Error(), "journal.batch") {
			return &store.ConflictError{Batch: true}
		}
		return err
	}
	for _, u := range w.GrantUpdates {
		r, err := t.exec(ctx, updateGrant,
			int64(u.Amount), int64(u.Remaining), int64(u.Held), int64(u.RefundOwed), nullMicros(u.ExpiredAt), u.Frozen, u.ID)
		if err != nil {
			return fmt.Errorf("update grant %s: %w", u.ID, err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return fmt.Errorf("update grant %s: %w", u.ID, tollgate.ErrNotFound)
		}
	}
	for _, u := range w.HoldUpdates {
		r, err := t.exec(ctx, updateHold,
			string(u.Status), int64(u.Captured), nullMicros(u.SettledAt), u.ID)
		if err != nil {
			return fmt.Errorf("update hold %s: %w", u.ID, err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return fmt.Errorf("update hold %s: %w", u.ID, tollgate.ErrNotFound)
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
	// Accounts' counts of pending holds: one statement for many accounts,
	// as one per account would cost a statement per hold.
	// The statement's text depends only on its chunk's size, so that it
	// is prepared once, not parsed for every batch.
	var args []any
	for rest := w.AccountPending; len(rest) > 0; {
		n := 1
		for _, c := range chunks {
			if len(rest) >= c {
				n = c
				break
			}
		}
		args = args[:0]
		for _, a := range rest[:n] {
			args = append(args, a.ID, a.N)
		}
		r, err := t.exec(ctx, updatePendingQuery(n), args...)
		if err != nil {
			return fmt.Errorf("update accounts: %w", err)
		}
		if got, _ := r.RowsAffected(); got != int64(n) {
			return fmt.Errorf("update accounts: %d of %d: %w", got, n, tollgate.ErrNotFound)
		}
		rest = rest[n:]
	}
	return nil
}

// absent returns the ids, of those given, that table has no row for: the
// rows an INSERT ... ON CONFLICT DO NOTHING skipped.
func (t *tx) absent(ctx context.Context, table string, ids []string) ([]string, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT id FROM `+table+` WHERE id IN `+inIDs, idList(ids))
	if err != nil {
		return nil, fmt.Errorf("find skipped %s: %w", table, err)
	}
	found, err := collect(rows, scanString)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, id := range found {
		have[id] = true
	}
	var out []string
	for _, id := range ids {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// nonNil returns b, empty rather than nil: nil would be NULL and break NOT
// NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *tx) HoldsPendingCount(ctx context.Context, accountIDs []string) ([]store.PendingCount, error) {
	rows, err := t.query(ctx, qHoldsPendingCount, idList(accountIDs))
	if err != nil {
		return nil, fmt.Errorf("count pending holds: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (store.PendingCount, error) {
		var c store.PendingCount
		err := r.Scan(&c.AccountID, &c.KeyID, &c.N)
		return c, err
	})
}

func (t *tx) LockAccounts(ctx context.Context, q store.LockQuery) (store.Locked, error) {
	var l store.Locked
	var err error
	if l.Accounts, err = t.AccountsLock(ctx, q.AccountIDs); err != nil {
		return l, err
	}
	if len(l.Accounts) > 0 {
		ids := make([]string, len(l.Accounts))
		for i, a := range l.Accounts {
			ids[i] = a.ID
		}
		if l.Grants, err = t.GrantsOpen(ctx, ids); err != nil {
			return l, err
		}
		if !q.DueBy.IsZero() { // zero: none, as PostgreSQL's comparison gives
			if l.Overdue, err = t.HoldsPending(ctx, ids, q.DueBy); err != nil {
				return l, err
			}
		}
	}
	if len(q.Holds) > 0 {
		if l.Holds, err = t.HoldsByID(ctx, q.Holds); err != nil {
			return l, err
		}
	}
	if q.Plans {
		l.Plans, err = t.PlanVersionList(ctx)
	}
	return l, err
}

func (t *tx) AccountState(ctx context.Context, accountID string, dueBy time.Time) (store.AccountState, error) {
	var st store.AccountState
	var err error
	if st.Account, err = t.AccountByID(ctx, accountID); err != nil {
		return st, err
	}
	rows, err := t.query(ctx, sqlq.GrantsOpenOrHeld.Lite, accountID)
	if err != nil {
		return st, fmt.Errorf("grants: %w", err)
	}
	if st.Grants, err = collect(rows, scanGrant); err != nil {
		return st, err
	}
	if rows, err = t.query(ctx, sqlq.HoldsOverdue.Lite, accountID, micros(dueBy)); err != nil {
		return st, fmt.Errorf("overdue holds: %w", err)
	}
	if st.Overdue, err = collect(rows, scanHold); err != nil {
		return st, err
	}
	st.Plans, err = t.PlanVersionList(ctx)
	return st, err
}
