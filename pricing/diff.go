package pricing

import (
	"fmt"
	"strings"
	"time"

	"tollgate"
)

// TokenGrid is the token counts at which assistant prices are compared,
// for input and output tokens alike: rounding happens below a thousand and
// rates show at every scale up to MaxTokens.
var TokenGrid = []int64{0, 1, 999, 1000, 1001, 100_000, 1_000_000, 10_000_000, 100_000_000, MaxTokens}

// Grid lists the requests c prices: every video model at each size and
// duration it offers, stitching at every whole second from 1 to
// MaxSeconds, and the assistant at every pair of TokenGrid counts. Prices
// are sums of rules linear in their meter, so a rise anywhere shows on
// the grid.
func (c *Catalog) Grid() []Request {
	var out []Request
	for _, m := range c.Models {
		if m.Product != tollgate.ProductVideo {
			continue
		}
		for _, s := range m.Sizes {
			for _, d := range m.Durations {
				out = append(out, Request{Product: tollgate.ProductVideo, Model: m.ID, Size: s, Seconds: d})
			}
		}
	}
	for s := 1; s <= MaxSeconds; s++ {
		out = append(out, Request{Product: tollgate.ProductStitch, Seconds: s})
	}
	for _, in := range TokenGrid {
		for _, o := range TokenGrid {
			if in+o > 0 {
				out = append(out, Request{Product: tollgate.ProductAssistant, InputTokens: in, OutputTokens: o})
			}
		}
	}
	return out
}

// Change is how the price of one request moves from one catalog to
// another: Priced says whether each could price it at all.
type Change struct {
	Request                   Request
	Before, After             tollgate.Credits
	PricedBefore, PricedAfter bool
}

// Increase reports whether the change makes the request dearer, or makes
// a request that could be bought unpriceable.
func (ch Change) Increase() bool {
	return ch.PricedBefore && (!ch.PricedAfter || ch.After > ch.Before)
}

func (ch Change) String() string {
	r := ch.Request
	what := string(r.Product)
	switch r.Product {
	case tollgate.ProductVideo:
		what = fmt.Sprintf("%s %ds at %s", r.Model, r.Seconds, r.Size)
	case tollgate.ProductStitch:
		what = fmt.Sprintf("stitch %ds", r.Seconds)
	case tollgate.ProductAssistant:
		what = fmt.Sprintf("assistant %d in, %d out tokens", r.InputTokens, r.OutputTokens)
	}
	price := func(ok bool, c tollgate.Credits) string {
		if !ok {
			return "no price"
		}
		return c.String()
	}
	return fmt.Sprintf("%s from %s to %s", what, price(ch.PricedBefore, ch.Before), price(ch.PricedAfter, ch.After))
}

// Diff prices every request of before's grid with both catalogs at t and
// returns those whose price differs, in grid order. It is the one
// comparison of prices: notices, what-if replays and reports use it.
func Diff(before, after *Catalog, t time.Time) []Change {
	// Each catalog as it stands at t: pricing thousands of requests then
	// looks at the rules in force only.
	rb, ra := before.Current(t), after.Current(t)
	var out []Change
	for _, r := range before.Grid() {
		b, errB := before.priceWith(r, rb)
		a, errA := after.priceWith(r, ra)
		ch := Change{Request: r, Before: b.Credits, After: a.Credits, PricedBefore: errB == nil, PricedAfter: errA == nil}
		if ch.PricedBefore != ch.PricedAfter || ch.Before != ch.After {
			out = append(out, ch)
		}
	}
	return out
}

// Increases returns the changes that raise a price, and a summary naming
// the first few.
func Increases(chs []Change) ([]Change, string) {
	var up []Change
	for _, ch := range chs {
		if ch.Increase() {
			up = append(up, ch)
		}
	}
	var names []string
	for i, ch := range up {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(up)-3))
			break
		}
		names = append(names, ch.String())
	}
	return up, strings.Join(names, "; ")
}
