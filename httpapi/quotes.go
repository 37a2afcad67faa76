package httpapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/pricing"
	"tollgate/router"
	"tollgate/store/record"
)

type quoteRequest struct {
	AccountID    string           `json:"account_id" doc:"Required with an admin key; with an account key, absent or the key's own account."`
	Product      tollgate.Product `json:"product" required:"true"`
	Model        string           `json:"model" doc:"video: a model id from /v1/prices, or auto (the cheapest that can do it). Default auto."`
	Seconds      int              `json:"seconds" doc:"video and stitch: the clip's length; video models list the durations they make."`
	Size         string           `json:"size" doc:"video: WIDTHxHEIGHT, default 1280x720."`
	InputTokens  int64            `json:"input_tokens" minimum:"0"`
	OutputTokens int64            `json:"output_tokens" minimum:"0"`
	Policy       string           `json:"policy" enum:"cheapest,fastest,balanced" doc:"video: how the router ranks providers; default cheapest (auto:fastest means fastest)."`
	Cameos       []string         `json:"cameos" doc:"video: the cameos (ids or @handles) the video will show; each of another account adds its fee as a line of its own. Consent is checked now and again when the video is held."`
	Prompt       string           `json:"prompt" doc:"video: the prompt, whose exact @handle tokens name cameos too."`
}

func (quoteRequest) schemaName() string { return "CreateQuoteRequest" }

type unitPricesView struct {
	PerSecond tollgate.Credits `json:"per_second"`
	PerMinute tollgate.Credits `json:"per_minute"`
}

type moneyView struct {
	tollgate.Money
	PackID string `json:"pack_id"`
}

func (moneyView) schemaName() string { return "PackMoney" }

type paymentLineView struct {
	GrantID   string               `json:"grant_id,omitempty"`
	Source    tollgate.GrantSource `json:"source"`
	Credits   tollgate.Credits     `json:"credits"`
	ExpiresAt *time.Time           `json:"expires_at"`
}

type paymentView struct {
	Covered        bool              `json:"covered"`
	From           []paymentLineView `json:"from"`
	Shortfall      tollgate.Credits  `json:"shortfall"`
	AvailableAfter tollgate.Credits  `json:"available_after"`
}

type quoteView struct {
	ID         string           `json:"id"`
	Object     string           `json:"object" const:"quote"`
	AccountID  string           `json:"account_id"`
	Product    tollgate.Product `json:"product"`
	Model      string           `json:"model,omitempty"`
	Resolution string           `json:"resolution,omitempty"`
	Seconds    int              `json:"seconds,omitempty"`
	Credits    tollgate.Credits `json:"credits"`
	Breakdown  []pricing.Line   `json:"breakdown"`
	Fees       []feeView        `json:"fees,omitempty" doc:"video: the fee of each cameo of another account it shows, included in credits; paid to its owner only if the video is delivered."`
	UnitPrices *unitPricesView  `json:"unit_prices,omitempty"`
	Money      *moneyView       `json:"money" doc:"The price in money at the cheapest pack's rate."`
	Payment    paymentView      `json:"payment"`
	Route      *routeView       `json:"route,omitempty" doc:"video: every provider that can make it now, the router's choice and why."`
	CreatedAt  time.Time        `json:"created_at"`
	ExpiresAt  time.Time        `json:"expires_at"`
}

type routeView struct {
	Policy     string          `json:"policy" enum:"cheapest,fastest,balanced"`
	Chosen     candidateView   `json:"chosen"`
	Reason     string          `json:"reason"`
	Candidates []candidateView `json:"candidates" doc:"Best first. The user pays the quote whichever of them makes it; a fallback never costs more."`
}

type candidateView struct {
	Provider        string           `json:"provider"`
	Model           string           `json:"model"`
	ProviderModel   string           `json:"provider_model"`
	Seconds         int              `json:"seconds" doc:"What is asked of the provider: at least the seconds quoted; a longer clip is trimmed."`
	Credits         tollgate.Credits `json:"credits" doc:"What the user would pay for its model."`
	ExpectedSeconds int64            `json:"expected_seconds" doc:"Expected time to make it: observed, else the catalog's."`
	Demo            bool             `json:"demo,omitempty" doc:"The local renderer stands in (no provider configured)."`
	Cost            *tollgate.Money  `json:"cost,omitempty" doc:"Admin keys, in the answer that makes the quote: what the provider charges. Not stored on the quote."`
}

func viewRoute(cands []router.Candidate, policy string) *routeView {
	if policy == "" {
		policy = router.Cheapest
	}
	rv := &routeView{Policy: policy, Reason: router.Why(cands, policy)}
	for _, c := range cands {
		cost := c.Cost
		rv.Candidates = append(rv.Candidates, candidateView{Provider: c.Offer.Provider, Model: c.Offer.Model, ProviderModel: c.Offer.UpstreamModel,
			Seconds: c.Seconds, Credits: c.Credits, ExpectedSeconds: int64(c.Expected / time.Second), Demo: c.Demo, Cost: &cost})
	}
	rv.Chosen = rv.Candidates[0]
	return rv
}

// withoutCosts is rv as stored and shown to account keys: no provider's
// money cost.
func (rv *routeView) withoutCosts() *routeView {
	if rv == nil {
		return nil
	}
	out := *rv
	out.Candidates = make([]candidateView, len(rv.Candidates))
	for i, c := range rv.Candidates {
		c.Cost = nil
		out.Candidates[i] = c
	}
	out.Chosen.Cost = nil
	return &out
}

func (s *Server) createQuote(r *http.Request, c *call, in *struct {
	Body           quoteRequest
	AcceptLanguage string `header:"Accept-Language" doc:"The money equivalent is shown in the account's currency, else in the one this suggests (fr-FR: eur, id: idr), where a pack is sold in it."`
}) (storedJSON[quoteView], error) {
	req := in.Body
	acct, err := c.bodyAccount(req.AccountID)
	if err != nil {
		return nil, err
	}
	account, err := s.l.Account(r.Context(), acct)
	if err != nil {
		return nil, err
	}
	currencies := buyerCurrencies(account.Currency, localCurrencies(in.AcceptLanguage))
	if req.Policy != "" && req.Product != tollgate.ProductVideo {
		return nil, tollgate.FieldError("policy", "is for video quotes only")
	}
	price, now, err := s.Quotes.Price(r.Context(), pricing.Request{Product: req.Product, Model: req.Model, Seconds: req.Seconds,
		Size: req.Size, InputTokens: req.InputTokens, OutputTokens: req.OutputTokens})
	if err == nil {
		err = c.mayUse(price.Product)
	}
	if err != nil {
		return nil, err
	}
	var route *routeView
	if price.Product == tollgate.ProductVideo && s.Videos != nil {
		// The router chooses among the providers that can make it now; for
		// auto, its choice is the model quoted.
		model := req.Model
		if model == "" {
			model = "auto"
		}
		cands, err := s.Videos.Route(r.Context(), model, req.Policy, price.Seconds, cmp.Or(req.Size, pricing.DefaultSize))
		if err != nil {
			return nil, err
		}
		route = viewRoute(cands, req.Policy)
		if chosen := cands[0].Offer.Model; strings.HasPrefix(model, "auto") && chosen != price.Model {
			if price, now, err = s.Quotes.Price(r.Context(), pricing.Request{Product: req.Product, Model: chosen, Seconds: req.Seconds, Size: req.Size}); err != nil {
				return nil, err
			}
		}
	}
	var fees []tollgate.Fee
	var cameos []tollgate.Cameo
	if len(req.Cameos) > 0 || strings.Contains(req.Prompt, "@") {
		if price.Product != tollgate.ProductVideo || s.Cameos == nil {
			return nil, tollgate.FieldError("cameos", "are for video quotes only")
		}
		use, err := s.Cameos.Resolve(r.Context(), acct, "cameos", req.Cameos, req.Prompt)
		if err != nil {
			return nil, err
		}
		fees, cameos = use.Fees, use.Cameos
	}
	total := price.Credits
	for _, f := range fees {
		total += f.Credits
	}
	plan, err := s.l.Preview(r.Context(), acct, price.Product, total)
	if err != nil {
		return nil, err
	}
	v := quoteView{ID: tollgate.NewID("quote"), Object: "quote", AccountID: acct, Product: price.Product, Model: price.Model,
		Resolution: price.Resolution, Seconds: price.Seconds, Credits: total, Breakdown: price.Lines,
		CreatedAt: now, ExpiresAt: s.Quotes.ExpiresAt(now)}
	for _, f := range fees {
		fv := feeView{Kind: string(f.Kind), CameoID: f.Subject, Handle: "@" + f.Handle, Credits: f.Credits}
		for _, c := range cameos {
			if c.ID == f.Subject && c.FeeNextAt != nil && c.FeeNextAt.After(now) {
				fv.NextCredits, fv.NextAt = &c.FeeNext, c.FeeNextAt
			}
		}
		v.Fees = append(v.Fees, fv)
	}
	if price.Seconds > 0 {
		v.UnitPrices = &unitPricesView{PerSecond: price.PerSecond(), PerMinute: price.PerMinute()}
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return nil, err
	}
	if pack, packPrice, ok := pricing.BestPackIn(packs, price.Product, currencies); ok {
		v.Money = &moneyView{Money: pricing.MoneyAt(pack, packPrice, total), PackID: pack.ID}
	}
	v.Payment = paymentView{Covered: plan.Covered, From: []paymentLineView{}, Shortfall: plan.Shortfall, AvailableAfter: plan.AvailableAfter}
	for _, l := range plan.Lines {
		v.Payment.From = append(v.Payment.From, paymentLineView{l.GrantID, l.Source, l.Credits, l.ExpiresAt})
	}
	v.Route = route.withoutCosts()
	details, err := marshal(v)
	if err != nil {
		return nil, err
	}
	q := tollgate.Quote{ID: v.ID, AccountID: acct, Product: price.Product, Credits: total, Details: details,
		CreatedAt: now, ExpiresAt: v.ExpiresAt}
	idem := c.idempotency(r, func(any) any { return json.RawMessage(details) })
	if _, err := s.l.WriteIdempotent(r.Context(), idem, func(tx record.Tx) (any, error) {
		return q, tx.QuoteInsert(r.Context(), q)
	}); err != nil {
		return nil, err
	}
	if route != nil && c.key.Admin() {
		v.Route = route
		return marshal(v)
	}
	return details, nil
}

func (s *Server) getQuote(r *http.Request, c *call, in *struct {
	ID string `path:"id" doc:"Quote id (quote_...). With an account key, only its own quotes (another's is 404)."`
}) (storedJSON[quoteView], error) {
	q, err := s.Quotes.Get(r.Context(), in.ID, c.key.AccountID)
	if err != nil {
		return nil, err
	}
	return q.Details, nil
}

// storedJSON is an answer stored as JSON when first made (a quote, which
// keeps its terms): T, written as stored.
type storedJSON[T any] []byte

func (storedJSON[T]) schemaOf() reflect.Type { return reflect.TypeFor[T]() }

func (j storedJSON[T]) writeAnswer(w http.ResponseWriter, status int) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(j)
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
	Per         int64            `json:"per" doc:"Credits are per this many units of the meter."`
	Credits     tollgate.Credits `json:"credits"`
	Money       []moneyView      `json:"money"` // the same price at each pack's rate, in each currency the pack is sold in
	EffectiveAt time.Time        `json:"effective_at"`
}

type packView struct {
	ID           string             `json:"id"`
	Object       string             `json:"object" const:"pack"`
	Credits      tollgate.Credits   `json:"credits"`
	Price        tollgate.Money     `json:"price"`
	ValidForDays int                `json:"valid_for_days"`
	Products     []tollgate.Product `json:"products"`
	Active       bool               `json:"active" doc:"Inactive packs are no longer sold."`
	Prices       []tollgate.Money   `json:"prices" doc:"Its price in other currencies than price's."`
}

// ruleView is a rule with its money equivalent at each active pack's rate
// in every currency the pack is sold in: those in want (the buyer's, most
// wanted first) before the others, then each pack's default first.
func ruleView(r pricing.Rule, packs []tollgate.Pack, want []string) priceRuleView {
	v := priceRuleView{ID: r.ID, Product: r.Product, Meter: r.Meter, Tier: r.Tier, Resolution: r.Resolution, Per: r.Per,
		Credits: r.Credits, Money: []moneyView{}, EffectiveAt: r.EffectiveAt}
	for _, p := range packs {
		if !p.Active || !p.Pays(r.Product) {
			continue
		}
		for _, cur := range p.Currencies() {
			price, _ := p.PriceIn(cur)
			v.Money = append(v.Money, moneyView{Money: pricing.MoneyAt(p, price, r.Credits), PackID: p.ID})
		}
	}
	slices.SortStableFunc(v.Money, func(a, b moneyView) int { return cmp.Compare(wantRank(want, a.Currency), wantRank(want, b.Currency)) })
	return v
}

// wantRank is where currency c stands in want: its index, or after all.
func wantRank(want []string, c string) int {
	if i := slices.Index(want, c); i >= 0 {
		return i
	}
	return len(want)
}

// buyerCurrency is the first of want that one of the active packs is sold
// in, "" when none is.
func buyerCurrency(want []string, packs []tollgate.Pack) string {
	for _, c := range want {
		for _, p := range packs {
			if _, ok := p.PriceIn(c); ok && p.Active {
				return c
			}
		}
	}
	return ""
}

// getPrices is public: the price table in force and every scheduled change.
type priceTableView struct {
	Object    string          `json:"object" const:"price_table"`
	AsOf      time.Time       `json:"as_of"`
	Currency  string          `json:"currency" doc:"The buyer's currency, from currency or Accept-Language, where a pack is sold in it: every rule's money lists it first. Empty when none applies."`
	Current   []priceRuleView `json:"current"`
	Scheduled []priceRuleView `json:"scheduled"`
	Models    []pricing.Model `json:"models"`
	Packs     []packView      `json:"packs"`
}

func (s *Server) getPrices(r *http.Request, in *struct {
	Currency       string `query:"currency" doc:"The buyer's currency (a lowercase ISO 4217 code): its prices come first."`
	AcceptLanguage string `header:"Accept-Language" doc:"Without currency, the currencies this suggests (fr-FR: eur, id: idr) come first."`
}) (priceTableView, error) {
	if in.Currency != "" && !tollgate.ValidCurrency(in.Currency) {
		return priceTableView{}, tollgate.FieldError("currency", "must be a lowercase ISO 4217 code such as eur")
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return priceTableView{}, err
	}
	catalog, err := s.Quotes.Prices(r.Context())
	if err != nil {
		return priceTableView{}, err
	}
	want := buyerCurrencies(in.Currency, localCurrencies(in.AcceptLanguage))
	now := s.Quotes.Clock.Now()
	out := priceTableView{Object: "price_table", AsOf: now, Currency: buyerCurrency(want, packs), Current: []priceRuleView{}, Scheduled: []priceRuleView{},
		Models: catalog.Models, Packs: packViews(packs, true)}
	for _, rule := range catalog.Current(now) {
		out.Current = append(out.Current, ruleView(rule, packs, want))
	}
	for _, rule := range catalog.Scheduled(now) {
		out.Scheduled = append(out.Scheduled, ruleView(rule, packs, want))
	}
	return out, nil
}

func viewPack(p tollgate.Pack) packView {
	prices := p.Prices
	if prices == nil {
		prices = []tollgate.Money{}
	}
	return packView{p.ID, "pack", p.Credits, p.Price, p.ValidForDays, productList(p.Products), p.Active, prices}
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
func (s *Server) getPacks(r *http.Request, in *struct{}) (listView[packView], error) {
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return listView[packView]{}, err
	}
	return listView[packView]{Object: "list", Data: packViews(packs, true)}, nil
}

// createPriceRule adds a price rule version. A price increase must be
// announced the notice period ahead unless forced.
type createPriceRuleRequest struct {
	ID          string           `json:"id" doc:"A new id adds a rule; an existing one adds a version of it." required:"true"`
	Product     tollgate.Product `json:"product" required:"true"`
	Meter       string           `json:"meter" enum:"seconds,input_tokens,output_tokens" required:"true"`
	Tier        string           `json:"tier"`
	Resolution  string           `json:"resolution" enum:",720p,1080p"`
	Per         int64            `json:"per" minimum:"1" maximum:"1000000000" required:"true"`
	Credits     amount           `json:"credits" required:"true"`
	EffectiveAt string           `json:"effective_at" doc:"Default now. A price increase must be at least the notice period (14 days) ahead unless force is set." format:"date-time"`
	Force       bool             `json:"force"`
}

func (s *Server) createPriceRule(r *http.Request, c *call, in *struct{ Body createPriceRuleRequest }) (priceRuleView, error) {
	req := in.Body
	rule := pricing.Rule{ID: req.ID, Product: req.Product, Meter: req.Meter, Tier: req.Tier, Resolution: req.Resolution, Per: req.Per}
	if !req.Credits.set || req.Credits.err != nil || req.Credits.v < 0 || req.Credits.v > tollgate.MaxCredits {
		return priceRuleView{}, tollgate.FieldError("credits", "is required: a decimal amount from 0 to %s", tollgate.MaxCredits)
	}
	rule.Credits = req.Credits.v
	eff, err := parseTime("effective_at", req.EffectiveAt)
	if err != nil {
		return priceRuleView{}, err
	}
	if eff != nil {
		rule.EffectiveAt = *eff
	}
	packs, err := s.Payments.Packs(r.Context())
	if err != nil {
		return priceRuleView{}, err
	}
	view := func(v any) any { return ruleView(v.(pricing.Rule), packs, nil) }
	res, err := s.l.WriteIdempotent(r.Context(), c.idempotency(r, view), func(tx record.Tx) (any, error) {
		added, err := s.Quotes.AddRule(r.Context(), tx, rule, req.Force)
		if err != nil {
			return nil, err
		}
		return added, s.l.Audit(r.Context(), tx, "price_rule.create", "", added.ID, map[string]any{"rule": added, "force": req.Force})
	})
	if err != nil {
		return priceRuleView{}, err
	}
	return ruleView(res.(pricing.Rule), packs, nil), nil
}
