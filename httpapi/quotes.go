package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/pricing"
	"tollgate/store/record"
)

type quoteRequest struct {
	AccountID    string           `json:"account_id"`
	Product      tollgate.Product `json:"product"`
	Model        string           `json:"model"`
	Seconds      int              `json:"seconds"`
	Size         string           `json:"size"`
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
}

type unitPricesView struct {
	PerSecond tollgate.Credits `json:"per_second"`
	PerMinute tollgate.Credits `json:"per_minute"`
}

type moneyView struct {
	tollgate.Money
	PackID string `json:"pack_id"`
}

type paymentLineView struct {
	GrantID   string           `json:"grant_id,omitempty"`
	Source    string           `json:"source"`
	Credits   tollgate.Credits `json:"credits"`
	ExpiresAt *time.Time       `json:"expires_at"`
}

type paymentView struct {
	Covered        bool              `json:"covered"`
	From           []paymentLineView `json:"from"`
	Shortfall      tollgate.Credits  `json:"shortfall"`
	AvailableAfter tollgate.Credits  `json:"available_after"`
}

type quoteView struct {
	ID         string           `json:"id"`
	Object     string           `json:"object"`
	AccountID  string           `json:"account_id"`
	Product    tollgate.Product `json:"product"`
	Model      string           `json:"model,omitempty"`
	Resolution string           `json:"resolution,omitempty"`
	Seconds    int              `json:"seconds,omitempty"`
	Credits    tollgate.Credits `json:"credits"`
	Breakdown  []pricing.Line   `json:"breakdown"`
	UnitPrices *unitPricesView  `json:"unit_prices,omitempty"`
	Money      *moneyView       `json:"money"`
	Payment    paymentView      `json:"payment"`
	CreatedAt  time.Time        `json:"created_at"`
	ExpiresAt  time.Time        `json:"expires_at"`
}

func (s *Server) createQuote(w http.ResponseWriter, r *http.Request, c *call) error {
	var req quoteRequest
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	acct, err := c.bodyAccount(req.AccountID)
	if err != nil {
		return err
	}
	if _, err := s.l.Account(r.Context(), acct); err != nil {
		return err
	}
	price, now, err := s.Quotes.Price(r.Context(), pricing.Request{Product: req.Product, Model: req.Model, Seconds: req.Seconds,
		Size: req.Size, InputTokens: req.InputTokens, OutputTokens: req.OutputTokens})
	if err == nil {
		err = c.mayUse(price.Product)
	}
	if err != nil {
		return err
	}
	plan, err := s.l.Preview(r.Context(), acct, price.Product, price.Credits)
	if err != nil {
		return err
	}
	v := quoteView{ID: tollgate.NewID("quote"), Object: "quote", AccountID: acct, Product: price.Product, Model: price.Model,
		Resolution: price.Resolution, Seconds: price.Seconds, Credits: price.Credits, Breakdown: price.Lines,
		CreatedAt: now, ExpiresAt: s.Quotes.ExpiresAt(now)}
	if price.Seconds > 0 {
		v.UnitPrices = &unitPricesView{PerSecond: price.PerSecond(), PerMinute: price.PerMinute()}
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return err
	}
	if pack, ok := pricing.BestPack(packs, price.Product); ok {
		v.Money = &moneyView{Money: pricing.MoneyFor(pack, price.Credits), PackID: pack.ID}
	}
	v.Payment = paymentView{Covered: plan.Covered, From: []paymentLineView{}, Shortfall: plan.Shortfall, AvailableAfter: plan.AvailableAfter}
	for _, l := range plan.Lines {
		v.Payment.From = append(v.Payment.From, paymentLineView{l.GrantID, string(l.Source), l.Credits, l.ExpiresAt})
	}
	details, err := marshal(v)
	if err != nil {
		return err
	}
	q := tollgate.Quote{ID: v.ID, AccountID: acct, Product: price.Product, Credits: price.Credits, Details: details,
		CreatedAt: now, ExpiresAt: v.ExpiresAt}
	idem := c.idempotency(r, http.StatusCreated, func(any) any { return json.RawMessage(details) })
	if _, err := s.l.WriteIdempotent(r.Context(), idem, func(tx record.Tx) (any, error) {
		return q, tx.QuoteInsert(r.Context(), q)
	}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, err = w.Write(details)
	return err
}

func (s *Server) getQuote(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := s.Quotes.Get(r.Context(), r.PathValue("id"), c.key.AccountID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(q.Details)
	return err
}

// bodyAccount resolves the account a request body names: required with an
// admin key, optional (and only its own) with an account key.
func (c *call) bodyAccount(id string) (string, error) {
	switch {
	case c.key.Admin() && id == "":
		return "", tollgate.FieldError("account_id", "is required with an admin key")
	case !c.key.Admin() && id != "" && id != c.key.AccountID:
		return "", tollgate.Errorf(tollgate.CodeNotFound, "account %s not found", id)
	case !c.key.Admin():
		return c.key.AccountID, nil
	}
	return id, nil
}

// withQuote applies a quote_id to hold or usage parameters: the credits are
// the quote's (or fewer, if asked), never more.
func (s *Server) withQuote(r *http.Request, p *ledger.HoldParams, quoteID string, asked amount) error {
	if quoteID == "" {
		return nil
	}
	var want tollgate.Credits
	if asked.set {
		c, err := credits("credits", asked)
		if err != nil {
			return err
		}
		want = c
	}
	q, c, err := s.Quotes.Usable(r.Context(), quoteID, p.AccountID, p.Product, want)
	if err != nil {
		return err
	}
	p.Product, p.Credits, p.QuoteID = q.Product, c, q.ID
	return nil
}

// quoteUsed turns a second use of a quote into a clear answer.
func quoteUsed(err error, quoteID string) error {
	if quoteID != "" && errors.Is(err, tollgate.ErrConflict) {
		return tollgate.Errorf(tollgate.CodeQuoteUsed, "quote %s has paid for a job already; ask for a new quote", quoteID)
	}
	return err
}

type priceRuleView struct {
	ID          string           `json:"id"`
	Product     tollgate.Product `json:"product"`
	Meter       string           `json:"meter"`
	Tier        string           `json:"tier,omitempty"`
	Resolution  string           `json:"resolution,omitempty"`
	Per         int64            `json:"per"`
	Credits     tollgate.Credits `json:"credits"`
	Money       []moneyView      `json:"money"` // the same price at each pack's rate
	EffectiveAt time.Time        `json:"effective_at"`
}

type packView struct {
	ID           string             `json:"id"`
	Object       string             `json:"object"`
	Credits      tollgate.Credits   `json:"credits"`
	Price        tollgate.Money     `json:"price"`
	ValidForDays int                `json:"valid_for_days"`
	Products     []tollgate.Product `json:"products"`
	Active       bool               `json:"active"`
}

func ruleView(r pricing.Rule, packs []tollgate.Pack) priceRuleView {
	v := priceRuleView{ID: r.ID, Product: r.Product, Meter: r.Meter, Tier: r.Tier, Resolution: r.Resolution, Per: r.Per,
		Credits: r.Credits, Money: []moneyView{}, EffectiveAt: r.EffectiveAt}
	for _, p := range packs {
		if p.Active && p.Pays(r.Product) {
			v.Money = append(v.Money, moneyView{Money: pricing.MoneyFor(p, r.Credits), PackID: p.ID})
		}
	}
	return v
}

// getPrices is public: the price table in force and every scheduled change.
func (s *Server) getPrices(w http.ResponseWriter, r *http.Request) {
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		s.problem(w, r, err)
		return
	}
	catalog, err := s.Quotes.Prices(r.Context())
	if err != nil {
		s.problem(w, r, err)
		return
	}
	now := s.Quotes.Clock.Now()
	out := struct {
		Object    string          `json:"object"`
		AsOf      time.Time       `json:"as_of"`
		Current   []priceRuleView `json:"current"`
		Scheduled []priceRuleView `json:"scheduled"`
		Models    []pricing.Model `json:"models"`
		Packs     []packView      `json:"packs"`
	}{Object: "price_table", AsOf: now, Current: []priceRuleView{}, Scheduled: []priceRuleView{}, Models: catalog.Models, Packs: packViews(packs, true)}
	for _, rule := range catalog.Current(now) {
		out.Current = append(out.Current, ruleView(rule, packs))
	}
	for _, rule := range catalog.Scheduled(now) {
		out.Scheduled = append(out.Scheduled, ruleView(rule, packs))
	}
	s.reply(w, r, http.StatusOK, out)
}

func viewPack(p tollgate.Pack) packView {
	return packView{p.ID, "pack", p.Credits, p.Price, p.ValidForDays, productList(p.Products), p.Active}
}

func packViews(packs []tollgate.Pack, activeOnly bool) []packView {
	out := []packView{}
	for _, p := range packs {
		if p.Active || !activeOnly {
			out = append(out, viewPack(p))
		}
	}
	return out
}

// getPacks is public: the credit packs for sale.
func (s *Server) getPacks(w http.ResponseWriter, r *http.Request) {
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		s.problem(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, listView[packView]{Object: "list", Data: packViews(packs, true)})
}

// createPriceRule adds a price rule version. A price increase must be
// announced the notice period ahead unless forced.
func (s *Server) createPriceRule(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		ID          string           `json:"id"`
		Product     tollgate.Product `json:"product"`
		Meter       string           `json:"meter"`
		Tier        string           `json:"tier"`
		Resolution  string           `json:"resolution"`
		Per         int64            `json:"per"`
		Credits     amount           `json:"credits"`
		EffectiveAt string           `json:"effective_at"`
		Force       bool             `json:"force"`
	}
	if err := decode(c.body, &req, false); err != nil {
		return err
	}
	rule := pricing.Rule{ID: req.ID, Product: req.Product, Meter: req.Meter, Tier: req.Tier, Resolution: req.Resolution, Per: req.Per}
	if !req.Credits.set || req.Credits.err != nil || req.Credits.v < 0 || req.Credits.v > tollgate.MaxCredits {
		return tollgate.FieldError("credits", "is required: a decimal amount from 0 to %s", tollgate.MaxCredits)
	}
	rule.Credits = req.Credits.v
	eff, err := parseTime("effective_at", req.EffectiveAt)
	if err != nil {
		return err
	}
	if eff != nil {
		rule.EffectiveAt = *eff
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return err
	}
	view := func(v any) any { return ruleView(v.(pricing.Rule), packs) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, http.StatusCreated, view), func(tx record.Tx) (any, error) {
		added, err := s.Quotes.AddRule(r.Context(), tx, rule, req.Force)
		if err != nil {
			return nil, err
		}
		return added, s.l.Audit(r.Context(), tx, "price_rule.create", "", added.ID, map[string]any{"rule": added, "force": req.Force})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, view(res))
}
