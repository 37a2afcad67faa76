package pricing

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tollgate"
)

var now = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func TestDefaultRatios(t *testing.T) {
	t.Parallel()
	c := Default()
	for _, tc := range []struct {
		model, size string
		seconds     int
		want        tollgate.Credits
	}{
		{"runway-gen4-turbo", "1280x720", 10, tollgate.WholeCredits(1)},               // standard 720p: 10 s = 1 credit
		{"kling-2.1-master", "1280x720", 10, tollgate.WholeCredits(3)},                // pro 720p: 3x
		{"kling-2.1-master", "1920x1080", 10, tollgate.WholeCredits(5)},               // pro 1080p: 5x
		{"luma-ray-2", "1080x1920", 5, tollgate.WholeCredits(1)},                      // standard 1080p: 0.2/s
		{"sora-2-pro", "1792x1024", 4, tollgate.Credits(2 * tollgate.MicroPerCredit)}, // 1024 short side: 1080p class
	} {
		p, err := c.Price(Request{Product: tollgate.ProductVideo, Model: tc.model, Seconds: tc.seconds, Size: tc.size}, now)
		if err != nil {
			t.Fatalf("%s %ds %s: %v", tc.model, tc.seconds, tc.size, err)
		}
		if p.Credits != tc.want {
			t.Errorf("%s %ds %s: got %s credits, want %s", tc.model, tc.seconds, tc.size, p.Credits, tc.want)
		}
	}
}

func TestUnitPrices(t *testing.T) {
	t.Parallel()
	p, err := Default().Price(Request{Product: tollgate.ProductVideo, Model: "sora-2", Seconds: 12, Size: "720x1280"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Credits != 1_200_000 || p.PerSecond() != 100_000 || p.PerMinute() != 6_000_000 {
		t.Fatalf("got %s total, %s/s, %s/min; want 1.2, 0.1, 6", p.Credits, p.PerSecond(), p.PerMinute())
	}
	want := []Line{{RuleID: "video-standard-720p", Meter: MeterSeconds, Quantity: 12, Per: 1, UnitCredits: 100_000, Credits: 1_200_000,
		EffectiveAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if diff := cmp.Diff(want, p.Lines); diff != "" {
		t.Fatalf("breakdown (-want +got):\n%s", diff)
	}
}

func TestAutoPicksCheapest(t *testing.T) {
	t.Parallel()
	p, err := Default().Price(Request{Product: tollgate.ProductVideo, Model: "auto", Seconds: 8, Size: "1920x1080"}, now)
	if err != nil {
		t.Fatal(err)
	}
	// At 8 s and 1080p only sora-2-pro and veo-3 (both pro) offer both:
	// 8 x 0.5; a tie goes to the model listed first.
	if p.Model != "sora-2-pro" || p.Credits != tollgate.WholeCredits(4) {
		t.Fatalf("auto chose %s at %s, want sora-2-pro at 4", p.Model, p.Credits)
	}
	p, err = Default().Price(Request{Product: tollgate.ProductVideo, Model: "auto", Seconds: 5, Size: "1280x720"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Credits != 500_000 {
		t.Fatalf("auto 5 s 720p: %s (%s), want 0.5 from a standard model", p.Credits, p.Model)
	}
}

func TestBadRequestsNameAllowedValues(t *testing.T) {
	t.Parallel()
	c := Default()
	for _, tc := range []struct {
		name  string
		r     Request
		field string
		want  string
	}{
		{"unknown model", Request{Product: "video", Model: "sora-9", Seconds: 4}, "model", "known: auto, sora-2"},
		{"duration", Request{Product: "video", Model: "sora-2", Seconds: 5}, "seconds", "4, 8, 12"},
		{"duration zero", Request{Product: "video", Model: "sora-2", Seconds: 0}, "seconds", "4, 8, 12"},
		{"size", Request{Product: "video", Model: "sora-2", Seconds: 4, Size: "1920x1080"}, "size", "1280x720, 720x1280"},
		{"size syntax", Request{Product: "video", Model: "sora-2", Seconds: 4, Size: "big"}, "size", "WIDTHxHEIGHT"},
		{"size above 1080p", Request{Product: "video", Model: "sora-2", Seconds: 4, Size: "3840x2160"}, "size", "above 1080p"},
		{"auto finds none", Request{Product: "video", Model: "auto", Seconds: 7}, "seconds", "offered: sora-2"},
		{"stitch seconds", Request{Product: "stitch", Seconds: MaxSeconds + 1}, "seconds", "from 1 to 3600"},
		{"assistant nothing", Request{Product: "assistant"}, "input_tokens", "give input_tokens"},
		{"assistant negative", Request{Product: "assistant", InputTokens: -1}, "input_tokens", "from 0"},
		{"product", Request{Product: "music"}, "product", "known: video"},
	} {
		_, err := c.Price(tc.r, now)
		e, ok := err.(*tollgate.Error)
		if !ok || e.Code != tollgate.CodeInvalidField || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: got %v, want invalid_field on %s mentioning %q", tc.name, err, tc.field, tc.want)
		}
	}
}

func TestAssistantTokens(t *testing.T) {
	t.Parallel()
	c := Default()
	for _, tc := range []struct {
		in, out int64
		want    tollgate.Credits
	}{
		{1_000_000, 0, tollgate.WholeCredits(1)},
		{0, 1_000_000, tollgate.WholeCredits(4)},
		{1, 0, 1}, // a millionth of a credit per input token, exactly
		{0, 1, 4}, // 4 per output token
		{500_000, 250_000, 1_500_000},
		{MaxTokens, MaxTokens, tollgate.WholeCredits(5000)},
	} {
		p, err := c.Price(Request{Product: tollgate.ProductAssistant, InputTokens: tc.in, OutputTokens: tc.out}, now)
		if err != nil || p.Credits != tc.want {
			t.Errorf("%d in, %d out: got %s (%v), want %s", tc.in, tc.out, p.Credits, err, tc.want)
		}
	}
}

func TestRoundsUpToTheMicroCredit(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`{"products":[],"models":[],"rules":[
		{"id":"a","product":"assistant","meter":"input_tokens","per":3,"credits":"0.000001","effective_at":"2026-01-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Price(Request{Product: tollgate.ProductAssistant, InputTokens: 4}, now)
	if err != nil || p.Credits != 2 { // 4/3 micro, rounded up
		t.Fatalf("got %s (%v), want 0.000002", p.Credits, err)
	}
}

func TestVersionsAtTheirInstant(t *testing.T) {
	t.Parallel()
	change := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	c := Default()
	c.Rules = append(c.Rules, Rule{ID: "stitch", Product: "stitch", Meter: MeterSeconds, Per: 1, Credits: 30_000, EffectiveAt: change})
	for _, tc := range []struct {
		at   time.Time
		want tollgate.Credits
	}{
		{change.Add(-time.Microsecond), 200_000},
		{change, 300_000},
		{change.Add(time.Hour), 300_000},
	} {
		p, err := c.Price(Request{Product: tollgate.ProductStitch, Seconds: 10}, tc.at)
		if err != nil || p.Credits != tc.want {
			t.Errorf("at %s: got %s (%v), want %s", tc.at, p.Credits, err, tc.want)
		}
	}
	if s := c.Scheduled(now); len(s) != 1 || s[0].ID != "stitch" {
		t.Fatalf("scheduled: got %+v, want the stitch change", s)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"unknown field": `{"products":[],"models":[],"rules":[],"extra":1}`,
		"bad meter":     `{"rules":[{"id":"x","product":"video","meter":"frames","per":1,"credits":"1","effective_at":"2026-01-01T00:00:00Z"}]}`,
		"per zero":      `{"rules":[{"id":"x","product":"video","meter":"seconds","per":0,"credits":"1","effective_at":"2026-01-01T00:00:00Z"}]}`,
		"no effective":  `{"rules":[{"id":"x","product":"video","meter":"seconds","per":1,"credits":"1"}]}`,
		"bad size":      `{"models":[{"id":"m","product":"video","tier":"pro","durations":[4],"sizes":["wide"]}]}`,
		"reserved id":   `{"models":[{"id":"auto","product":"video","tier":"pro","durations":[4],"sizes":["1280x720"]}]}`,
		"twice":         `{"rules":[{"id":"x","product":"video","meter":"seconds","per":1,"credits":"1","effective_at":"2026-01-01T00:00:00Z"},{"id":"x","product":"video","meter":"seconds","per":1,"credits":"2","effective_at":"2026-01-01T00:00:00Z"}]}`,
	} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("%s: parsed, want an error", name)
		}
	}
}

// TestReload: a reloaded catalog takes over, unless it raises a price
// sooner than the notice period.
func TestReload(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	q := &Quotes{Catalog: Default(), Clock: fixedClock(now), Notice: 14 * 24 * time.Hour}
	price := func() tollgate.Credits {
		p, _, err := q.Price(context.Background(), Request{Product: tollgate.ProductVideo, Model: "sora-2", Seconds: 4, Size: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		return p.Credits
	}
	before := price()
	withRule := func(credits string, at time.Time) *Catalog {
		c := *Default()
		c.Rules = append([]Rule{}, c.Rules...)
		cr, err := tollgate.ParseCredits(credits)
		if err != nil {
			t.Fatal(err)
		}
		c.Rules = append(c.Rules, Rule{ID: "video-standard-720p", Product: tollgate.ProductVideo, Meter: MeterSeconds, Tier: "standard",
			Resolution: "720p", Per: 1, Credits: cr, EffectiveAt: at})
		return &c
	}
	if err := q.Reload(withRule("0.2", now.Add(-time.Minute))); tollgate.ErrorCode(err) != tollgate.CodeNoticeRequired {
		t.Errorf("an immediate raise: got %v, want notice_required", err)
	}
	if err := q.Reload(withRule("0.2", now.Add(24*time.Hour))); tollgate.ErrorCode(err) != tollgate.CodeNoticeRequired {
		t.Errorf("a raise in a day: got %v, want notice_required", err)
	}
	if got := price(); got != before {
		t.Errorf("a refused reload changed the price: %s, want %s", got, before)
	}
	if err := q.Reload(withRule("0.05", now.Add(-time.Minute))); err != nil {
		t.Errorf("a cut: %v", err)
	}
	if got := price(); got != before/2 {
		t.Errorf("after a cut: %s, want %s", got, before/2)
	}
	// Dropping the cut is a raise too; keeping it and adding a raise 15
	// days ahead is announced well enough.
	if err := q.Reload(Default()); tollgate.ErrorCode(err) != tollgate.CodeNoticeRequired {
		t.Errorf("a file without the cut in force: got %v, want notice_required", err)
	}
	later := withRule("0.05", now.Add(-time.Minute))
	raise := withRule("0.2", now.Add(15*24*time.Hour))
	later.Rules = append(later.Rules, raise.Rules[len(raise.Rules)-1])
	if err := q.Reload(later); err != nil {
		t.Errorf("a raise announced 15 days ahead: %v", err)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
