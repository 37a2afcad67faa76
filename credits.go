package tollgate

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Credits is an amount of credits in micro-credits: 1 credit = 1,000,000.
// It is never a float. In JSON it is a decimal string such as "12.5".
type Credits int64

// MicroPerCredit is the number of micro-credits in one credit.
const MicroPerCredit = 1_000_000

// MaxCredits is the largest amount Tollgate accepts in one request:
// one billion credits. Sums of many such amounts still fit an int64.
const MaxCredits Credits = 1_000_000_000 * MicroPerCredit

// WholeCredits returns n whole credits.
func WholeCredits(n int64) Credits { return Credits(n * MicroPerCredit) }

// Errors of ParseCredits.
var (
	ErrAmountSyntax    = errors.New("not a decimal number")
	ErrAmountPrecision = errors.New("more than 6 decimal places")
	ErrAmountRange     = errors.New("out of range")
)

// ParseCredits parses a decimal string ("12", "0.5", "-3.000001") into
// micro-credits. It rejects exponents, more than 6 decimals, and anything
// outside ±MaxCredits, wrapping ErrAmountSyntax, ErrAmountPrecision or
// ErrAmountRange.
func ParseCredits(s string) (Credits, error) {
	if s == "" {
		return 0, fmt.Errorf("%q: %w", s, ErrAmountSyntax)
	}
	in := s
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q: %w", in, ErrAmountSyntax)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q: %w", in, ErrAmountSyntax)
	}
	if !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q: %w", in, ErrAmountSyntax)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q: %w", in, ErrAmountPrecision)
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 10 { // beyond MaxCredits whatever the digits
		return 0, fmt.Errorf("%q: %w", in, ErrAmountRange)
	}
	var w, f int64
	if whole != "" {
		w, _ = strconv.ParseInt(whole, 10, 64)
	}
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	v := w*MicroPerCredit + f
	if v > int64(MaxCredits) {
		return 0, fmt.Errorf("%q: %w", in, ErrAmountRange)
	}
	if neg {
		v = -v
	}
	return Credits(v), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats c as a decimal with no trailing zeros: "12.5", "0.000001", "-3".
func (c Credits) String() string {
	v := int64(c)
	var b []byte
	if v < 0 {
		b = append(b, '-')
		if v == math.MinInt64 {
			return "-9223372036854.775808"
		}
		v = -v
	}
	b = strconv.AppendInt(b, v/MicroPerCredit, 10)
	if f := v % MicroPerCredit; f != 0 {
		s := strconv.FormatInt(f+MicroPerCredit, 10)[1:] // zero-padded to 6
		b = append(b, '.')
		b = append(b, strings.TrimRight(s, "0")...)
	}
	return string(b)
}

// MarshalJSON writes c as a JSON string.
func (c Credits) MarshalJSON() ([]byte, error) {
	s := c.String()
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a decimal string ("12.5") or, for convenience, a bare
// JSON number (12.5), parsed exactly from its text, never through a float.
func (c *Credits) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return fmt.Errorf("null: %w", ErrAmountSyntax)
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		var err error
		s, err = strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("%s: %w", b, ErrAmountSyntax)
		}
	}
	v, err := ParseCredits(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Money is an amount of real money in minor units of an ISO 4217 currency,
// Stripe style: {"amount": 400, "currency": "usd"} is four dollars.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// AddMoney adds m to the amount of its currency in ms, which holds one
// amount per currency (appending one for a currency not there yet).
func AddMoney(ms []Money, m Money) []Money {
	for i := range ms {
		if ms[i].Currency == m.Currency {
			ms[i].Amount += m.Amount
			return ms
		}
	}
	return append(ms, m)
}

// MulDivCeil returns ceil(a*b/d) for non-negative a and b and positive d,
// computed in 128 bits; ok is false when the result does not fit an int64.
// Prices and proportions of credits and money use it so nothing is lost to
// rounding or overflow.
func MulDivCeil(a, b, d int64) (q int64, ok bool) {
	return mulDiv(a, b, d, true)
}

// MulDivFloor is MulDivCeil rounded down.
func MulDivFloor(a, b, d int64) (q int64, ok bool) {
	return mulDiv(a, b, d, false)
}

func mulDiv(a, b, d int64, up bool) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(d) {
		return 0, false
	}
	uq, r := bits.Div64(hi, lo, uint64(d))
	if r > 0 && up {
		uq++
	}
	if uq > math.MaxInt64 {
		return 0, false
	}
	return int64(uq), true
}
