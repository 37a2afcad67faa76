package httpapi

import (
	"time"

	"tollgate"
	"tollgate/ledger"
)

type accountView struct {
	ID         string           `json:"id"`
	Object     string           `json:"object"`
	Name       string           `json:"name"`
	Plan       string           `json:"plan"`
	Timezone   string           `json:"timezone"`
	Status     string           `json:"status"`
	LowBalance tollgate.Credits `json:"low_balance_threshold"`
	CreatedAt  time.Time        `json:"created_at"`
}

func viewAccount(a tollgate.Account) accountView {
	return accountView{a.ID, "account", a.Name, a.Plan, a.Timezone, string(a.Status), a.LowBalance, a.CreatedAt}
}

type grantView struct {
	ID          string             `json:"id"`
	Object      string             `json:"object"`
	AccountID   string             `json:"account_id"`
	Source      string             `json:"source"`
	Credits     tollgate.Credits   `json:"credits"`
	Remaining   tollgate.Credits   `json:"remaining"`
	Products    []tollgate.Product `json:"products"`
	Priority    int                `json:"priority"`
	EffectiveAt time.Time          `json:"effective_at"`
	ExpiresAt   *time.Time         `json:"expires_at"`
	ExternalRef string             `json:"external_ref,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
}

// productList renders "every product" as [], never null.
func productList(ps []tollgate.Product) []tollgate.Product {
	if ps == nil {
		return []tollgate.Product{}
	}
	return ps
}

func viewBalanceGrant(g tollgate.Grant) balanceGrantView {
	return balanceGrantView{g.ID, string(g.Source), g.Remaining, productList(g.Products), g.ExpiresAt}
}

func viewGrant(g tollgate.Grant) grantView {
	return grantView{g.ID, "grant", g.AccountID, string(g.Source), g.Amount, g.Remaining, productList(g.Products), g.Priority,
		g.EffectiveAt, g.ExpiresAt, g.ExternalRef, g.CreatedAt}
}

type allocationView struct {
	GrantID string           `json:"grant_id"`
	Credits tollgate.Credits `json:"credits"`
}

type holdView struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"`
	AccountID   string            `json:"account_id"`
	Product     tollgate.Product  `json:"product"`
	Credits     tollgate.Credits  `json:"credits"`
	Captured    tollgate.Credits  `json:"captured"`
	Status      string            `json:"status"`
	Allocations []allocationView  `json:"allocations"`
	Metadata    map[string]string `json:"metadata"`
	QuoteID     string            `json:"quote_id,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   *time.Time        `json:"expires_at"` // null for a usage
	SettledAt   *time.Time        `json:"settled_at"`
}

func viewHold(h tollgate.Hold, object string) holdView {
	as := make([]allocationView, len(h.Allocations))
	for i, a := range h.Allocations {
		as[i] = allocationView{a.GrantID, a.Amount}
	}
	md := h.Metadata
	if md == nil {
		md = map[string]string{}
	}
	var exp *time.Time
	if object != "usage" { // a usage is settled when made: nothing expires
		exp = &h.ExpiresAt
	}
	return holdView{h.ID, object, h.AccountID, h.Product, h.Amount, h.Captured, string(h.Status), as, md,
		h.QuoteID, h.CreatedAt, exp, h.SettledAt}
}

type allowanceView struct {
	Product   tollgate.Product `json:"product"`
	Limit     tollgate.Credits `json:"limit"`
	Used      tollgate.Credits `json:"used"`
	Remaining tollgate.Credits `json:"remaining"`
	ResetsAt  time.Time        `json:"resets_at"`
}

type balanceGrantView struct {
	ID        string             `json:"id"`
	Source    string             `json:"source"`
	Remaining tollgate.Credits   `json:"remaining"`
	Products  []tollgate.Product `json:"products"`
	ExpiresAt *time.Time         `json:"expires_at"`
}

type planChangeView struct {
	Plan        string                                `json:"plan"`
	Version     int                                   `json:"version"`
	EffectiveAt time.Time                             `json:"effective_at"`
	Allowances  map[tollgate.Product]tollgate.Credits `json:"daily_allowances"`
	Previous    map[tollgate.Product]tollgate.Credits `json:"previous_daily_allowances"`
}

type balanceView struct {
	Object          string                                `json:"object"`
	AccountID       string                                `json:"account_id"`
	Plan            string                                `json:"plan"`
	AsOf            time.Time                             `json:"as_of"`
	Available       tollgate.Credits                      `json:"available"`
	Held            tollgate.Credits                      `json:"held"`
	Frozen          tollgate.Credits                      `json:"frozen"`
	ByProduct       map[tollgate.Product]tollgate.Credits `json:"by_product"`
	DailyAllowance  *allowanceView                        `json:"daily_allowance"`
	DailyAllowances []allowanceView                       `json:"daily_allowances"`
	Grants          []balanceGrantView                    `json:"grants"`
	ExpiringSoon    []balanceGrantView                    `json:"expiring_soon"`
	UpcomingChanges []planChangeView                      `json:"upcoming_changes"`
	// UpcomingPriceChanges are price rules scheduled to change.
	UpcomingPriceChanges []priceChangeView `json:"upcoming_price_changes"`
}

func viewBalance(b ledger.Balance) balanceView {
	v := balanceView{Object: "balance", AccountID: b.AccountID, Plan: b.Plan, AsOf: b.AsOf,
		Available: b.Available, Held: b.Held, Frozen: b.Frozen, ByProduct: map[tollgate.Product]tollgate.Credits{},
		DailyAllowances: []allowanceView{}, Grants: []balanceGrantView{}, ExpiringSoon: []balanceGrantView{}, UpcomingChanges: []planChangeView{},
		UpcomingPriceChanges: []priceChangeView{}}
	for _, p := range tollgate.Products {
		v.ByProduct[p] = b.ByProduct[p]
	}
	for _, d := range b.DailyAllowances {
		v.DailyAllowances = append(v.DailyAllowances, allowanceView{d.Product, d.Limit, d.Used, d.Remaining, d.ResetsAt})
	}
	if len(v.DailyAllowances) > 0 {
		v.DailyAllowance = &v.DailyAllowances[0]
	}
	for _, g := range b.Grants {
		v.Grants = append(v.Grants, viewBalanceGrant(g))
	}
	for _, g := range b.ExpiringSoon {
		v.ExpiringSoon = append(v.ExpiringSoon, viewBalanceGrant(g))
	}
	for _, c := range b.UpcomingChanges {
		v.UpcomingChanges = append(v.UpcomingChanges, planChangeView{c.Plan, c.Version, c.EffectiveAt, c.Allowances, c.Previous})
	}
	return v
}

type entryView struct {
	ID        string           `json:"id"`
	Object    string           `json:"object"`
	TxnID     string           `json:"transaction_id"`
	Kind      string           `json:"kind"`
	AccountID string           `json:"account_id"`
	Book      string           `json:"book"`
	GrantID   string           `json:"grant_id,omitempty"`
	HoldID    string           `json:"hold_id,omitempty"`
	Credits   tollgate.Credits `json:"credits"`
	CreatedAt time.Time        `json:"created_at"`
}

type listView[T any] struct {
	Object     string `json:"object"`
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

type keyView struct {
	ID         string             `json:"id"`
	Object     string             `json:"object"`
	AccountID  string             `json:"account_id"`
	Name       string             `json:"name"`
	Prefix     string             `json:"prefix"`
	Key        *string            `json:"key"` // the secret: when created only, never stored
	Scopes     []tollgate.Scope   `json:"scopes"`
	Products   []tollgate.Product `json:"products"` // null: every product
	ExpiresAt  *time.Time         `json:"expires_at"`
	Limits     limitsView         `json:"limits"`
	CreatedAt  time.Time          `json:"created_at"`
	LastUsedAt *time.Time         `json:"last_used_at"`
	RevokedAt  *time.Time         `json:"revoked_at"`
}

func viewKey(k tollgate.APIKey, secret *string) keyView {
	scopes := k.Scopes
	if len(scopes) == 0 {
		scopes = []tollgate.Scope{tollgate.ScopeRead, tollgate.ScopeWrite}
	}
	return keyView{k.ID, "api_key", k.AccountID, k.Name, k.Prefix, secret, scopes, k.Products, k.ExpiresAt,
		viewLimits(k.Limits), k.CreatedAt, k.LastUsedAt, k.RevokedAt}
}

// limitsView shows limits as set: null where the plan's (for a key) or
// the default (for a plan) applies.
type limitsView struct {
	RequestsPerSecond  *int `json:"requests_per_second"`
	ConcurrentRequests *int `json:"concurrent_requests"`
	MaxPendingHolds    *int `json:"max_pending_holds"`
}

func viewLimits(l tollgate.Limits) limitsView {
	set := func(n int) *int {
		if n == 0 {
			return nil
		}
		return &n
	}
	return limitsView{set(l.RequestsPerSecond), set(l.ConcurrentRequests), set(l.MaxPendingHolds)}
}

// limitsRequest sets limits; a member left out or null keeps the default.
type limitsRequest struct {
	RequestsPerSecond  *int `json:"requests_per_second"`
	ConcurrentRequests *int `json:"concurrent_requests"`
	MaxPendingHolds    *int `json:"max_pending_holds"`
}

func (r *limitsRequest) limits() tollgate.Limits {
	get := func(p *int) int {
		if p == nil {
			return 0
		}
		if *p <= 0 {
			return -1 // refused by the ledger: 0 is not a limit
		}
		return *p
	}
	return tollgate.Limits{RequestsPerSecond: get(r.RequestsPerSecond), ConcurrentRequests: get(r.ConcurrentRequests),
		MaxPendingHolds: get(r.MaxPendingHolds)}
}
