package pricing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tollgate"
)

// Offer is one provider's way to make a catalog model: the provider's own
// model name, what it can make, what it costs the operator, and until when.
// The router chooses among a model's offers; the user pays the model's
// credit price whichever runs it.
type Offer struct {
	Provider      string   `json:"provider"`
	Model         string   `json:"model"`          // the catalog model it makes
	UpstreamModel string   `json:"upstream_model"` // the provider's name for it
	Durations     []int    `json:"durations"`      // seconds it makes; a longer clip is trimmed to what was asked
	Sizes         []string `json:"sizes"`
	// Features: remix, edit, extend, character (a character reference),
	// image (an image reference).
	Features []string `json:"features,omitempty"`
	// ImageOnly: the upstream model makes a video from a reference image
	// only (Runway's gen4_turbo); a text-only request is not for it.
	ImageOnly bool   `json:"image_only,omitempty"`
	Cost      []Cost `json:"cost"`
	// CostAsOf and Source say when and where the cost figures were read.
	CostAsOf  string     `json:"cost_as_of"`
	Source    string     `json:"source"`
	RetiresAt *time.Time `json:"retires_at,omitempty"`
	// Seconds is the expected time to make a clip of the offer's
	// shortest duration, before any observation: the fastest policy's
	// starting estimate.
	ExpectedSeconds int `json:"expected_seconds"`
}

// Cost is what a provider charges per second of output at a resolution
// ("" for any): Amount minor units of Currency per PerSeconds seconds.
type Cost struct {
	Resolution string `json:"resolution,omitempty"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	PerSeconds int64  `json:"per_seconds"`
}

// Features an offer may list.
const (
	FeatureRemix     = "remix"
	FeatureEdit      = "edit"
	FeatureExtend    = "extend"
	FeatureCharacter = "character"
	FeatureImage     = "image"
)

var features = []string{FeatureRemix, FeatureEdit, FeatureExtend, FeatureCharacter, FeatureImage}

// Has reports whether o lists feature f.
func (o Offer) Has(f string) bool { return slices.Contains(o.Features, f) }

// Duration returns the shortest duration o makes that covers seconds, and
// whether there is one.
func (o Offer) Duration(seconds int) (int, bool) {
	best := 0
	for _, d := range o.Durations {
		if d >= seconds && (best == 0 || d < best) {
			best = d
		}
	}
	return best, best > 0
}

// CostFor is what o charges for a clip of seconds at size, rounded up to a
// minor unit; false when o has no cost for its resolution.
func (o Offer) CostFor(seconds int, size string) (tollgate.Money, bool) {
	res, err := Resolution(size)
	if err != nil {
		return tollgate.Money{}, false
	}
	var match *Cost
	for i := range o.Cost {
		c := &o.Cost[i]
		if c.Resolution == res || (c.Resolution == "" && match == nil) {
			match = c
		}
	}
	if match == nil {
		return tollgate.Money{}, false
	}
	amount, ok := tollgate.MulDivCeil(int64(seconds), match.Amount, match.PerSeconds)
	return tollgate.Money{Amount: amount, Currency: match.Currency}, ok
}

// Retired reports whether o no longer runs at t.
func (o Offer) Retired(t time.Time) bool { return o.RetiresAt != nil && !t.Before(*o.RetiresAt) }

func checkOffer(o Offer, models map[string]Model) error {
	name := o.Provider + "/" + o.Model
	if o.Provider == "" || !tollgate.CleanText(o.Provider) || strings.ContainsAny(o.Provider, "/ ") {
		return fmt.Errorf("offer %s: needs a provider name without spaces or slashes", name)
	}
	m, ok := models[o.Model]
	if !ok || m.Product != tollgate.ProductVideo {
		return fmt.Errorf("offer %s: unknown video model %q", name, o.Model)
	}
	if o.UpstreamModel == "" {
		return fmt.Errorf("offer %s: needs upstream_model", name)
	}
	if len(o.Durations) == 0 || len(o.Sizes) == 0 {
		return fmt.Errorf("offer %s: needs durations and sizes", name)
	}
	for _, d := range o.Durations {
		if d < 1 || d > MaxSeconds {
			return fmt.Errorf("offer %s: duration %d out of 1..%d", name, d, MaxSeconds)
		}
	}
	for _, s := range o.Sizes {
		if _, err := Resolution(s); err != nil {
			return fmt.Errorf("offer %s: %w", name, err)
		}
	}
	for _, f := range o.Features {
		if !slices.Contains(features, f) {
			return fmt.Errorf("offer %s: unknown feature %q; known: %s", name, f, strings.Join(features, ", "))
		}
	}
	if o.ImageOnly && !o.Has(FeatureImage) {
		return fmt.Errorf("offer %s: image_only needs the image feature", name)
	}
	if len(o.Cost) == 0 {
		return fmt.Errorf("offer %s: needs its cost per second", name)
	}
	for _, c := range o.Cost {
		if c.Amount < 0 || c.PerSeconds < 1 || !tollgate.ValidCurrency(c.Currency) {
			return fmt.Errorf("offer %s: a cost needs amount >= 0, per_seconds >= 1 and a lowercase ISO currency", name)
		}
		if c.Resolution != "" && c.Resolution != "720p" && c.Resolution != "1080p" {
			return fmt.Errorf("offer %s: cost resolution %q is not 720p or 1080p", name, c.Resolution)
		}
	}
	if o.Provider != "local" && (o.CostAsOf == "" || o.Source == "") {
		return fmt.Errorf("offer %s: say when (cost_as_of) and where (source) its cost was read", name)
	}
	if o.ExpectedSeconds < 0 {
		return fmt.Errorf("offer %s: expected_seconds must not be negative", name)
	}
	return nil
}

// Offers returns the offers for model (an id or an alias) that are not
// retired at t, in catalog order.
func (c *Catalog) Offers(model string, t time.Time) []Offer {
	model = c.Canonical(model)
	var out []Offer
	for _, o := range c.OfferList {
		if o.Model == model && !o.Retired(t) {
			out = append(out, o)
		}
	}
	return out
}

// Canonical returns the model an alias names, or id itself.
func (c *Catalog) Canonical(id string) string {
	if m, ok := c.Aliases[id]; ok {
		return m
	}
	return id
}

// Providers returns the names of the providers the catalog lists offers
// of, in order of first appearance.
func (c *Catalog) Providers() []string {
	var out []string
	for _, o := range c.OfferList {
		if !slices.Contains(out, o.Provider) {
			out = append(out, o.Provider)
		}
	}
	return out
}
