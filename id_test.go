package tollgate

import (
	"slices"
	"testing"
	"time"
)

// TestIDsSortByTime: ids made later sort later, across the points where a
// shorter time field would have wrapped (2^36 ms, about 795 days, was the
// old one), within one millisecond, and far ahead.
func TestIDsSortByTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixMilli()
	times := []int64{ // in time order
		1<<36 - 1, 1 << 36, 1<<36 + 1, // where 36 bits wrap
		now, now, now, now + 1, now + 795*24*3600*1000,
		1<<41 - 1, 1 << 41, // where 41 bits do
		time.Date(2386, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli(),
	}
	idState.Lock()
	idState.ms, idState.seq = 0, 0
	idState.Unlock()
	var ids []string
	for _, ms := range times {
		ids = append(ids, newIDAt("x", ms))
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids made in time order do not sort: %q", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("two ids alike: %s", ids[i])
		}
	}
	if len(ids[0]) != len("x_")+22 {
		t.Fatalf("id %q: want 22 characters after the prefix", ids[0])
	}
}

// TestIDsFromOneMillisecond: more ids than the sequence holds in one
// millisecond still come out in order and distinct.
func TestIDsFromOneMillisecond(t *testing.T) {
	ms := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	prev := ""
	for range 1<<idSeqBits + 10 {
		id := newIDAt("y", ms)
		if id <= prev {
			t.Fatalf("id %s after %s", id, prev)
		}
		prev = id
	}
}

// TestIDEncoding: the time field decides the order before the sequence and
// randomness, whatever they hold, across the old 36-bit wrap.
func TestIDEncoding(t *testing.T) {
	maxSeq, maxRnd := uint64(1<<idSeqBits-1), uint64(1<<idRandBits-1)
	cases := [][2]string{
		{encodeID(1<<36-1, maxSeq, maxRnd), encodeID(1<<36, 0, 0)},
		{encodeID(1<<41-1, maxSeq, maxRnd), encodeID(1<<41, 0, 0)},
		{encodeID(5, 0, maxRnd), encodeID(5, 1, 0)},
		{encodeID(5, 1, 0), encodeID(5, 1, 1)},
	}
	for _, c := range cases {
		if c[0] >= c[1] {
			t.Errorf("%s should sort before %s", c[0], c[1])
		}
	}
}

// TestIDsSortAfterTheFirstFormat: an id made now sorts after any id of the
// first format made since its time field last wrapped (2026-08-14), which
// starts with '4' at most.
func TestIDsSortAfterTheFirstFormat(t *testing.T) {
	if id := NewID("z"); id[2] <= '4' || id <= "z_4zzzzzzzzzzzzzzzzzzzzz" {
		t.Fatalf("new id %s does not sort after the first format's", id)
	}
}
