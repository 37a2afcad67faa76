package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"tollgate"
	"tollgate/store"
	"tollgate/store/record"
)

// AccountParams are the arguments of CreateAccount.
type AccountParams struct {
	ID         string // optional; generated when empty
	Name       string
	Plan       string // default "free"
	Timezone   string // IANA; default "UTC"
	LowBalance tollgate.Credits
	// Currency is the currency the account buys in; "" lets its requests'
	// language decide.
	Currency    string
	Idempotency *Idempotency
}

var accountIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CreateAccount creates an account. It returns invalid_field errors for a
// bad id, name, plan or time zone, and conflict when the id is taken.
func (l *Ledger) CreateAccount(ctx context.Context, p AccountParams) (tollgate.Account, error) {
	if p.ID != "" && !accountIDPattern.MatchString(p.ID) {
		return tollgate.Account{}, tollgate.FieldError("id", "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 200 {
		return tollgate.Account{}, tollgate.FieldError("name", "is required, at most 200 characters")
	}
	if !tollgate.CleanText(p.Name) {
		return tollgate.Account{}, tollgate.FieldError("name", "must be UTF-8 text without control characters")
	}
	if p.Plan == "" {
		p.Plan = "free"
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(p.Timezone); err != nil || strings.EqualFold(p.Timezone, "local") {
		return tollgate.Account{}, tollgate.FieldError("timezone", "unknown time zone %q; use an IANA name such as Europe/Paris", p.Timezone)
	}
	now := l.clock.Now()
	if p.LowBalance < 0 || p.LowBalance > tollgate.MaxCredits {
		return tollgate.Account{}, tollgate.FieldError("low_balance_threshold", "must be from 0 to %s", tollgate.MaxCredits)
	}
	if err := checkCurrency(p.Currency); err != nil {
		return tollgate.Account{}, err
	}
	a := tollgate.Account{ID: p.ID, Name: p.Name, Plan: p.Plan, Timezone: p.Timezone, Status: tollgate.AccountActive, CreatedAt: now, LowBalance: p.LowBalance,
		Currency: p.Currency}
	if a.ID == "" {
		a.ID = tollgate.NewID("acct")
	}
	res, err := l.writeIdempotent(ctx, p.Idempotency, func(tx store.Tx) (any, error) {
		vs, err := tx.PlanVersionList(ctx)
		if err != nil {
			return nil, err
		}
		if !planExists(vs, a.Plan) {
			return nil, tollgate.FieldError("plan", "unknown plan %q; known: %s", a.Plan, strings.Join(planNames(vs), ", "))
		}
		if err := tx.AccountInsert(ctx, a); err != nil {
			if errors.Is(err, tollgate.ErrConflict) {
				return nil, tollgate.Errorf(tollgate.CodeConflict, "account %s exists", a.ID)
			}
			return nil, err
		}
		return a, l.Audit(ctx, tx, "account.create", a.ID, a.ID, map[string]any{"name": a.Name, "plan": a.Plan,
			"timezone": a.Timezone, "low_balance_threshold": a.LowBalance})
	})
	if err != nil {
		return tollgate.Account{}, err
	}
	return res.(tollgate.Account), nil
}

// AccountChanges are the fields UpdateAccount changes; nil leaves one as is.
type AccountChanges struct {
	Name        *string
	Plan        *string
	Timezone    *string
	Status      *tollgate.AccountStatus
	LowBalance  *tollgate.Credits
	Currency    *string // "" clears it
	Idempotency *Idempotency
}

// checkCurrency checks an account's currency: "" or a lowercase ISO 4217
// code.
func checkCurrency(c string) error {
	if c == "" {
		return nil
	}
	if !tollgate.ValidCurrency(c) {
		return tollgate.FieldError("currency", "must be a lowercase ISO 4217 code such as eur, or empty")
	}
	return nil
}

// UpdateAccount changes an account: its name, plan (the new plan's
// allowance applies from the next use), time zone, status (a suspended
// account may not hold or spend) or low-balance threshold. It fails with
// not_found or invalid_field.
func (l *Ledger) UpdateAccount(ctx context.Context, id string, c AccountChanges) (tollgate.Account, error) {
	if !validID(id) {
		return tollgate.Account{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", id)
	}
	if c.Name != nil && (strings.TrimSpace(*c.Name) == "" || len(*c.Name) > 200 || !tollgate.CleanText(*c.Name)) {
		return tollgate.Account{}, tollgate.FieldError("name", "must be 1 to 200 characters of text without control characters")
	}
	if c.Timezone != nil {
		if _, err := time.LoadLocation(*c.Timezone); err != nil || *c.Timezone == "" || strings.EqualFold(*c.Timezone, "local") {
			return tollgate.Account{}, tollgate.FieldError("timezone", "unknown time zone %q; use an IANA name such as Europe/Paris", *c.Timezone)
		}
	}
	if c.Status != nil && *c.Status != tollgate.AccountActive && *c.Status != tollgate.AccountSuspended {
		return tollgate.Account{}, tollgate.FieldError("status", "must be active or suspended")
	}
	if c.LowBalance != nil && (*c.LowBalance < 0 || *c.LowBalance > tollgate.MaxCredits) {
		return tollgate.Account{}, tollgate.FieldError("low_balance_threshold", "must be from 0 to %s", tollgate.MaxCredits)
	}
	if c.Currency != nil {
		if err := checkCurrency(*c.Currency); err != nil {
			return tollgate.Account{}, err
		}
	}
	now := l.clock.Now()
	res, err := l.writeIdempotent(ctx, c.Idempotency, func(tx store.Tx) (any, error) {
		as, err := tx.AccountsLock(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		if len(as) == 0 {
			return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", id)
		}
		a, was := as[0], as[0]
		if c.Plan != nil {
			vs, err := tx.PlanVersionList(ctx)
			if err != nil {
				return nil, err
			}
			if !planExists(vs, *c.Plan) {
				return nil, tollgate.FieldError("plan", "unknown plan %q; known: %s", *c.Plan, strings.Join(planNames(vs), ", "))
			}
			if err := changePlan(ctx, tx, &a, *c.Plan, now); err != nil {
				return nil, err
			}
		}
		if c.Name != nil {
			a.Name = strings.TrimSpace(*c.Name)
		}
		if c.Timezone != nil && *c.Timezone != a.Timezone {
			// The local day in progress keeps its allowance and its end:
			// the end of the allowance in force, or of the day as the old
			// zone counts it.
			open, err := tx.GrantsOpen(ctx, []string{a.ID})
			if err != nil {
				return nil, err
			}
			end := dayEnd(&a, open, now)
			a.Timezone, a.TimezoneFrom = *c.Timezone, &end
		}
		if c.Status != nil {
			a.Status = *c.Status
		}
		if c.LowBalance != nil {
			a.LowBalance = *c.LowBalance
		}
		if c.Currency != nil {
			a.Currency = *c.Currency
		}
		if err := tx.AccountUpdate(ctx, a); err != nil {
			return nil, err
		}
		changed := map[string]any{}
		for _, f := range []struct {
			name     string
			from, to any
		}{{"name", was.Name, a.Name}, {"plan", was.Plan, a.Plan}, {"timezone", was.Timezone, a.Timezone},
			{"status", was.Status, a.Status}, {"low_balance_threshold", was.LowBalance, a.LowBalance}, {"currency", was.Currency, a.Currency}} {
			if f.from != f.to {
				changed[f.name] = map[string]any{"from": f.from, "to": f.to}
			}
		}
		return a, l.Audit(ctx, tx, "account.update", a.ID, a.ID, changed)
	})
	if err != nil {
		return tollgate.Account{}, err
	}
	if l.cached { // the committer must read the account afresh
		if _, err := run(ctx, l, &forgetOp{accountID: id}, nil, nil); err != nil {
			return tollgate.Account{}, err
		}
	}
	return res.(tollgate.Account), nil
}

// changePlan puts account a on plan: an upgrade applies at once, a
// downgrade from the end of the local day in progress (until then the
// daily allowance is the greater of the two plans'). The caller writes a.
func changePlan(ctx context.Context, tx store.Tx, a *tollgate.Account, plan string, now time.Time) error {
	if plan == a.Plan {
		return nil
	}
	open, err := tx.GrantsOpen(ctx, []string{a.ID})
	if err != nil {
		return err
	}
	end := dayEnd(a, open, now)
	a.PlanBefore, a.PlanFrom, a.Plan = a.Plan, &end, plan
	return nil
}

func planExists(vs []tollgate.PlanVersion, plan string) bool {
	for _, v := range vs {
		if v.Plan == plan {
			return true
		}
	}
	return false
}

func planNames(vs []tollgate.PlanVersion) []string {
	var names []string
	for _, v := range vs {
		if len(names) == 0 || names[len(names)-1] != v.Plan {
			names = append(names, v.Plan)
		}
	}
	return names
}

// WriteIdempotent runs fn in a write transaction of its own over the
// records (orders, packs, quotes, endpoints...), remembering its answer
// under k (when k is not nil) in the same transaction: a repeat of the same
// request gets *Replayed, the same key with another request
// idempotency_mismatch. For writes that do not move credits; tx cannot
// write accounts, grants, holds or the journal.
func (l *Ledger) WriteIdempotent(ctx context.Context, k *Idempotency, fn func(tx record.Tx) (any, error)) (any, error) {
	return l.writeIdempotent(ctx, k, func(tx store.Tx) (any, error) { return fn(records{tx, tx}) })
}

// WriteRecords runs fn in a write transaction of its own over the records.
func (l *Ledger) WriteRecords(ctx context.Context, fn func(tx record.Tx) error) error {
	return l.store.Write(ctx, func(tx store.Tx) error { return fn(records{tx, tx}) })
}

// ReadRecords runs fn in a read-only transaction over the records, which
// sees one snapshot.
func (l *Ledger) ReadRecords(ctx context.Context, fn func(tx record.Tx) error) error {
	return l.store.Read(ctx, func(tx store.Tx) error { return fn(records{tx, tx}) })
}

// records is the transaction the ledger lends other packages: its method
// set is record.Tx's alone, so no type assertion reaches the committer's
// methods.
type records struct {
	record.Tx
	tx store.Tx
}

// writeIdempotent is WriteIdempotent over the whole transaction, for the
// ledger's own writes that move no credits (accounts, keys, plans).
func (l *Ledger) writeIdempotent(ctx context.Context, k *Idempotency, fn func(tx store.Tx) (any, error)) (any, error) {
	res, err := l.writeIdempotentOnce(ctx, k, fn)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) { // the key was stored meanwhile: now it replays
		res, err = l.writeIdempotentOnce(ctx, k, fn)
	}
	return res, err
}

func (l *Ledger) writeIdempotentOnce(ctx context.Context, k *Idempotency, fn func(tx store.Tx) (any, error)) (any, error) {
	now := l.clock.Now()
	var res any
	err := l.store.Write(ctx, func(tx store.Tx) error {
		b := &batch{l: l, tx: tx, now: now}
		if k != nil {
			// Requests with this key wait here for each other: the
			// second sees the first's answer and replays it.
			if err := tx.IdempotencyLock(ctx, k.Scope, k.Key); err != nil {
				return err
			}
			rec, err := b.idempotent(ctx, k)
			if err != nil {
				return err
			}
			if rec != nil {
				return &Replayed{Status: rec.Status, Body: rec.Body}
			}
		}
		var err error
		if res, err = fn(tx); err != nil {
			return err
		}
		if k != nil {
			b.remember(k, res)
			return tx.Apply(ctx, &b.w)
		}
		return nil
	})
	return res, err
}

// CheckIdempotent looks k up in tx, a transaction from WriteRecords or
// WriteIdempotent, for a write in several transactions that must know
// before its first whether the request was answered: it returns *Replayed
// for a repeat of the same request, idempotency_mismatch for the key used
// with another, and nil for a new key.
func (l *Ledger) CheckIdempotent(ctx context.Context, tx record.Tx, k *Idempotency) error {
	r, ok := tx.(records)
	if !ok {
		return errors.New("check idempotency: the transaction is not the ledger's")
	}
	if err := tx.IdempotencyLock(ctx, k.Scope, k.Key); err != nil {
		return err
	}
	b := &batch{l: l, tx: r.tx, now: l.clock.Now()}
	rec, err := b.idempotent(ctx, k)
	if err != nil {
		return err
	}
	if rec != nil {
		return &Replayed{Status: rec.Status, Body: rec.Body}
	}
	return nil
}

// NewKey is a freshly created API key. Secret is shown once and never stored.
type NewKey struct {
	tollgate.APIKey
	Secret string
}

// KeyPrefix starts every Tollgate API key.
const KeyPrefix = "tg_"

// HashKey returns the stored hash of an API key secret.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func newSecret() string {
	var b [30]byte
	_, _ = rand.Read(b[:])
	return KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// KeyParams are the arguments of CreateKey.
type KeyParams struct {
	AccountID string // "" for an admin key
	Name      string // optional, at most 100 characters
	// Scopes, Products, ExpiresAt and Limits restrict an account key (see
	// tollgate.APIKey); an admin key takes none of them.
	Scopes      []tollgate.Scope
	Products    []tollgate.Product
	ExpiresAt   *time.Time
	Limits      tollgate.Limits
	Idempotency *Idempotency
}

func validateKey(p *KeyParams, now time.Time) error {
	if len(p.Name) > 100 || !tollgate.CleanText(p.Name) {
		return tollgate.FieldError("name", "must be at most 100 characters of text without control characters")
	}
	if p.AccountID == "" && (p.Scopes != nil || p.Products != nil || p.ExpiresAt != nil || p.Limits != (tollgate.Limits{})) {
		return tollgate.FieldError("scopes", "an admin key cannot be restricted")
	}
	if p.Scopes != nil && len(p.Scopes) == 0 {
		return tollgate.FieldError("scopes", `must name at least one scope: "read", "write"`)
	}
	seen := map[tollgate.Scope]bool{}
	for _, sc := range p.Scopes {
		if sc != tollgate.ScopeRead && sc != tollgate.ScopeWrite {
			return tollgate.FieldError("scopes", `unknown scope %q; known: "read" (GET requests), "write" (the others)`, sc)
		}
		if seen[sc] {
			return tollgate.FieldError("scopes", "scope %q listed twice", sc)
		}
		seen[sc] = true
	}
	if p.Products != nil && len(p.Products) == 0 {
		return tollgate.FieldError("products", "must name at least one product, or be left out for every product")
	}
	if err := validateProducts(p.Products); err != nil {
		return err
	}
	if p.ExpiresAt != nil && !p.ExpiresAt.After(now) {
		return tollgate.FieldError("expires_at", "must be in the future")
	}
	return validateLimits("limits", p.Limits)
}

func validateLimits(field string, l tollgate.Limits) error {
	for _, f := range []struct {
		name   string
		v, max int
	}{{"requests_per_second", l.RequestsPerSecond, tollgate.MaxLimits.RequestsPerSecond},
		{"concurrent_requests", l.ConcurrentRequests, tollgate.MaxLimits.ConcurrentRequests},
		{"max_pending_holds", l.MaxPendingHolds, tollgate.MaxLimits.MaxPendingHolds}} {
		if f.v < 0 || f.v > f.max {
			return tollgate.FieldError(field+"."+f.name, "must be from 1 to %d, or null for the default", f.max)
		}
	}
	return nil
}

// CreateKey creates an API key for an account, or an admin key when
// AccountID is empty. Its secret is returned once and only its hash is
// stored. It fails with not_found for an unknown account and invalid_field
// for a bad name.
func (l *Ledger) CreateKey(ctx context.Context, p KeyParams) (NewKey, error) {
	if p.AccountID != "" && !validID(p.AccountID) {
		return NewKey{}, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", p.AccountID)
	}
	now := l.clock.Now()
	if err := validateKey(&p, now); err != nil {
		return NewKey{}, err
	}
	res, err := l.writeIdempotent(ctx, p.Idempotency, func(tx store.Tx) (any, error) {
		if p.AccountID != "" {
			if _, err := tx.AccountByID(ctx, p.AccountID); err != nil {
				return nil, notFound(err, "account", p.AccountID)
			}
		}
		secret := newSecret()
		key := tollgate.APIKey{ID: tollgate.NewID("key"), AccountID: p.AccountID, Name: p.Name, Prefix: secret[:KeyPrefixLen],
			Hash: HashKey(secret), CreatedAt: now, Scopes: p.Scopes, Products: p.Products, ExpiresAt: p.ExpiresAt, Limits: p.Limits}
		if err := tx.APIKeyInsert(ctx, key); err != nil {
			return nil, err
		}
		return NewKey{APIKey: key, Secret: secret}, l.Audit(ctx, tx, "key.create", key.AccountID, key.ID, map[string]any{
			"name": key.Name, "prefix": key.Prefix, "scopes": key.Scopes, "products": key.Products, "expires_at": key.ExpiresAt,
			"limits": key.Limits})
	})
	if err != nil {
		return NewKey{}, err
	}
	return res.(NewKey), nil
}

// KeyPrefixLen is how many of a secret's first characters are kept, to
// recognise a key in a list: "tg_" and 7 more, 35 of its 240 random bits.
const KeyPrefixLen = 10

// Keys lists an account's keys, revoked ones too, by id. It fails with
// not_found for an unknown account.
func (l *Ledger) Keys(ctx context.Context, accountID string) ([]tollgate.APIKey, error) {
	if !validID(accountID) {
		return nil, tollgate.Errorf(tollgate.CodeNotFound, "account %q not found", accountID)
	}
	var ks []tollgate.APIKey
	err := l.store.Read(ctx, func(tx store.Tx) error {
		if _, err := tx.AccountByID(ctx, accountID); err != nil {
			return notFound(err, "account", accountID)
		}
		var err error
		ks, err = tx.APIKeyList(ctx, accountID)
		return err
	})
	return ks, err
}

// RevokeKey revokes one of an account's keys: from then on it is refused
// (by every instance within their key cache's lifetime). Revoking a revoked
// key changes nothing. It fails with not_found for an unknown key.
func (l *Ledger) RevokeKey(ctx context.Context, accountID, keyID string, k *Idempotency) (tollgate.APIKey, error) {
	if !validID(accountID) || !validID(keyID) {
		return tollgate.APIKey{}, tollgate.Errorf(tollgate.CodeNotFound, "key %q not found", keyID)
	}
	now := l.clock.Now()
	res, err := l.writeIdempotent(ctx, k, func(tx store.Tx) (any, error) {
		key, err := tx.APIKeyRevoke(ctx, accountID, keyID, now)
		if err != nil {
			return nil, notFound(err, "key", keyID)
		}
		return key, l.Audit(ctx, tx, "key.revoke", accountID, keyID, map[string]any{"name": key.Name, "prefix": key.Prefix})
	})
	if err != nil {
		return tollgate.APIKey{}, err
	}
	return res.(tollgate.APIKey), nil
}

// TouchKey records that a stored key was just used.
func (l *Ledger) TouchKey(ctx context.Context, id string) error {
	return l.store.Write(ctx, func(tx store.Tx) error { return tx.APIKeyTouch(ctx, id, l.clock.Now()) })
}

// Authenticate returns the key whose secret is given. It fails with
// unauthorized for an unknown or revoked key, and for an admin key stored in
// the database while Options.AdminKeys are set.
func (l *Ledger) Authenticate(ctx context.Context, secret string) (tollgate.APIKey, error) {
	if l.adminKeys != nil {
		if k, ok := l.adminKeys[string(HashKey(secret))]; ok {
			return k, nil
		}
	}
	var k tollgate.APIKey
	err := l.store.Read(ctx, func(tx store.Tx) error {
		var err error
		k, err = tx.APIKeyByHash(ctx, HashKey(secret))
		return err
	})
	if errors.Is(err, tollgate.ErrNotFound) || (err == nil && (k.RevokedAt != nil || (k.Admin() && l.adminKeys != nil))) {
		return tollgate.APIKey{}, tollgate.Errorf(tollgate.CodeUnauthorized, "unknown or revoked API key")
	}
	if err == nil && k.ExpiresAt != nil && !l.clock.Now().Before(*k.ExpiresAt) {
		return tollgate.APIKey{}, KeyExpired(k)
	}
	return k, err
}

// DefaultPlans are the plans a new database starts with.
var DefaultPlans = []tollgate.PlanVersion{
	{Plan: "free", Version: 1, Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(30)}},
	{Plan: "pro", Version: 1, Allowances: map[tollgate.Product]tollgate.Credits{tollgate.ProductVideo: tollgate.WholeCredits(100)}},
}

// Bootstrap seeds a new database with the default plans and, when it has no
// admin key, creates one from adminSecret (or a random one, returned so the
// caller can show it once). It returns "" when an admin key existed. With
// Options.AdminKeys set it stores no admin key, and logs that those stored
// are disabled.
func (l *Ledger) Bootstrap(ctx context.Context, adminSecret string) (string, error) {
	now := l.clock.Now()
	shown := ""
	defer l.plansWritten() // the default plans may have been seeded
	err := l.store.Write(ctx, func(tx store.Tx) error {
		vs, err := tx.PlanVersionList(ctx)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			for _, v := range DefaultPlans {
				v.EffectiveAt, v.CreatedAt = time.Unix(0, 0).UTC(), now
				if err := tx.PlanVersionInsert(ctx, v); err != nil {
					return err
				}
			}
		}
		if l.adminKeys != nil {
			stored, err := tx.APIKeyAdminExists(ctx)
			if err == nil && stored {
				l.log.Warn("admin keys stored in the database are disabled: TOLLGATE_ADMIN_KEY is set, and only its keys are accepted")
			}
			return err
		}
		if adminSecret != "" {
			if _, err := tx.APIKeyByHash(ctx, HashKey(adminSecret)); err == nil {
				return nil
			} else if !errors.Is(err, tollgate.ErrNotFound) {
				return err
			}
			return tx.APIKeyInsert(ctx, tollgate.APIKey{ID: tollgate.NewID("key"), Hash: HashKey(adminSecret), CreatedAt: now})
		}
		ok, err := tx.APIKeyAdminExists(ctx)
		if err != nil || ok {
			return err
		}
		shown = newSecret()
		return tx.APIKeyInsert(ctx, tollgate.APIKey{ID: tollgate.NewID("key"), Hash: HashKey(shown), CreatedAt: now})
	})
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return shown, nil
}

// KeyExpired is the error for a key past its expiry.
func KeyExpired(k tollgate.APIKey) error {
	return tollgate.Errorf(tollgate.CodeUnauthorized, "this API key expired at %s; ask for a new one", k.ExpiresAt.Format(time.RFC3339))
}
