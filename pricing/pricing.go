// Package pricing owns Tollgate's prices: the catalog of products, models and
// versioned price rules, and the evaluation of a request into credits with a
// breakdown by rule. The ledger knows nothing of prices; it is told how many
// credits to hold.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tollgate"
)

//go:embed catalog.json
var defaultCatalog []byte

// Meters a rule may count.
const (
	MeterSeconds      = "seconds"
	MeterInputTokens  = "input_tokens"
	MeterOutputTokens = "output_tokens"
)

// DefaultSize is the size a video request that names none is priced at.
const DefaultSize = "1280x720"

// Limits on a request, so that every price fits an int64.
const (
	MaxSeconds = 3600
	MaxTokens  = 1_000_000_000
)

// Catalog is the price list: products, the models that serve them and the
// price rules, each rule possibly in several versions (same ID, later
// EffectiveAt). It is immutable once loaded and safe for concurrent use.
type Catalog struct {
	Products []ProductInfo `json:"products"`
	Packs    []PackSpec    `json:"packs"`
	Models   []Model       `json:"models"`
	Rules    []Rule        `json:"rules"`
	// Aliases name models by other names: dated snapshots, a provider's
	// spelling.
	Aliases map[string]string `json:"aliases,omitempty"`
	// OfferList is every provider's offers of the video models.
	OfferList []Offer `json:"offers,omitempty"`
}

// ProductInfo describes a product.
type ProductInfo struct {
	ID          tollgate.Product `json:"id"`
	Description string           `json:"description"`
}

// PackSpec is a pack as the catalog file lists it: the packs a new
// database starts with. Operators change packs through the API afterwards.
type PackSpec struct {
	ID           string             `json:"id"`
	Credits      tollgate.Credits   `json:"credits"`
	Price        tollgate.Money     `json:"price"`
	ValidForDays int                `json:"valid_for_days"`
	Products     []tollgate.Product `json:"products"`
}

// Pack returns the spec as an active pack.
func (s PackSpec) Pack(now time.Time) tollgate.Pack {
	return tollgate.Pack{ID: s.ID, Credits: s.Credits, Price: s.Price, ValidForDays: s.ValidForDays, Products: s.Products, Active: true, CreatedAt: now}
}

// DefaultPacks returns the catalog's packs as a new database starts with
// them: active, made at the Unix epoch.
func (c *Catalog) DefaultPacks() []tollgate.Pack {
	var ps []tollgate.Pack
	for _, p := range c.Packs {
		ps = append(ps, p.Pack(time.Unix(0, 0).UTC()))
	}
	return ps
}

// BestPackIn returns, among the active packs that pay for product and are
// sold in one of currencies (most wanted first), the one with the lowest
// price per credit in the first currency any is sold in, with that price;
// without any, BestPack and its default price.
func BestPackIn(packs []tollgate.Pack, product tollgate.Product, currencies []string) (tollgate.Pack, tollgate.Money, bool) {
	for _, cur := range currencies {
		var best tollgate.Pack
		var bestPrice tollgate.Money
		found := false
		for _, p := range packs {
			price, ok := p.PriceIn(cur)
			if !ok || !p.Active || !p.Pays(product) {
				continue
			}
			if !found || rateLess(price.Amount, int64(p.Credits), bestPrice.Amount, int64(best.Credits)) {
				best, bestPrice, found = p, price, true
			}
		}
		if found {
			return best, bestPrice, true
		}
	}
	p, ok := BestPack(packs, product)
	return p, p.Price, ok
}

// MoneyAt is what credits cost at a pack's price (its credits for price),
// rounded up to the minor unit.
func MoneyAt(p tollgate.Pack, price tollgate.Money, credits tollgate.Credits) tollgate.Money {
	amt, _ := tollgate.MulDivCeil(int64(credits), price.Amount, int64(p.Credits))
	return tollgate.Money{Amount: amt, Currency: price.Currency}
}

// BestPack returns the active pack with the lowest price per credit that
// pays for product.
func BestPack(packs []tollgate.Pack, product tollgate.Product) (tollgate.Pack, bool) {
	var best tollgate.Pack
	found := false
	for _, p := range packs {
		if !p.Active || !p.Pays(product) {
			continue
		}
		if !found || lessRate(p, best) {
			best, found = p, true
		}
	}
	return best, found
}

// lessRate reports whether x costs less per credit than y.
func lessRate(x, y tollgate.Pack) bool {
	return rateLess(x.Price.Amount, int64(x.Credits), y.Price.Amount, int64(y.Credits))
}

// rateLess reports whether a/b < c/d for non-negative values and positive
// b and d, compared as a*d < c*b in 128 bits.
func rateLess(a, b, c, d int64) bool {
	h1, l1 := bits.Mul64(uint64(a), uint64(d))
	h2, l2 := bits.Mul64(uint64(c), uint64(b))
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// CheckPack checks a pack's terms.
func CheckPack(p tollgate.Pack) error {
	switch {
	case !packID.MatchString(p.ID):
		return tollgate.FieldError("id", "must be 1 to 64 lowercase letters, digits, '_' or '-'")
	case p.Credits <= 0 || p.Credits > tollgate.MaxCredits:
		return tollgate.FieldError("credits", "must be more than zero and at most %s", tollgate.MaxCredits)
	case p.Price.Amount <= 0 || p.Price.Amount > MaxPackAmount:
		return tollgate.FieldError("price", "amount must be from 1 to %d minor units", MaxPackAmount)
	case !tollgate.ValidCurrency(p.Price.Currency):
		return tollgate.FieldError("price", "currency must be a lowercase ISO 4217 code such as usd")
	case p.ValidForDays < 1 || p.ValidForDays > 3650:
		return tollgate.FieldError("valid_for_days", "must be from 1 to 3650")
	}
	for _, pr := range p.Products {
		if !pr.Valid() {
			return tollgate.FieldError("products", "unknown product %q; known: video, assistant, stitch", pr)
		}
	}
	return CheckPrices(p.Prices, p.Price.Currency)
}

// CheckPrices checks prices in several currencies (a pack's besides its
// default, taken; a plan's): at most 20, each in a lowercase ISO 4217
// currency of its own, from 1 to MaxPackAmount minor units.
func CheckPrices(ms []tollgate.Money, taken ...string) error {
	if len(ms) > 20 {
		return tollgate.FieldError("prices", "at most 20 prices, one per currency")
	}
	seen := map[string]bool{}
	for _, c := range taken {
		seen[c] = true
	}
	for _, m := range ms {
		switch {
		case !tollgate.ValidCurrency(m.Currency):
			return tollgate.FieldError("prices", "currency %q is not a lowercase ISO 4217 code such as eur", m.Currency)
		case seen[m.Currency]:
			return tollgate.FieldError("prices", "%s is priced twice", m.Currency)
		case m.Amount <= 0 || m.Amount > MaxPackAmount:
			return tollgate.FieldError("prices", "the %s amount must be from 1 to %d minor units", m.Currency, MaxPackAmount)
		}
		seen[m.Currency] = true
	}
	return nil
}

// MaxPackAmount bounds a price in minor units (a pack's, a plan's): large
// enough for currencies counted in hundredths of a small unit (Rp
// 100,000,000 is 10000000000).
const MaxPackAmount = 100_000_000_000

var (
	packID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// Model is a generation model and what it can do.
type Model struct {
	ID        string           `json:"id"`
	Product   tollgate.Product `json:"product"`
	Tier      string           `json:"tier"`      // "standard" or "pro"
	Durations []int            `json:"durations"` // seconds
	Sizes     []string         `json:"sizes"`     // "WIDTHxHEIGHT"
}

// Rule prices one meter of one product: Credits per Per units of Meter, for
// requests matching Tier and Resolution (empty matches any), from
// EffectiveAt until a later version of the same ID takes over.
type Rule struct {
	ID          string           `json:"id"`
	Product     tollgate.Product `json:"product"`
	Meter       string           `json:"meter"`
	Tier        string           `json:"tier,omitempty"`
	Resolution  string           `json:"resolution,omitempty"`
	Per         int64            `json:"per"`
	Credits     tollgate.Credits `json:"credits"`
	EffectiveAt time.Time        `json:"effective_at"`
}

// Default returns the catalog shipped in the binary.
func Default() *Catalog {
	c, err := Parse(defaultCatalog)
	if err != nil {
		panic("pricing: the embedded catalog is invalid: " + err.Error())
	}
	return c
}

// Load reads a catalog file (TOLLGATE_CATALOG), or the embedded one when
// path is empty.
func Load(path string) (*Catalog, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a catalog: known products and meters, positive
// rates, sizes of the form WIDTHxHEIGHT, no duplicate model or rule version.
func Parse(b []byte) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	models := map[string]bool{}
	for _, m := range c.Models {
		if m.ID == "" || m.ID == "auto" || strings.HasPrefix(m.ID, "auto:") || models[m.ID] {
			return nil, fmt.Errorf("model %q: empty, reserved or listed twice", m.ID)
		}
		models[m.ID] = true
		if !m.Product.Valid() {
			return nil, fmt.Errorf("model %s: unknown product %q", m.ID, m.Product)
		}
		if len(m.Durations) == 0 || len(m.Sizes) == 0 {
			return nil, fmt.Errorf("model %s: needs durations and sizes", m.ID)
		}
		for _, d := range m.Durations {
			if d < 1 || d > MaxSeconds {
				return nil, fmt.Errorf("model %s: duration %d out of 1..%d", m.ID, d, MaxSeconds)
			}
		}
		for _, s := range m.Sizes {
			if _, err := Resolution(s); err != nil {
				return nil, fmt.Errorf("model %s: %w", m.ID, err)
			}
		}
	}
	byID := map[string]Model{}
	for _, m := range c.Models {
		byID[m.ID] = m
	}
	for alias, m := range c.Aliases {
		if _, ok := byID[m]; !ok || models[alias] || alias == "" {
			return nil, fmt.Errorf("alias %q: names no model, or is a model's id", alias)
		}
	}
	offered := map[string]bool{}
	for _, o := range c.OfferList {
		if err := checkOffer(o, byID); err != nil {
			return nil, err
		}
		if offered[o.Provider+"/"+o.Model] {
			return nil, fmt.Errorf("offer %s/%s: listed twice", o.Provider, o.Model)
		}
		offered[o.Provider+"/"+o.Model] = true
	}
	packs := map[string]bool{}
	for _, p := range c.Packs {
		if err := CheckPack(p.Pack(time.Time{})); err != nil || packs[p.ID] {
			return nil, fmt.Errorf("pack %q: listed twice or invalid: %v", p.ID, err)
		}
		packs[p.ID] = true
	}
	versions := map[string]bool{}
	for _, r := range c.Rules {
		if err := checkRule(r); err != nil {
			return nil, err
		}
		k := r.ID + "@" + r.EffectiveAt.String()
		if versions[k] {
			return nil, fmt.Errorf("rule %s: two versions effective at %s", r.ID, r.EffectiveAt)
		}
		versions[k] = true
	}
	return &c, nil
}

func checkRule(r Rule) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("a rule has no id")
	case !r.Product.Valid():
		return fmt.Errorf("rule %s: unknown product %q", r.ID, r.Product)
	case r.Meter != MeterSeconds && r.Meter != MeterInputTokens && r.Meter != MeterOutputTokens:
		return fmt.Errorf("rule %s: unknown meter %q", r.ID, r.Meter)
	case r.Per < 1 || r.Per > 1_000_000_000:
		return fmt.Errorf("rule %s: per must be from 1 to 1000000000", r.ID)
	case r.Credits < 0 || r.Credits > tollgate.MaxCredits:
		return fmt.Errorf("rule %s: credits out of range", r.ID)
	case r.EffectiveAt.IsZero():
		return fmt.Errorf("rule %s: effective_at is required", r.ID)
	}
	return nil
}

// Resolution classes a size by its shorter side: "720p" up to 720 pixels,
// "1080p" up to 1080.
func Resolution(size string) (string, error) {
	w, h, ok := strings.Cut(size, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 1 || hi < 1 {
		return "", fmt.Errorf("size %q is not WIDTHxHEIGHT", size)
	}
	switch short := min(wi, hi); {
	case short <= 720:
		return "720p", nil
	case short <= 1080:
		return "1080p", nil
	}
	return "", fmt.Errorf("size %q is above 1080p", size)
}

// Request is what a job asks for.
type Request struct {
	Product      tollgate.Product
	Model        string // video: a model id, "auto" or "auto:cheapest"
	Seconds      int    // video and stitch
	Size         string // video: "1280x720"
	InputTokens  int64  // assistant
	OutputTokens int64  // assistant
	// Extension: video Seconds added to a video, priced per second at
	// the model's rate whatever lengths it makes on its own.
	Extension bool
}

// Line is the part of a price one rule contributes.
type Line struct {
	RuleID      string           `json:"rule_id"`
	Meter       string           `json:"meter" enum:"seconds,input_tokens,output_tokens"`
	Quantity    int64            `json:"quantity"`
	Per         int64            `json:"per"`
	UnitCredits tollgate.Credits `json:"unit_credits"` // credits per Per units
	Credits     tollgate.Credits `json:"credits"`
	EffectiveAt time.Time        `json:"effective_at"`
}

// Price is a priced request.
type Price struct {
	Product    tollgate.Product
	Model      string // the model priced; for "auto", the one chosen
	Resolution string
	Seconds    int
	Credits    tollgate.Credits
	Lines      []Line
}

// PerSecond is the price of one second of footage, for products priced by
// the second; zero otherwise.
func (p Price) PerSecond() tollgate.Credits {
	if p.Seconds == 0 {
		return 0
	}
	return ceilDiv(p.Credits, int64(p.Seconds))
}

// PerMinute is the price of a minute of footage at this rate.
func (p Price) PerMinute() tollgate.Credits {
	if p.Seconds == 0 {
		return 0
	}
	c, _ := tollgate.MulDivCeil(int64(p.Credits), 60, int64(p.Seconds))
	return tollgate.Credits(c)
}

func ceilDiv(c tollgate.Credits, n int64) tollgate.Credits {
	return tollgate.Credits((int64(c) + n - 1) / n)
}

// RuleAt returns the version of rule id in force at t.
func (c *Catalog) RuleAt(id string, t time.Time) (Rule, bool) {
	var best Rule
	found := false
	for _, r := range c.Rules {
		if r.ID == id && !r.EffectiveAt.After(t) && (!found || r.EffectiveAt.After(best.EffectiveAt)) {
			best, found = r, true
		}
	}
	return best, found
}

// Current returns every rule in force at t, sorted by product then id.
func (c *Catalog) Current(t time.Time) []Rule {
	seen := map[string]bool{}
	var out []Rule
	for _, r := range c.Rules {
		if seen[r.ID] {
			continue
		}
		if v, ok := c.RuleAt(r.ID, t); ok {
			seen[r.ID] = true
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Product != out[j].Product {
			return out[i].Product < out[j].Product
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Scheduled returns the rule versions that take effect after t, soonest first.
func (c *Catalog) Scheduled(t time.Time) []Rule {
	var out []Rule
	for _, r := range c.Rules {
		if r.EffectiveAt.After(t) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EffectiveAt.Before(out[j].EffectiveAt) })
	return out
}

// Model returns the model with the given id.
func (c *Catalog) Model(id string) (Model, bool) {
	for _, m := range c.Models {
		if m.ID == id {
			return m, true
		}
	}
	return Model{}, false
}

// Price prices r at t. Bad requests get invalid_field errors that name the
// allowed values: unknown models, unsupported durations or sizes.
func (c *Catalog) Price(r Request, t time.Time) (Price, error) {
	return c.priceWith(r, c.Current(t))
}

// priceWith prices r with rules, the rules in force.
func (c *Catalog) priceWith(r Request, rules []Rule) (Price, error) {
	switch r.Product {
	case tollgate.ProductVideo:
		return c.priceVideo(r, rules)
	case tollgate.ProductStitch:
		if r.Seconds < 1 || r.Seconds > MaxSeconds {
			return Price{}, tollgate.FieldError("seconds", "must be from 1 to %d", MaxSeconds)
		}
		p := Price{Product: r.Product, Seconds: r.Seconds}
		return addLines(p, rules, map[string]int64{MeterSeconds: int64(r.Seconds)}, "", "")
	case tollgate.ProductAssistant:
		if r.InputTokens < 0 || r.OutputTokens < 0 || r.InputTokens > MaxTokens || r.OutputTokens > MaxTokens {
			return Price{}, tollgate.FieldError("input_tokens", "token counts must be from 0 to %d", MaxTokens)
		}
		if r.InputTokens+r.OutputTokens == 0 {
			return Price{}, tollgate.FieldError("input_tokens", "give input_tokens, output_tokens or both")
		}
		p := Price{Product: r.Product}
		return addLines(p, rules, map[string]int64{MeterInputTokens: r.InputTokens, MeterOutputTokens: r.OutputTokens}, "", "")
	}
	return Price{}, tollgate.FieldError("product", "unknown product %q; known: video, assistant, stitch", r.Product)
}

func (c *Catalog) priceVideo(r Request, rules []Rule) (Price, error) {
	if r.Model == "" {
		r.Model = "auto"
	}
	if r.Size == "" {
		r.Size = DefaultSize
	}
	res, err := Resolution(r.Size)
	if err != nil {
		return Price{}, tollgate.FieldError("size", "%v; e.g. 1280x720", err)
	}
	if r.Model == "auto" || r.Model == "auto:cheapest" { // the cheapest; a tie goes to the model listed first
		var best *Price
		for _, m := range c.Models {
			if m.Product != tollgate.ProductVideo || !slices.Contains(m.Durations, r.Seconds) || !slices.Contains(m.Sizes, r.Size) {
				continue
			}
			p, err := priceModel(m, r, res, rules)
			if err != nil {
				continue
			}
			if best == nil || p.Credits < best.Credits {
				best = &p
			}
		}
		if best == nil {
			return Price{}, tollgate.FieldError("seconds", "no model offers %d seconds at %s; offered: %s", r.Seconds, r.Size, c.offered())
		}
		return *best, nil
	}
	m, ok := c.Model(c.Canonical(r.Model))
	if !ok || m.Product != tollgate.ProductVideo {
		return Price{}, tollgate.FieldError("model", "unknown model %q; known: auto, %s", r.Model, strings.Join(c.modelIDs(), ", "))
	}
	extends := r.Extension && r.Seconds >= 1 && r.Seconds <= MaxSeconds
	if !extends && !slices.Contains(m.Durations, r.Seconds) {
		return Price{}, tollgate.FieldError("seconds", "%s makes clips of %s seconds, not %d", m.ID, joinInts(m.Durations), r.Seconds)
	}
	if !slices.Contains(m.Sizes, r.Size) {
		return Price{}, tollgate.FieldError("size", "%s makes %s, not %s", m.ID, strings.Join(m.Sizes, ", "), r.Size)
	}
	return priceModel(m, r, res, rules)
}

func priceModel(m Model, r Request, res string, rules []Rule) (Price, error) {
	p := Price{Product: tollgate.ProductVideo, Model: m.ID, Resolution: res, Seconds: r.Seconds}
	return addLines(p, rules, map[string]int64{MeterSeconds: int64(r.Seconds)}, m.Tier, res)
}

// addLines adds a line for every rule of p's product among rules (those in
// force) that matches tier and resolution and whose meter has a quantity.
func addLines(p Price, rules []Rule, qty map[string]int64, tier, res string) (Price, error) {
	for _, r := range rules {
		if r.Product != p.Product || (r.Tier != "" && r.Tier != tier) || (r.Resolution != "" && r.Resolution != res) {
			continue
		}
		q, ok := qty[r.Meter]
		if !ok || q == 0 {
			continue
		}
		credits, ok := tollgate.MulDivCeil(q, int64(r.Credits), r.Per)
		if !ok || credits > int64(tollgate.MaxCredits) {
			return Price{}, tollgate.FieldError(r.Meter, "the price is out of range")
		}
		p.Lines = append(p.Lines, Line{RuleID: r.ID, Meter: r.Meter, Quantity: q, Per: r.Per, UnitCredits: r.Credits,
			Credits: tollgate.Credits(credits), EffectiveAt: r.EffectiveAt})
		p.Credits += tollgate.Credits(credits)
	}
	if len(p.Lines) == 0 {
		return Price{}, tollgate.FieldError("product", "no price rule covers this %s request (tier %q, resolution %q)", p.Product, tier, res)
	}
	if p.Credits > tollgate.MaxCredits {
		return Price{}, tollgate.FieldError("product", "the price is out of range")
	}
	return p, nil
}

func (c *Catalog) modelIDs() []string {
	var ids []string
	for _, m := range c.Models {
		if m.Product == tollgate.ProductVideo {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func (c *Catalog) offered() string {
	var parts []string
	for _, m := range c.Models {
		if m.Product == tollgate.ProductVideo {
			parts = append(parts, fmt.Sprintf("%s (%ss; %s)", m.ID, joinInts(m.Durations), strings.Join(m.Sizes, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
