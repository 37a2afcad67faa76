package pricing

import (
	"testing"
	"time"

	"tollgate"
)

// TestDiff: the grid covers every model, size and duration offered; a
// cheaper rule is a change but no increase; a rule that leaves requests
// without a price counts as raising them.
func TestDiff(t *testing.T) {
	c := Default()
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	videos := 0
	for _, m := range c.Models {
		videos += len(m.Sizes) * len(m.Durations)
	}
	grid := c.Grid()
	if n := len(grid); n != videos+MaxSeconds+len(TokenGrid)*len(TokenGrid)-1 {
		t.Fatalf("grid of %d requests", n)
	}
	for _, r := range grid {
		if _, err := c.Price(r, at); err != nil {
			t.Fatalf("the default catalog cannot price %+v: %v", r, err)
		}
	}
	with := func(r Rule) *Catalog {
		r.EffectiveAt = at
		return &Catalog{Models: c.Models, Rules: append(append([]Rule{}, c.Rules...), r)}
	}
	cheaper := Diff(c, with(Rule{ID: "stitch", Product: tollgate.ProductStitch, Meter: MeterSeconds, Per: 1, Credits: 10_000}), at)
	if up, _ := Increases(cheaper); len(cheaper) != MaxSeconds || len(up) != 0 {
		t.Fatalf("a cheaper stitch: %d changes, %d increases; want %d and none", len(cheaper), len(up), MaxSeconds)
	}
	gone := Diff(c, with(Rule{ID: "video-pro-1080p", Product: tollgate.ProductVideo, Meter: MeterSeconds, Tier: "pro", Resolution: "720p", Per: 1, Credits: 300_000}), at)
	up, names := Increases(gone)
	unpriced := 0
	for _, ch := range up {
		if !ch.PricedAfter {
			unpriced++
		}
	}
	if unpriced == 0 || names == "" {
		t.Fatalf("pro 1080p left without a rule: %d increases, %d unpriced (%s)", len(up), unpriced, names)
	}
}

func BenchmarkDiff(b *testing.B) {
	c := Default()
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	after := &Catalog{Models: c.Models, Rules: append(append([]Rule{}, c.Rules...),
		Rule{ID: "x", Product: tollgate.ProductVideo, Meter: MeterSeconds, Per: 1, Credits: 1, EffectiveAt: at})}
	for b.Loop() {
		Diff(c, after, at)
	}
}
