package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// EncodeLimits encodes limits as stored: "rps,concurrent,pending", or ""
// when every limit is the default.
func EncodeLimits(l tollgate.Limits) string {
	if l == (tollgate.Limits{}) {
		return ""
	}
	return fmt.Sprintf("%d,%d,%d", l.RequestsPerSecond, l.ConcurrentRequests, l.MaxPendingHolds)
}

// DecodeLimits decodes EncodeLimits.
func DecodeLimits(s string) (tollgate.Limits, error) {
	var l tollgate.Limits
	if s == "" {
		return l, nil
	}
	if _, err := fmt.Sscanf(s, "%d,%d,%d", &l.RequestsPerSecond, &l.ConcurrentRequests, &l.MaxPendingHolds); err != nil {
		return l, fmt.Errorf("decode limits %q: %w", s, err)
	}
	return l, nil
}

// JoinScopes encodes a key's scopes as "read,write", "" for every scope.
func JoinScopes(ss []tollgate.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// SplitScopes decodes JoinScopes.
func SplitScopes(s string) []tollgate.Scope {
	if s == "" {
		return nil
	}
	var out []tollgate.Scope
	for _, p := range strings.Split(s, ",") {
		out = append(out, tollgate.Scope(p))
	}
	return out
}

// EncodeVideo encodes the document of a video job as stored, JSON. The
// version is kept in its own column.
func EncodeVideo(v tollgate.Video) string {
	v.Version = 0
	b, err := json.Marshal(v)
	if err != nil { // a Video always encodes
		panic("encode video: " + err.Error())
	}
	return string(b)
}

// VideoEnded is when v ended, for the videos' ended_at column: nil while
// it is queued or running.
func VideoEnded(v tollgate.Video) *time.Time {
	if v.Status != tollgate.VideoCompleted && v.Status != tollgate.VideoFailed {
		return nil
	}
	return v.CompletedAt
}

// DecodeVideo decodes EncodeVideo, setting the version read beside it.
func DecodeVideo(doc string, version int64) (tollgate.Video, error) {
	var v tollgate.Video
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return v, fmt.Errorf("decode video: %w", err)
	}
	v.Version = version
	return v, nil
}

// EncodeCameo encodes a cameo's document as stored, JSON.
func EncodeCameo(c tollgate.Cameo) string {
	b, err := json.Marshal(c)
	if err != nil { // a Cameo always encodes
		panic("encode cameo: " + err.Error())
	}
	return string(b)
}

// DecodeCameo decodes EncodeCameo, and the documents of characters made
// before cameos: characters, owner_only, active, fee 0, their id as
// handle.
func DecodeCameo(doc string) (tollgate.Cameo, error) {
	var c tollgate.Cameo
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return c, fmt.Errorf("decode cameo: %w", err)
	}
	if c.Kind == "" {
		c.Kind = tollgate.CameoCharacter
	}
	if c.Policy == "" {
		c.Policy = tollgate.PolicyOwnerOnly
	}
	if c.Status == "" {
		c.Status = tollgate.CameoActive
	}
	if c.Handle == "" {
		c.Handle = c.ID
	}
	return c, nil
}

// EncodePayout encodes a payout's document as stored, JSON.
func EncodePayout(p tollgate.Payout) string {
	b, err := json.Marshal(p)
	if err != nil { // a Payout always encodes
		panic("encode payout: " + err.Error())
	}
	return string(b)
}

// DecodePayout decodes EncodePayout.
func DecodePayout(doc string) (tollgate.Payout, error) {
	var p tollgate.Payout
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, fmt.Errorf("decode payout: %w", err)
	}
	return p, nil
}

// JoinPrices encodes a pack's prices in other currencies as stored:
// "eur:380,idr:6500000".
func JoinPrices(ms []tollgate.Money) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, m.Currency+":"+strconv.FormatInt(m.Amount, 10))
	}
	return strings.Join(parts, ",")
}

// SplitPrices decodes JoinPrices.
func SplitPrices(s string) ([]tollgate.Money, error) {
	if s == "" {
		return nil, nil
	}
	var out []tollgate.Money
	for _, part := range strings.Split(s, ",") {
		cur, amount, ok := strings.Cut(part, ":")
		n, err := strconv.ParseInt(amount, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("decode pack prices %q", s)
		}
		out = append(out, tollgate.Money{Amount: n, Currency: cur})
	}
	return out, nil
}
