package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/ledger"
)

type createAccountRequest struct {
	ID         string `json:"id" doc:"Optional; generated (acct_...) when empty." pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"`
	Name       string `json:"name" minLength:"1" maxLength:"200" required:"true"`
	Plan       string `json:"plan" doc:"An existing plan, e.g. free or pro." default:"\"free\""`
	Timezone   string `json:"timezone" doc:"An IANA time zone such as Europe/Paris; daily allowances reset at its midnight." default:"\"UTC\""`
	LowBalance amount `json:"low_balance_threshold"`
	Currency   string `json:"currency" doc:"The currency it buys in (offers and checkouts), a lowercase ISO 4217 code; empty: its requests' Accept-Language decides."`
}

func (s *Server) createAccount(r *http.Request, c *call, in *struct{ Body createAccountRequest }) (accountView, error) {
	req := in.Body
	if req.LowBalance.err != nil {
		return accountView{}, tollgate.FieldError("low_balance_threshold", "%v", req.LowBalance.err)
	}
	view := func(v any) any { return viewAccount(v.(tollgate.Account)) }
	a, err := s.l.CreateAccount(r.Context(), ledger.AccountParams{ID: req.ID, Name: req.Name, Plan: req.Plan, Timezone: req.Timezone,
		LowBalance: req.LowBalance.v, Currency: req.Currency, Idempotency: c.idempotency(r, view)})
	if err != nil {
		return accountView{}, err
	}
	return viewAccount(a), nil
}

type updateAccountRequest struct {
	Name       *string `json:"name"`
	Plan       *string `json:"plan"`
	Timezone   *string `json:"timezone"`
	Status     *string `json:"status" doc:"A suspended account may not hold or spend credits; its holds still settle." enum:"active,suspended"`
	LowBalance amount  `json:"low_balance_threshold"`
	Currency   *string `json:"currency" doc:"The currency it buys in; empty clears it."`
}

func (s *Server) updateAccount(r *http.Request, c *call, in *struct {
	accountPath
	Body updateAccountRequest
}) (accountView, error) {
	req := in.Body
	ch := ledger.AccountChanges{Name: req.Name, Plan: req.Plan, Timezone: req.Timezone, Currency: req.Currency}
	if req.Status != nil {
		st := tollgate.AccountStatus(*req.Status)
		ch.Status = &st
	}
	if req.LowBalance.set {
		if req.LowBalance.err != nil {
			return accountView{}, tollgate.FieldError("low_balance_threshold", "%v", req.LowBalance.err)
		}
		ch.LowBalance = &req.LowBalance.v
	}
	view := func(v any) any { return viewAccount(v.(tollgate.Account)) }
	ch.Idempotency = c.idempotency(r, view)
	a, err := s.l.UpdateAccount(r.Context(), in.ID, ch)
	if err != nil {
		return accountView{}, err
	}
	s.keys.Clear() // the plan of cached keys may have changed
	return viewAccount(a), nil
}

func (s *Server) listAccounts(r *http.Request, c *call, in *struct{ pageQuery }) (listView[accountView], error) {
	out := listView[accountView]{Object: "list", Data: []accountView{}}
	as, err := s.l.Accounts(r.Context(), in.Cursor, in.Limit+1)
	if err != nil {
		return out, err
	}
	for i, a := range as {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, as[i-1].ID
			break
		}
		out.Data = append(out.Data, viewAccount(a))
	}
	return out, nil
}

func (s *Server) getAccount(r *http.Request, c *call, in *struct{ accountPath }) (accountView, error) {
	id, err := c.account(r)
	if err != nil {
		return accountView{}, err
	}
	a, err := s.l.Account(r.Context(), id)
	if err != nil {
		return accountView{}, err
	}
	return viewAccount(a), nil
}

type createKeyRequest struct {
	Name      string             `json:"name" doc:"A name to tell the key apart in lists (optional)." maxLength:"100"`
	Scopes    []tollgate.Scope   `json:"scopes" doc:"Default both. [\"read\"] makes a read-only key. Account keys only." minItems:"1" uniqueItems:"true"`
	Products  []tollgate.Product `json:"products" doc:"Limit the key to these products; default every product. Account keys only." minItems:"1" uniqueItems:"true"`
	ExpiresAt string             `json:"expires_at" doc:"When the key stops working; must be in the future. Default never. Account keys only." format:"date-time"`
	Limits    *limitsRequest     `json:"limits" doc:"Lower the plan's limits for this key. Account keys only."`
}

func (createKeyRequest) doc() string {
	return "The body may be empty."
}

func (s *Server) createKey(r *http.Request, c *call, in *struct {
	accountPath
	Body createKeyRequest `body:"optional"`
}) (keyView, error) {
	req := in.Body
	p := ledger.KeyParams{AccountID: in.ID, Name: req.Name, Scopes: req.Scopes, Products: req.Products}
	var err error
	if p.ExpiresAt, err = parseTime("expires_at", req.ExpiresAt); err != nil {
		return keyView{}, err
	}
	if req.Limits != nil {
		p.Limits = req.Limits.limits()
	}
	// The secret is shown in this answer only: the answer remembered for
	// a repeated Idempotency-Key leaves it out, so it is never stored.
	remembered := func(v any) any { return viewKey(v.(ledger.NewKey).APIKey, nil) }
	p.Idempotency = c.idempotency(r, remembered)
	k, err := s.l.CreateKey(r.Context(), p)
	if err != nil {
		return keyView{}, err
	}
	return viewKey(k.APIKey, &k.Secret), nil
}

func (s *Server) listKeys(r *http.Request, c *call, in *struct{ accountPath }) (listView[keyView], error) {
	out := listView[keyView]{Object: "list", Data: []keyView{}}
	ks, err := s.l.Keys(r.Context(), in.ID)
	if err != nil {
		return out, err
	}
	for _, k := range ks {
		out.Data = append(out.Data, viewKey(k, nil))
	}
	return out, nil
}

func (s *Server) revokeKey(r *http.Request, c *call, in *struct {
	accountPath
	KeyID string       `path:"key_id" doc:"Key id (key_...), of the account in the path."`
	Body  emptyRequest `body:"optional"`
}) (keyView, error) {
	view := func(v any) any { return viewKey(v.(tollgate.APIKey), nil) }
	k, err := s.l.RevokeKey(r.Context(), in.ID, in.KeyID, c.idempotency(r, view))
	if err != nil {
		return keyView{}, err
	}
	// This instance refuses it at once; others when their cache expires.
	s.keys.Range(func(h, v any) bool {
		if v.(cachedKey).key.ID == k.ID {
			s.keys.Delete(h)
		}
		return true
	})
	return viewKey(k, nil), nil
}

type createGrantRequest struct {
	Credits      amount             `json:"credits" doc:"More than zero, at most 1000000000." required:"true"`
	Source       string             `json:"source" enum:"purchase,promo,refund,royalty,admin" default:"\"admin\""`
	Products     []tollgate.Product `json:"products" doc:"The products the grant may pay for; empty or absent: all." uniqueItems:"true"`
	Priority     int                `json:"priority" doc:"Lower is spent first among grants expiring together." minimum:"-1000" maximum:"1000" default:"0"`
	EffectiveAt  string             `json:"effective_at" doc:"Default: now. Between the years 0 and 9999 in UTC." format:"date-time"`
	ExpiresAt    string             `json:"expires_at" doc:"In the future, after effective_at, before the year 10000 in UTC. Give expires_at or valid_for_days, not both; neither: never expires." format:"date-time"`
	ValidForDays *int               `json:"valid_for_days" doc:"Expires this many days after effective_at (before the year 10000)." minimum:"1" maximum:"36500"`
	ExternalRef  string             `json:"external_ref" doc:"Unique per account when set, e.g. a payment reference; a repeat is a 409." maxLength:"200"`
}

func (s *Server) createGrant(r *http.Request, c *call, in *struct {
	accountPath
	Body createGrantRequest
}) (grantView, error) {
	req := in.Body
	p := ledger.GrantParams{AccountID: in.ID, Source: tollgate.GrantSource(req.Source),
		Products: req.Products, Priority: req.Priority, ExternalRef: req.ExternalRef}
	var err error
	if p.Credits, err = credits("credits", req.Credits); err != nil {
		return grantView{}, err
	}
	if p.EffectiveAt, err = parseTime("effective_at", req.EffectiveAt); err != nil {
		return grantView{}, err
	}
	if p.ExpiresAt, err = parseTime("expires_at", req.ExpiresAt); err != nil {
		return grantView{}, err
	}
	if d := req.ValidForDays; d != nil {
		if *d < 1 || *d > 36500 || (p.EffectiveAt != nil && p.EffectiveAt.AddDate(0, 0, *d).Year() > 9999) {
			return grantView{}, tollgate.FieldError("valid_for_days", "must be from 1 to 36500, and end before the year 10000")
		}
		p.ValidFor = time.Duration(*d) * 24 * time.Hour
	}
	view := func(v any) any { return viewGrant(v.(tollgate.Grant)) }
	p.Idempotency = c.idempotency(r, view)
	g, err := s.l.Grant(r.Context(), p)
	if err != nil {
		return grantView{}, err
	}
	return viewGrant(g), nil
}

func (s *Server) getAccountBalance(r *http.Request, c *call, in *struct{ accountPath }) (balanceView, error) {
	return s.balance(r, c)
}

func (s *Server) getBalance(r *http.Request, c *call, in *struct{}) (balanceView, error) {
	return s.balance(r, c)
}

func (s *Server) balance(r *http.Request, c *call) (balanceView, error) {
	id, err := c.account(r)
	if err != nil {
		return balanceView{}, err
	}
	b, err := s.l.Balance(r.Context(), id)
	if err != nil {
		return balanceView{}, err
	}
	v := viewBalance(b)
	if v.UpcomingPriceChanges, err = s.upcomingPrices(r); err != nil {
		return balanceView{}, err
	}
	if v.Subscription, err = s.planEnd(r, id, b.Plan); err != nil {
		return balanceView{}, err
	}
	return v, nil
}

// planEnd is the account's subscription that entitles it now, if any, and
// when its plan ends.
func (s *Server) planEnd(r *http.Request, accountID, plan string) (*planEndView, error) {
	subs, err := s.Payments.OpenSubscriptions(r.Context(), accountID, plan)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		if !sub.Entitled {
			continue
		}
		v := &planEndView{ID: sub.ID, Plan: sub.Plan, Status: string(sub.Status), FallbackPlan: sub.FallbackPlan}
		switch {
		case sub.Status == tollgate.SubscriptionPastDue:
			v.LeavesPlanAt = sub.GraceUntil
		case sub.CancelAtPeriodEnd:
			end := sub.PeriodEnd
			v.LeavesPlanAt = &end
		}
		return v, nil
	}
	return nil, nil
}

// priceChangeView is a price rule version that takes effect later.
type priceChangeView struct {
	RuleID          string            `json:"rule_id"`
	Product         tollgate.Product  `json:"product"`
	Meter           string            `json:"meter"`
	Per             int64             `json:"per"`
	Credits         tollgate.Credits  `json:"credits"`
	PreviousCredits *tollgate.Credits `json:"previous_credits" doc:"The rule's price until then; null for a new rule."`
	EffectiveAt     time.Time         `json:"effective_at"`
}

func (priceChangeView) doc() string {
	return "A price rule version that takes effect later. An increase is announced at least the notice period (14 days by default) ahead unless forced."
}

// upcomingPrices lists the price changes scheduled after now, soonest
// first: announced in every balance until they apply.
func (s *Server) upcomingPrices(r *http.Request) ([]priceChangeView, error) {
	c, err := s.Quotes.Prices(r.Context())
	if err != nil {
		return nil, err
	}
	out := []priceChangeView{}
	for _, rule := range c.Scheduled(s.l.Clock().Now()) {
		v := priceChangeView{rule.ID, rule.Product, rule.Meter, rule.Per, rule.Credits, nil, rule.EffectiveAt}
		if prev, ok := c.RuleAt(rule.ID, rule.EffectiveAt.Add(-time.Microsecond)); ok {
			v.PreviousCredits = &prev.Credits
		}
		out = append(out, v)
	}
	return out, nil
}

type listEntriesInput struct {
	accountPath
	Kind          string `query:"kind" doc:"Only entries of this kind of transaction."`
	Book          string `query:"book" doc:"Only entries of this book: available, held, or revenue:<product>, and the others the journal keeps."`
	GrantID       string `query:"grant_id" doc:"Only entries of this grant."`
	HoldID        string `query:"hold_id" doc:"Only entries of this hold."`
	TransactionID string `query:"transaction_id" doc:"Only the entries of this transaction."`
	createdQuery
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
	Cursor string `query:"cursor" pattern:"^[0-9]+$" doc:"next_cursor of the previous page."`
}

func (s *Server) listEntries(r *http.Request, c *call, in *listEntriesInput) (listView[entryView], error) {
	out := listView[entryView]{Object: "list", Data: []entryView{}}
	id, err := c.account(r)
	if err != nil {
		return out, err
	}
	var after int64
	if in.Cursor != "" {
		if after, err = strconv.ParseInt(in.Cursor, 10, 64); err != nil || after < 0 {
			return out, tollgate.FieldError("cursor", "is not a cursor this API returned")
		}
	}
	p := ledger.EntryListParams{AccountID: id, Kind: tollgate.TxnKind(in.Kind), Book: tollgate.Book(in.Book),
		GrantID: in.GrantID, HoldID: in.HoldID, TxnID: in.TransactionID, After: after, Limit: in.Limit + 1}
	if p.Kind != "" && !p.Kind.Valid() {
		return out, tollgate.FieldError("kind", "unknown kind %q; known: %s", p.Kind, tollgate.TxnKinds())
	}
	if p.Book != "" && !p.Book.Valid() {
		return out, tollgate.FieldError("book", "unknown book %q; known: %s, or revenue:<product>", p.Book, tollgate.Books())
	}
	if p.CreatedFrom, p.CreatedTo, err = in.bounds(); err != nil {
		return out, err
	}
	es, err := s.l.Entries(r.Context(), p)
	if err != nil {
		return out, err
	}
	for i, e := range es {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, strconv.FormatInt(es[i-1].ID, 10)
			break
		}
		out.Data = append(out.Data, entryView{strconv.FormatInt(e.ID, 10), "entry", e.TxnID, string(e.Kind), e.AccountID,
			string(e.Book), e.GrantID, e.HoldID, e.Amount, e.CreatedAt})
	}
	return out, nil
}

// listGrants lists an account's grants, by source and open or closed, a
// page at a time.
func (s *Server) listGrants(r *http.Request, c *call, in *struct {
	accountPath
	Source string `query:"source" enum:"allowance,purchase,promo,refund,royalty,admin,transfer" doc:"Only grants from this source."`
	Status string `query:"status" enum:"open,closed" doc:"open: usable now; closed: expired, or closed by a refund."`
	pageQuery
}) (listView[grantView], error) {
	out := listView[grantView]{Object: "list", Data: []grantView{}}
	id, err := c.account(r)
	if err != nil {
		return out, err
	}
	p := ledger.GrantListParams{AccountID: id, Source: tollgate.GrantSource(in.Source), After: in.Cursor, Limit: in.Limit + 1}
	if p.Source != "" && !p.Source.Valid() {
		return out, tollgate.FieldError("source", "must be one of allowance, purchase, promo, refund, royalty, admin, transfer")
	}
	switch in.Status {
	case "":
	case "open":
		p.Open = ptr(true)
	case "closed":
		p.Open = ptr(false)
	default:
		return out, tollgate.FieldError("status", "must be open (usable now) or closed (expired, or closed by a refund)")
	}
	gs, err := s.l.Grants(r.Context(), p)
	if err != nil {
		return out, err
	}
	for i, g := range gs {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, gs[i-1].ID
			break
		}
		out.Data = append(out.Data, viewGrant(g))
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// listHolds lists an account's holds and usages, newest last, filtered by
// status, product and creation time, a page at a time.
func (s *Server) listHolds(r *http.Request, c *call, in *struct {
	accountPath
	Status  string           `query:"status" enum:"pending,captured,released,expired" doc:"Only holds in this status."`
	Product tollgate.Product `query:"product" doc:"Only holds for this product."`
	createdQuery
	pageQuery
}) (listView[holdView], error) {
	out := listView[holdView]{Object: "list", Data: []holdView{}}
	id, err := c.account(r)
	if err != nil {
		return out, err
	}
	p := ledger.HoldListParams{AccountID: id, Status: tollgate.HoldStatus(in.Status), Product: in.Product,
		After: in.Cursor, Limit: in.Limit + 1}
	switch p.Status {
	case "", tollgate.HoldPending, tollgate.HoldCaptured, tollgate.HoldReleased, tollgate.HoldExpired:
	default:
		return out, tollgate.FieldError("status", "must be pending, captured, released or expired")
	}
	if p.Product != "" && !p.Product.Valid() {
		return out, tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", p.Product)
	}
	if p.CreatedFrom, p.CreatedTo, err = in.bounds(); err != nil {
		return out, err
	}
	hs, err := s.l.Holds(r.Context(), p)
	if err != nil {
		return out, err
	}
	for i, h := range hs {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, hs[i-1].ID
			break
		}
		object := "hold"
		if strings.HasPrefix(h.ID, "use_") {
			object = "usage"
		}
		out.Data = append(out.Data, viewHold(h, object))
	}
	return out, nil
}

type holdRequest struct {
	AccountID  string           `json:"account_id" doc:"Required with an admin key; with an account key, absent or the key's own account."`
	Product    tollgate.Product `json:"product"`
	Credits    amount           `json:"credits" doc:"More than zero, at most 1000000000."`
	QuoteID    string           `json:"quote_id" doc:"A quote of this account: the hold reserves the quote's credits (or fewer, if credits is given), never more, for the quote's product. A quote pays for one job."`
	TTLSeconds *int64           `json:"ttl_seconds" doc:"A hold neither captured nor released by then is released." minimum:"1" maximum:"604800" default:"3600"`
	Metadata   metadata         `json:"metadata"`
}

func (holdRequest) doc() string {
	return "Give product and credits, or a quote_id."
}

func (holdRequest) schemaName() string { return "CreateHoldRequest" }

// usageRequest is a hold request for a usage, which settles at once.
type usageRequest struct {
	AccountID  string           `json:"account_id" doc:"Required with an admin key; with an account key, absent or the key's own account."`
	Product    tollgate.Product `json:"product"`
	Credits    amount           `json:"credits" doc:"More than zero, at most 1000000000."`
	QuoteID    string           `json:"quote_id" doc:"A quote of this account: the hold reserves the quote's credits (or fewer, if credits is given), never more, for the quote's product. A quote pays for one job."`
	TTLSeconds *int64           `json:"ttl_seconds" doc:"Not taken: a usage settles at once; given, it is refused (422)."`
	Metadata   metadata         `json:"metadata"`
}

func (usageRequest) doc() string {
	return "Give product and credits, or a quote_id."
}

func (usageRequest) schemaName() string { return "CreateUsageRequest" }

// holdParams checks a hold or usage request and resolves its account; with
// a quote_id, the quote sets the product and the credits.
func (s *Server) holdParams(r *http.Request, c *call, req holdRequest, usage bool) (ledger.HoldParams, error) {
	p, err := s.holdRequest(r, c, req, usage)
	if err != nil {
		return p, err
	}
	if err := c.mayUse(p.Product); err != nil {
		return p, err
	}
	if !c.key.Admin() {
		p.KeyID, p.KeyMaxPending = c.key.ID, c.key.Limits.MaxPendingHolds
	}
	return p, nil
}

// mayUse refuses a product the caller's key is not for.
func (c *call) mayUse(p tollgate.Product) error {
	if !c.key.MayUse(p) {
		return tollgate.Errorf(tollgate.CodeForbidden, "this key may not spend on %s; it is for %s", p, productNames(c.key.Products))
	}
	return nil
}

func productNames(ps []tollgate.Product) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

func (s *Server) holdRequest(r *http.Request, c *call, req holdRequest, usage bool) (ledger.HoldParams, error) {
	p := ledger.HoldParams{Product: req.Product, Metadata: req.Metadata}
	var err error
	if p.AccountID, err = c.bodyAccount(req.AccountID); err != nil {
		return p, err
	}
	if req.QuoteID != "" {
		if err := s.withQuote(r, &p, req.QuoteID, req.Credits); err != nil {
			return p, err
		}
		return p, ttl(&p, req.TTLSeconds, usage)
	}
	if p.Product == "" {
		return p, tollgate.FieldError("product", "is required: video, assistant or stitch")
	}
	if !p.Product.Valid() {
		return p, tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", p.Product)
	}
	if p.Credits, err = credits("credits", req.Credits); err != nil {
		return p, err
	}
	return p, ttl(&p, req.TTLSeconds, usage)
}

func ttl(p *ledger.HoldParams, seconds *int64, usage bool) error {
	if seconds == nil {
		return nil
	}
	if usage {
		return tollgate.FieldError("ttl_seconds", "usage settles at once and takes no ttl_seconds")
	}
	if *seconds < 1 || *seconds > int64(ledger.MaxHoldTTL/time.Second) {
		return tollgate.FieldError("ttl_seconds", "must be from 1 to %d", int64(ledger.MaxHoldTTL/time.Second))
	}
	p.TTL = time.Duration(*seconds) * time.Second
	return nil
}

func (s *Server) createHold(r *http.Request, c *call, in *struct{ Body holdRequest }) (holdView, error) {
	p, err := s.holdParams(r, c, in.Body, false)
	if err != nil {
		return holdView{}, err
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	p.Idempotency = c.idempotency(r, withoutMetadata(view))
	h, err := s.l.Hold(r.Context(), p)
	if err != nil {
		return holdView{}, s.withMetadata(r, quoteUsed(err, p.QuoteID))
	}
	return viewHold(h, "hold"), nil
}

// withoutMetadata renders a hold's answer to remember for its
// Idempotency-Key without the hold's metadata, which the hold keeps: a
// hold's metadata is stored once. withMetadata puts it back in a replay.
func withoutMetadata(view func(any) any) func(any) any {
	return func(v any) any {
		h := v.(tollgate.Hold)
		h.Metadata = nil
		return view(h)
	}
}

// withMetadata returns err, or for a replayed hold or usage, the replay
// with the hold's metadata, read from the hold (it never changes).
func (s *Server) withMetadata(r *http.Request, err error) error {
	var rep *ledger.Replayed
	if !errors.As(err, &rep) || rep.Status != http.StatusCreated {
		return err
	}
	var head struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(rep.Body, &head) != nil {
		return err
	}
	h, herr := s.l.HoldByID(r.Context(), head.ID, "")
	if herr != nil {
		return herr
	}
	if len(h.Metadata) == 0 {
		return err
	}
	// The remembered answer is the first answer with "metadata":{} (no
	// member before it can hold that text): the replay keeps its bytes
	// but for the metadata.
	md, _ := marshal(h.Metadata)
	out := bytes.Replace(rep.Body, []byte(`"metadata":{}`), append([]byte(`"metadata":`), md...), 1)
	return &ledger.Replayed{Status: rep.Status, Body: out}
}

func (s *Server) createUsage(r *http.Request, c *call, in *struct{ Body usageRequest }) (holdView, error) {
	p, err := s.holdParams(r, c, holdRequest(in.Body), true)
	if err != nil {
		return holdView{}, err
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "usage") }
	p.Idempotency = c.idempotency(r, withoutMetadata(view))
	h, err := s.l.Usage(r.Context(), p)
	if err != nil {
		return holdView{}, s.withMetadata(r, quoteUsed(err, p.QuoteID))
	}
	return viewHold(h, "usage"), nil
}

// holdPath is the {id} of /v1/holds/{id}/...
type holdPath struct {
	ID string `path:"id" doc:"Hold id. With an account key, only its own holds (another's is 404)."`
}

func (s *Server) getHold(r *http.Request, c *call, in *struct{ holdPath }) (holdView, error) {
	h, err := s.l.HoldByID(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return holdView{}, err
	}
	object := "hold"
	if strings.HasPrefix(h.ID, "use_") {
		object = "usage"
	}
	return viewHold(h, object), nil
}

type captureRequest struct {
	Credits amount `json:"credits" doc:"What to charge, from 0 to the held amount; the rest goes back. Default: all of it."`
}

func (captureRequest) doc() string {
	return "The body may be empty: capture the whole hold."
}

func (s *Server) captureHold(r *http.Request, c *call, in *struct {
	holdPath
	Body captureRequest `body:"optional"`
}) (holdView, error) {
	req := in.Body
	p := ledger.CaptureParams{HoldID: in.ID, AccountID: c.key.AccountID, Products: c.key.Products}
	if req.Credits.set {
		if req.Credits.err != nil {
			return holdView{}, tollgate.FieldError("credits", "%v", req.Credits.err)
		}
		if req.Credits.v < 0 {
			return holdView{}, tollgate.FieldError("credits", "must not be negative, got %s", req.Credits.raw)
		}
		p.Credits = &req.Credits.v
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	p.Idempotency = c.idempotency(r, view)
	h, err := s.l.Capture(r.Context(), p)
	if err != nil {
		return holdView{}, err
	}
	return viewHold(h, "hold"), nil
}

func (s *Server) releaseHold(r *http.Request, c *call, in *struct {
	holdPath
	Body emptyRequest `body:"optional"`
}) (holdView, error) {
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	h, err := s.l.Release(r.Context(), ledger.ReleaseParams{HoldID: in.ID, AccountID: c.key.AccountID, Products: c.key.Products,
		Idempotency: c.idempotency(r, view)})
	if err != nil {
		return holdView{}, err
	}
	return viewHold(h, "hold"), nil
}
