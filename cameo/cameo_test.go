package cameo

import (
	"testing"
	"time"

	"tollgate"
)

func TestUpstream(t *testing.T) {
	t.Parallel()
	cs := []tollgate.Cameo{{Handle: "foxstar", Name: "Fox Star"}, {Handle: "mira.k", Name: "Mira K"}}
	for prompt, want := range map[string]string{
		"@foxstar dances":                "Fox Star dances",
		"@foxstar and @mira.k. The end.": "Fox Star and Mira K. The end.",
		"mail ada@foxstar.com":           "mail ada@foxstar.com",
		"@nobody and @foxstars":          "@nobody and @foxstars",
		"no handles at all":              "no handles at all",
		"@@foxstar":                      "@@foxstar",
		"trailing @":                     "trailing @",
		"(@foxstar)":                     "(Fox Star)",
	} {
		if got := Upstream(prompt, cs); got != want {
			t.Errorf("Upstream(%q) = %q, want %q", prompt, got, want)
		}
	}
}

func TestPeriodSpan(t *testing.T) {
	t.Parallel()
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	at := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC) // Sunday 01:30 in Kolkata
	for _, tc := range []struct {
		p          Period
		loc        *time.Location
		start, end string
	}{
		{Day, time.UTC, "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"},
		{Day, kolkata, "2026-11-22T00:00:00+05:30", "2026-11-23T00:00:00+05:30"},
		{Week, time.UTC, "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"},          // Saturday: the week from Monday the 16th
		{Week, kolkata, "2026-11-16T00:00:00+05:30", "2026-11-23T00:00:00+05:30"}, // Sunday there: still that week
		{Month, kolkata, "2026-11-01T00:00:00+05:30", "2026-12-01T00:00:00+05:30"},
	} {
		s, e, err := tc.p.Span(at, tc.loc)
		if err != nil || s.Format(time.RFC3339) != tc.start || e.Format(time.RFC3339) != tc.end {
			t.Errorf("%s in %s: %s to %s (%v), want %s to %s", tc.p, tc.loc, s.Format(time.RFC3339), e.Format(time.RFC3339), err, tc.start, tc.end)
		}
	}
	if _, _, err := Period("year").Span(at, time.UTC); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
		t.Errorf("a year: %v", err)
	}
}
