package sqlq

import (
	"strings"
	"testing"
)

func TestDollar(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`WHERE a = ? AND b = ?`, `WHERE a = $1 AND b = $2`},
		{`VALUES (?,?,?)`, `VALUES ($1,$2,$3)`},
		{`WHERE a = '?' AND b = ?`, `WHERE a = '?' AND b = $1`},
		{`WHERE "odd?" = ? AND c = 'it''s ?'`, `WHERE "odd?" = $1 AND c = 'it''s ?'`},
	} {
		if got := Dollar(c.in); got != c.want {
			t.Errorf("Dollar(%q): got %q, want %q", c.in, got, c.want)
		}
	}
	if !strings.HasSuffix(OrderByProviderRef.PG, "payment_ref = $3) LIMIT 1") {
		t.Errorf("OrderByProviderRef.PG = %q: want its third placeholder as $3", OrderByProviderRef.PG)
	}
}
