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

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Plan       string `json:"plan"`
		Timezone   string `json:"timezone"`
		LowBalance amount `json:"low_balance_threshold"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	if req.LowBalance.err != nil {
		return tollgate.FieldError("low_balance_threshold", "%v", req.LowBalance.err)
	}
	view := func(v any) any { return viewAccount(v.(tollgate.Account)) }
	a, err := s.l.CreateAccount(r.Context(), ledger.AccountParams{ID: req.ID, Name: req.Name, Plan: req.Plan, Timezone: req.Timezone,
		LowBalance: req.LowBalance.v, Idempotency: c.idempotency(r, http.StatusCreated, view)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(a))
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name       *string `json:"name"`
		Plan       *string `json:"plan"`
		Timezone   *string `json:"timezone"`
		Status     *string `json:"status"`
		LowBalance amount  `json:"low_balance_threshold"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	ch := ledger.AccountChanges{Name: req.Name, Plan: req.Plan, Timezone: req.Timezone}
	if req.Status != nil {
		st := tollgate.AccountStatus(*req.Status)
		ch.Status = &st
	}
	if req.LowBalance.set {
		if req.LowBalance.err != nil {
			return tollgate.FieldError("low_balance_threshold", "%v", req.LowBalance.err)
		}
		ch.LowBalance = &req.LowBalance.v
	}
	view := func(v any) any { return viewAccount(v.(tollgate.Account)) }
	ch.Idempotency = c.idempotency(r, http.StatusOK, view)
	a, err := s.l.UpdateAccount(r.Context(), r.PathValue("id"), ch)
	if err != nil {
		return err
	}
	s.keys.Clear() // the plan of cached keys may have changed
	return writeJSON(w, http.StatusOK, view(a))
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	as, err := s.l.Accounts(r.Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	out := listView[accountView]{Object: "list", Data: []accountView{}}
	for i, a := range as {
		if i == limit {
			out.HasMore, out.NextCursor = true, as[i-1].ID
			break
		}
		out.Data = append(out.Data, viewAccount(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.account(r)
	if err != nil {
		return err
	}
	a, err := s.l.Account(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewAccount(a))
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name      string             `json:"name"`
		Scopes    []tollgate.Scope   `json:"scopes"`
		Products  []tollgate.Product `json:"products"`
		ExpiresAt string             `json:"expires_at"`
		Limits    *limitsRequest     `json:"limits"`
	}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	p := ledger.KeyParams{AccountID: r.PathValue("id"), Name: req.Name, Scopes: req.Scopes, Products: req.Products}
	var err error
	if p.ExpiresAt, err = parseTime("expires_at", req.ExpiresAt); err != nil {
		return err
	}
	if req.Limits != nil {
		p.Limits = req.Limits.limits()
	}
	// The secret is shown in this answer only: the answer remembered for
	// a repeated Idempotency-Key leaves it out, so it is never stored.
	remembered := func(v any) any { return viewKey(v.(ledger.NewKey).APIKey, nil) }
	p.Idempotency = c.idempotency(r, http.StatusCreated, remembered)
	k, err := s.l.CreateKey(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, viewKey(k.APIKey, &k.Secret))
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	ks, err := s.l.Keys(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := listView[keyView]{Object: "list", Data: []keyView{}}
	for _, k := range ks {
		out.Data = append(out.Data, viewKey(k, nil))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct{}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	view := func(v any) any { return viewKey(v.(tollgate.APIKey), nil) }
	k, err := s.l.RevokeKey(r.Context(), r.PathValue("id"), r.PathValue("key_id"), c.idempotency(r, http.StatusOK, view))
	if err != nil {
		return err
	}
	// This instance refuses it at once; others when their cache expires.
	s.keys.Range(func(h, v any) bool {
		if v.(cachedKey).key.ID == k.ID {
			s.keys.Delete(h)
		}
		return true
	})
	return writeJSON(w, http.StatusOK, view(k))
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Credits      amount             `json:"credits"`
		Source       string             `json:"source"`
		Products     []tollgate.Product `json:"products"`
		Priority     int                `json:"priority"`
		EffectiveAt  string             `json:"effective_at"`
		ExpiresAt    string             `json:"expires_at"`
		ValidForDays *int               `json:"valid_for_days"`
		ExternalRef  string             `json:"external_ref"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	p := ledger.GrantParams{AccountID: r.PathValue("id"), Source: tollgate.GrantSource(req.Source),
		Products: req.Products, Priority: req.Priority, ExternalRef: req.ExternalRef}
	var err error
	if p.Credits, err = credits("credits", req.Credits); err != nil {
		return err
	}
	if p.EffectiveAt, err = parseTime("effective_at", req.EffectiveAt); err != nil {
		return err
	}
	if p.ExpiresAt, err = parseTime("expires_at", req.ExpiresAt); err != nil {
		return err
	}
	if d := req.ValidForDays; d != nil {
		if *d < 1 || *d > 36500 || (p.EffectiveAt != nil && p.EffectiveAt.AddDate(0, 0, *d).Year() > 9999) {
			return tollgate.FieldError("valid_for_days", "must be from 1 to 36500, and end before the year 10000")
		}
		p.ValidFor = time.Duration(*d) * 24 * time.Hour
	}
	view := func(v any) any { return viewGrant(v.(tollgate.Grant)) }
	p.Idempotency = c.idempotency(r, http.StatusCreated, view)
	g, err := s.l.Grant(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(g))
}

func (s *Server) getBalance(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.account(r)
	if err != nil {
		return err
	}
	b, err := s.l.Balance(r.Context(), id)
	if err != nil {
		return err
	}
	v := viewBalance(b)
	if v.UpcomingPriceChanges, err = s.upcomingPrices(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// priceChangeView is a price rule version that takes effect later.
type priceChangeView struct {
	RuleID          string            `json:"rule_id"`
	Product         tollgate.Product  `json:"product"`
	Meter           string            `json:"meter"`
	Per             int64             `json:"per"`
	Credits         tollgate.Credits  `json:"credits"`
	PreviousCredits *tollgate.Credits `json:"previous_credits"`
	EffectiveAt     time.Time         `json:"effective_at"`
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

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.account(r)
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	var after int64
	if cursor != "" {
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil || after < 0 {
			return tollgate.FieldError("cursor", "is not a cursor this API returned")
		}
	}
	q := r.URL.Query()
	p := ledger.EntryListParams{AccountID: id, Kind: tollgate.TxnKind(q.Get("kind")), Book: tollgate.Book(q.Get("book")),
		GrantID: q.Get("grant_id"), HoldID: q.Get("hold_id"), TxnID: q.Get("transaction_id"), After: after, Limit: limit + 1}
	if p.Kind != "" && !p.Kind.Valid() {
		return tollgate.FieldError("kind", "unknown kind %q; known: %s", p.Kind, tollgate.TxnKinds())
	}
	if p.Book != "" && !p.Book.Valid() {
		return tollgate.FieldError("book", "unknown book %q; known: %s, or revenue:<product>", p.Book, tollgate.Books())
	}
	if p.CreatedFrom, p.CreatedTo, err = createdRange(q); err != nil {
		return err
	}
	es, err := s.l.Entries(r.Context(), p)
	if err != nil {
		return err
	}
	out := listView[entryView]{Object: "list", Data: []entryView{}}
	for i, e := range es {
		if i == limit {
			out.HasMore, out.NextCursor = true, strconv.FormatInt(es[i-1].ID, 10)
			break
		}
		out.Data = append(out.Data, entryView{strconv.FormatInt(e.ID, 10), "entry", e.TxnID, string(e.Kind), e.AccountID,
			string(e.Book), e.GrantID, e.HoldID, e.Amount, e.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

// listGrants lists an account's grants, by source and open or closed, a
// page at a time.
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.account(r)
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := ledger.GrantListParams{AccountID: id, Source: tollgate.GrantSource(q.Get("source")), After: cursor, Limit: limit + 1}
	if p.Source != "" && !p.Source.Valid() {
		return tollgate.FieldError("source", "must be one of allowance, purchase, promo, refund, royalty, admin, transfer")
	}
	switch q.Get("status") {
	case "":
	case "open":
		p.Open = ptr(true)
	case "closed":
		p.Open = ptr(false)
	default:
		return tollgate.FieldError("status", "must be open (usable now) or closed (expired, or closed by a refund)")
	}
	gs, err := s.l.Grants(r.Context(), p)
	if err != nil {
		return err
	}
	out := listView[grantView]{Object: "list", Data: []grantView{}}
	for i, g := range gs {
		if i == limit {
			out.HasMore, out.NextCursor = true, gs[i-1].ID
			break
		}
		out.Data = append(out.Data, viewGrant(g))
	}
	return writeJSON(w, http.StatusOK, out)
}

func ptr[T any](v T) *T { return &v }

// listHolds lists an account's holds and usages, newest last, filtered by
// status, product and creation time, a page at a time.
func (s *Server) listHolds(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.account(r)
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := ledger.HoldListParams{AccountID: id, Status: tollgate.HoldStatus(q.Get("status")), Product: tollgate.Product(q.Get("product")),
		After: cursor, Limit: limit + 1}
	switch p.Status {
	case "", tollgate.HoldPending, tollgate.HoldCaptured, tollgate.HoldReleased, tollgate.HoldExpired:
	default:
		return tollgate.FieldError("status", "must be pending, captured, released or expired")
	}
	if p.Product != "" && !p.Product.Valid() {
		return tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", p.Product)
	}
	if p.CreatedFrom, p.CreatedTo, err = createdRange(q); err != nil {
		return err
	}
	hs, err := s.l.Holds(r.Context(), p)
	if err != nil {
		return err
	}
	out := listView[holdView]{Object: "list", Data: []holdView{}}
	for i, h := range hs {
		if i == limit {
			out.HasMore, out.NextCursor = true, hs[i-1].ID
			break
		}
		object := "hold"
		if strings.HasPrefix(h.ID, "use_") {
			object = "usage"
		}
		out.Data = append(out.Data, viewHold(h, object))
	}
	return writeJSON(w, http.StatusOK, out)
}

type holdRequest struct {
	AccountID  string            `json:"account_id"`
	Product    tollgate.Product  `json:"product"`
	Credits    amount            `json:"credits"`
	QuoteID    string            `json:"quote_id"`
	TTLSeconds *int64            `json:"ttl_seconds"`
	Metadata   map[string]string `json:"metadata"`
}

// holdParams checks a hold or usage request and resolves its account; with
// a quote_id, the quote sets the product and the credits.
func (s *Server) holdParams(r *http.Request, c *call, usage bool) (ledger.HoldParams, error) {
	p, err := s.holdRequest(r, c, usage)
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

func (s *Server) holdRequest(r *http.Request, c *call, usage bool) (ledger.HoldParams, error) {
	var req holdRequest
	if err := decode(c.body, &req, false); err != nil {
		return ledger.HoldParams{}, err
	}
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

func (s *Server) createHold(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := s.holdParams(r, c, false)
	if err != nil {
		return err
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	p.Idempotency = c.idempotency(r, http.StatusCreated, withoutMetadata(view))
	h, err := s.l.Hold(r.Context(), p)
	if err != nil {
		return s.withMetadata(r, quoteUsed(err, p.QuoteID))
	}
	return writeJSON(w, http.StatusCreated, view(h))
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

func (s *Server) createUsage(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := s.holdParams(r, c, true)
	if err != nil {
		return err
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "usage") }
	p.Idempotency = c.idempotency(r, http.StatusCreated, withoutMetadata(view))
	h, err := s.l.Usage(r.Context(), p)
	if err != nil {
		return s.withMetadata(r, quoteUsed(err, p.QuoteID))
	}
	return writeJSON(w, http.StatusCreated, view(h))
}

func (s *Server) getHold(w http.ResponseWriter, r *http.Request, c *call) error {
	h, err := s.l.HoldByID(r.Context(), r.PathValue("id"), c.key.AccountID)
	if err != nil {
		return err
	}
	object := "hold"
	if strings.HasPrefix(h.ID, "use_") {
		object = "usage"
	}
	return writeJSON(w, http.StatusOK, viewHold(h, object))
}

func (s *Server) captureHold(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Credits amount `json:"credits"`
	}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	p := ledger.CaptureParams{HoldID: r.PathValue("id"), AccountID: c.key.AccountID, Products: c.key.Products}
	if req.Credits.set {
		if req.Credits.err != nil {
			return tollgate.FieldError("credits", "%v", req.Credits.err)
		}
		if req.Credits.v < 0 {
			return tollgate.FieldError("credits", "must not be negative, got %s", req.Credits.raw)
		}
		p.Credits = &req.Credits.v
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	p.Idempotency = c.idempotency(r, http.StatusOK, view)
	h, err := s.l.Capture(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(h))
}

func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct{}
	if err := decode(c.body, &req, true); err != nil {
		return err
	}
	view := func(v any) any { return viewHold(v.(tollgate.Hold), "hold") }
	h, err := s.l.Release(r.Context(), ledger.ReleaseParams{HoldID: r.PathValue("id"), AccountID: c.key.AccountID, Products: c.key.Products,
		Idempotency: c.idempotency(r, http.StatusOK, view)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(h))
}
