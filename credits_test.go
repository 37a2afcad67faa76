package tollgate

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"testing"
)

var parseTests = []struct {
	in   string
	want Credits
	err  error
}{
	{"0", 0, nil},
	{"-0", 0, nil},
	{"0.0", 0, nil},
	{"0.000001", 1, nil},
	{"-0.000001", -1, nil},
	{"1", 1_000_000, nil},
	{"1.000000", 1_000_000, nil},
	{"1.0000000", 1_000_000, nil}, // trailing zeros carry no precision
	{"12.5", 12_500_000, nil},
	{"-0.5", -500_000, nil},
	{"+1", 1_000_000, nil},
	{".5", 500_000, nil},
	{"-.5", -500_000, nil},
	{"+.000001", 1, nil},
	{"007", 7_000_000, nil},
	{"00000000000000000001", 1_000_000, nil},
	{"3.141592", 3_141_592, nil},
	{"1000000000", MaxCredits, nil},
	{"+1000000000.000000", MaxCredits, nil},
	{"0001000000000", MaxCredits, nil},
	{"-1000000000", -MaxCredits, nil},
	{"999999999.999999", MaxCredits - 1, nil},

	{"1.0000001", 0, ErrAmountPrecision},
	{"1.00000010", 0, ErrAmountPrecision},
	{"0.0000001", 0, ErrAmountPrecision},
	{"-0.1234567", 0, ErrAmountPrecision},

	{"1000000000.000001", 0, ErrAmountRange},
	{"-1000000000.000001", 0, ErrAmountRange},
	{"1000000001", 0, ErrAmountRange},
	{"9999999999.999999", 0, ErrAmountRange},
	{"10000000000", 0, ErrAmountRange},
	{"9223372036854775807", 0, ErrAmountRange},
	{"9223372036854775808", 0, ErrAmountRange},
	{"-9223372036854775808", 0, ErrAmountRange},
	{"-9223372036854775809", 0, ErrAmountRange},
	{"18446744073709551616", 0, ErrAmountRange},
	{"99999999999999999999", 0, ErrAmountRange},
	{"9223372036854.775807", 0, ErrAmountRange},

	{"", 0, ErrAmountSyntax},
	{"5.", 0, ErrAmountSyntax},
	{".", 0, ErrAmountSyntax},
	{"-", 0, ErrAmountSyntax},
	{"+", 0, ErrAmountSyntax},
	{"-.", 0, ErrAmountSyntax},
	{"1e3", 0, ErrAmountSyntax},
	{"1E3", 0, ErrAmountSyntax},
	{"1e-3", 0, ErrAmountSyntax},
	{" 1", 0, ErrAmountSyntax},
	{"1 ", 0, ErrAmountSyntax},
	{"1_000", 0, ErrAmountSyntax},
	{"1,5", 0, ErrAmountSyntax},
	{"0x10", 0, ErrAmountSyntax},
	{"--1", 0, ErrAmountSyntax},
	{"+-1", 0, ErrAmountSyntax},
	{"-+1", 0, ErrAmountSyntax},
	{"1.2.3", 0, ErrAmountSyntax},
	{"1..2", 0, ErrAmountSyntax},
	{"abc", 0, ErrAmountSyntax},
	{"NaN", 0, ErrAmountSyntax},
	{"Inf", 0, ErrAmountSyntax},
	{"١", 0, ErrAmountSyntax},
	{"1\x00", 0, ErrAmountSyntax},
	{`"1"`, 0, ErrAmountSyntax},
}

func TestParseCredits(t *testing.T) {
	t.Parallel()
	for _, tc := range parseTests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCredits(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("ParseCredits(%q): got error %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("ParseCredits(%q): got %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestCreditsString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   Credits
		want string
	}{
		{0, "0"},
		{1, "0.000001"},
		{-1, "-0.000001"},
		{100, "0.0001"},
		{500_000, "0.5"},
		{-500_000, "-0.5"},
		{1_000_000, "1"},
		{12_500_000, "12.5"},
		{-3_000_001, "-3.000001"},
		{10_000_000, "10"},
		{WholeCredits(30), "30"},
		{MaxCredits, "1000000000"},
		{-MaxCredits, "-1000000000"},
		{MaxCredits + 1, "1000000000.000001"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
		{math.MinInt64 + 1, "-9223372036854.775807"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Credits(%d).String(): got %q, want %q", int64(tc.in), got, tc.want)
			}
			b, err := tc.in.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(b), `"`+tc.want+`"`; got != want {
				t.Errorf("Credits(%d).MarshalJSON(): got %s, want %s", int64(tc.in), got, want)
			}
		})
	}
}

func TestCreditsUnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Credits
		err  error
	}{
		{`"12.5"`, 12_500_000, nil},
		{`12.5`, 12_500_000, nil},
		{`"0.000001"`, 1, nil},
		{`0.000001`, 1, nil},
		{`-0.5`, -500_000, nil},
		{`"1000000000"`, MaxCredits, nil},
		{`1000000000`, MaxCredits, nil},
		{` "1" `, 1_000_000, nil},
		{`"\u0031"`, 1_000_000, nil},
		{`0`, 0, nil},
		{`null`, 0, ErrAmountSyntax},
		{`true`, 0, ErrAmountSyntax},
		{`false`, 0, ErrAmountSyntax},
		{`{}`, 0, ErrAmountSyntax},
		{`[]`, 0, ErrAmountSyntax},
		{`""`, 0, ErrAmountSyntax},
		{`"`, 0, ErrAmountSyntax},
		{`"1`, 0, ErrAmountSyntax},
		{`"abc"`, 0, ErrAmountSyntax},
		{`"1e3"`, 0, ErrAmountSyntax},
		{`1e3`, 0, ErrAmountSyntax},
		{`" 1"`, 0, ErrAmountSyntax},
		{`"\"1\""`, 0, ErrAmountSyntax},
		{`"1.0000001"`, 0, ErrAmountPrecision},
		{`1.0000001`, 0, ErrAmountPrecision},
		{`"99999999999999999999"`, 0, ErrAmountRange},
		{`99999999999999999999`, 0, ErrAmountRange},
		{`"1000000000.000001"`, 0, ErrAmountRange},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := Credits(-42)
			err := got.UnmarshalJSON([]byte(tc.in))
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("UnmarshalJSON(%s): got error %v, want %v", tc.in, err, tc.err)
			}
			if tc.err != nil {
				if got != -42 {
					t.Errorf("UnmarshalJSON(%s) failed but changed the value to %s", tc.in, got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("UnmarshalJSON(%s): got %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

// TestCreditsJSONField checks Credits inside a struct, through encoding/json.
func TestCreditsJSONField(t *testing.T) {
	t.Parallel()
	type doc struct {
		C Credits  `json:"c"`
		P *Credits `json:"p,omitempty"`
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"c":"12.5","p":0.25}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.C != 12_500_000 || d.P == nil || *d.P != 250_000 {
		t.Errorf("got %d and %v, want 12500000 and 250000", d.C, d.P)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"c":"12.5","p":"0.25"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if err := json.Unmarshal([]byte(`{"c":1e3}`), &d); !errors.Is(err, ErrAmountSyntax) {
		t.Errorf("got error %v for an exponent, want ErrAmountSyntax", err)
	}
	if err := json.Unmarshal([]byte(`{"p":null}`), &d); err != nil {
		t.Errorf("got error %v for a null pointer, want none (the pointer is left nil)", err)
	}
}

// decimal is what ParseCredits accepts, syntactically.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]+)?|\.[0-9]+)$`)

func FuzzParseCredits(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	for _, s := range []string{"1.5", "-999999999.999999", "0.100000", "1000000000.0000000", "+0", "-00.000", "123456789.123456"} {
		f.Add(s)
	}
	micro := big.NewRat(MicroPerCredit, 1)
	maxRat := new(big.Rat).SetInt64(int64(MaxCredits))
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseCredits(s)

		// A reference: exact rational arithmetic on what the syntax allows.
		var want *big.Rat
		if decimal.MatchString(s) {
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				t.Fatalf("big.Rat cannot parse %q", s)
			}
			want = r.Mul(r, micro)
		}
		switch {
		case want == nil:
			if !errors.Is(err, ErrAmountSyntax) {
				t.Fatalf("ParseCredits(%q): got %d, %v; want ErrAmountSyntax", s, v, err)
			}
			return
		case !want.IsInt():
			if !errors.Is(err, ErrAmountPrecision) {
				t.Fatalf("ParseCredits(%q): got %d, %v; want ErrAmountPrecision", s, v, err)
			}
			return
		case new(big.Rat).Abs(want).Cmp(maxRat) > 0:
			if !errors.Is(err, ErrAmountRange) {
				t.Fatalf("ParseCredits(%q): got %d, %v; want ErrAmountRange", s, v, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseCredits(%q): got error %v, want %s micro-credits", s, err, want.RatString())
		}
		if got := new(big.Rat).SetInt64(int64(v)); got.Cmp(want) != 0 {
			t.Fatalf("ParseCredits(%q): got %d, want %s", s, v, want.RatString())
		}
		if v > MaxCredits || v < -MaxCredits {
			t.Fatalf("ParseCredits(%q): got %d, beyond ±MaxCredits", s, v)
		}

		// Accepted strings round-trip through String and JSON.
		str := v.String()
		back, err := ParseCredits(str)
		if err != nil || back != v {
			t.Fatalf("ParseCredits(%q) = %d, whose String %q parses to %d, %v", s, v, str, back, err)
		}
		if again := back.String(); again != str {
			t.Fatalf("String is not canonical: %q then %q", str, again)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON Credits
		if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON != v {
			t.Fatalf("JSON %s: got %d, %v; want %d", b, fromJSON, err, v)
		}
	})
}
