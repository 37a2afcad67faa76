package record

import (
	"testing"
	"time"
)

func TestCounterDays(t *testing.T) {
	t.Parallel()
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name               string
		from, to           time.Time
		daysFrom, daysTo   time.Time
		edgeTo, edgeFromAt time.Time
	}{
		{"a UTC day", at(21, 0, 0), at(22, 0, 0), at(21, 0, 0), at(22, 0, 0), at(21, 0, 0), at(22, 0, 0)},
		{"a Kolkata day", at(20, 18, 30), at(21, 18, 30), at(20, 18, 30), at(20, 18, 30), at(21, 18, 30), at(21, 18, 30)},
		{"a Kolkata week", at(15, 18, 30), at(22, 18, 30), at(16, 0, 0), at(22, 0, 0), at(16, 0, 0), at(22, 0, 0)},
		{"an hour", at(21, 3, 0), at(21, 4, 0), at(21, 3, 0), at(21, 3, 0), at(21, 4, 0), at(21, 4, 0)},
	} {
		got := CounterDays(tc.from, tc.to)
		want := CounterSpan{From: tc.from, EdgeTo: tc.edgeTo, DaysFrom: tc.daysFrom, DaysTo: tc.daysTo, EdgeFrom: tc.edgeFromAt, To: tc.to}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, want)
		}
		// Every 15 minutes of [from, to) is counted once.
		var n time.Duration
		n += got.EdgeTo.Sub(got.From) + got.DaysTo.Sub(got.DaysFrom) + got.To.Sub(got.EdgeFrom)
		if n != tc.to.Sub(tc.from) {
			t.Errorf("%s: the parts cover %s of %s", tc.name, n, tc.to.Sub(tc.from))
		}
	}
}
