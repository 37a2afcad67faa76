package tollgate

import "testing"

func TestMinorUnits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Money
		want string
	}{
		{Money{Amount: 400, Currency: "usd"}, "4.00 USD"},
		{Money{Amount: 380, Currency: "eur"}, "3.80 EUR"},
		{Money{Amount: 6_500_000, Currency: "idr"}, "65000.00 IDR"}, // Stripe counts rupiah in hundredths
		{Money{Amount: 500, Currency: "jpy"}, "500 JPY"},
		{Money{Amount: 1_250, Currency: "kwd"}, "1.250 KWD"},
		{Money{Amount: -5, Currency: "usd"}, "-0.05 USD"},
	} {
		if got := tc.m.Format(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestValidCurrency(t *testing.T) {
	t.Parallel()
	for c, want := range map[string]bool{"usd": true, "idr": true, "USD": false, "us": false, "euro": false, "e1r": false, "": false} {
		if got := ValidCurrency(c); got != want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", c, got, want)
		}
	}
}
