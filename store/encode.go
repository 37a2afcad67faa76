package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"tollgate"
)

// JoinProducts encodes a grant's product list as stored: "video,stitch", or
// "" for every product.
func JoinProducts(ps []tollgate.Product) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(p))
	}
	return b.String()
}

// SplitProducts decodes JoinProducts.
func SplitProducts(s string) []tollgate.Product {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	ps := make([]tollgate.Product, len(parts))
	for i, p := range parts {
		ps[i] = tollgate.Product(p)
	}
	return ps
}

// EncodeAllocations encodes a hold's allocations as "grant:micro;grant:micro".
func EncodeAllocations(as []tollgate.Allocation) string {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(a.GrantID)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(int64(a.Amount), 10))
	}
	return b.String()
}

// DecodeAllocations decodes EncodeAllocations.
func DecodeAllocations(s string) ([]tollgate.Allocation, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ";")
	as := make([]tollgate.Allocation, len(parts))
	for i, p := range parts {
		id, amt, ok := strings.Cut(p, ":")
		n, err := strconv.ParseInt(amt, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("decode allocation %q", p)
		}
		as[i] = tollgate.Allocation{GrantID: id, Amount: tollgate.Credits(n)}
	}
	return as, nil
}

// EncodeMetadata encodes hold metadata as JSON, "" when empty.
func EncodeMetadata(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// DecodeMetadata decodes EncodeMetadata.
func DecodeMetadata(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	return m, nil
}

// EncodeAllowances encodes a plan version's allowances as JSON of decimal strings.
func EncodeAllowances(m map[tollgate.Product]tollgate.Credits) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// DecodeAllowances decodes EncodeAllowances.
func DecodeAllowances(s string) (map[tollgate.Product]tollgate.Credits, error) {
	m := map[tollgate.Product]tollgate.Credits{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode allowances: %w", err)
	}
	return m, nil
}
