package tollgate

import (
	"fmt"
	"slices"
	"strings"
)

// zeroDecimal are the currencies Stripe counts in whole units (its
// "zero-decimal" currencies); threeDecimal those it counts in thousandths.
// Every other currency is counted in hundredths, IDR included (Rp 65,000 is
// 6500000).
var (
	zeroDecimal  = []string{"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
	threeDecimal = []string{"bhd", "jod", "kwd", "omr", "tnd"}
)

// ValidCurrency reports whether c is a lowercase ISO 4217 code, as Stripe
// takes them: "usd", "eur", "idr".
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// MinorUnits is how many decimals a currency's amounts have as Stripe
// counts them: 0, 2 or 3.
func MinorUnits(currency string) int {
	switch {
	case slices.Contains(zeroDecimal, currency):
		return 0
	case slices.Contains(threeDecimal, currency):
		return 3
	}
	return 2
}

// Format writes an amount with its currency's decimals: "4.00 USD",
// "500 JPY", "65000.00 IDR".
func (m Money) Format() string {
	d := MinorUnits(m.Currency)
	cur := strings.ToUpper(m.Currency)
	if d == 0 {
		return fmt.Sprintf("%d %s", m.Amount, cur)
	}
	div := int64(1)
	for range d {
		div *= 10
	}
	sign, a := "", m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, a/div, d, a%div, cur)
}

// MaxMinorUnits bounds any amount of money Tollgate records (a payment, a
// tax, an invoice), far above any price it sells at, so that sums of them
// cannot overflow.
const MaxMinorUnits int64 = 10_000_000_000_000
