package httpapi

import (
	"fmt"
	"reflect"
	"time"

	"tollgate"
	"tollgate/ledger"
)

type accountView struct {
	ID         string           `json:"id"`
	Object     string           `json:"object" const:"account"`
	Name       string           `json:"name"`
	Plan       string           `json:"plan"`
	Timezone   string           `json:"timezone"`
	Status     string           `json:"status" enum:"active,suspended"`
	LowBalance tollgate.Credits `json:"low_balance_threshold" doc:"credits.low fires when spendable credits (today's allowance left out) fall below it; 0: never."`
	Currency   string           `json:"currency" doc:"The currency it buys in; empty: its requests' Accept-Language decides."`
	CreatedAt  time.Time        `json:"created_at"`
}

func viewAccount(a tollgate.Account) accountView {
	return accountView{a.ID, "account", a.Name, a.Plan, a.Timezone, string(a.Status), a.LowBalance, a.Currency, a.CreatedAt}
}

type grantView struct {
	ID          string               `json:"id"`
	Object      string               `json:"object" const:"grant"`
	AccountID   string               `json:"account_id"`
	Source      tollgate.GrantSource `json:"source"`
	Credits     tollgate.Credits     `json:"credits"`
	Remaining   tollgate.Credits     `json:"remaining"`
	Held        tollgate.Credits     `json:"held" doc:"Credits that pending holds drew from this grant and still hold: they return to remaining if released, or are spent if captured."`
	Products    []tollgate.Product   `json:"products" doc:"Empty: pays for every product."`
	Priority    int                  `json:"priority"`
	EffectiveAt time.Time            `json:"effective_at"`
	ExpiresAt   *time.Time           `json:"expires_at" doc:"null: never expires."`
	ExternalRef string               `json:"external_ref,omitempty"`
	CreatedAt   time.Time            `json:"created_at"`
}

// productList renders "every product" as [], never null.
func productList(ps []tollgate.Product) []tollgate.Product {
	if ps == nil {
		return []tollgate.Product{}
	}
	return ps
}

func viewBalanceGrant(g tollgate.Grant) balanceGrantView {
	return balanceGrantView{g.ID, g.Source, g.Remaining, productList(g.Products), g.ExpiresAt}
}

func viewGrant(g tollgate.Grant) grantView {
	return grantView{g.ID, "grant", g.AccountID, g.Source, g.Amount, g.Remaining, g.Held, productList(g.Products), g.Priority,
		g.EffectiveAt, g.ExpiresAt, g.ExternalRef, g.CreatedAt}
}

type allocationView struct {
	GrantID string           `json:"grant_id"`
	Credits tollgate.Credits `json:"credits"`
}

type holdView struct {
	ID          string           `json:"id"`
	Object      string           `json:"object" doc:"usage for POST /v1/usage, otherwise hold." enum:"hold,usage"`
	AccountID   string           `json:"account_id"`
	Product     tollgate.Product `json:"product"`
	Credits     tollgate.Credits `json:"credits" doc:"Reserved."`
	Captured    tollgate.Credits `json:"captured" doc:"Charged; never more than credits."`
	Status      string           `json:"status" enum:"pending,captured,released,expired"`
	Allocations []allocationView `json:"allocations" doc:"The grants drawn on, in burn-down order."`
	Metadata    metadata         `json:"metadata"`
	QuoteID     string           `json:"quote_id,omitempty" doc:"The quote this hold paid with, if any."`
	CreatedAt   time.Time        `json:"created_at"`
	ExpiresAt   *time.Time       `json:"expires_at" doc:"When a pending hold is released if nobody settles it; null for a usage, which is settled when it is made."` // null for a usage
	SettledAt   *time.Time       `json:"settled_at"`
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
	ResetsAt  time.Time        `json:"resets_at" doc:"The next local midnight of the account's time zone."`
}

func (allowanceView) schemaName() string { return "DailyAllowance" }

type balanceGrantView struct {
	ID        string               `json:"id"`
	Source    tollgate.GrantSource `json:"source"`
	Remaining tollgate.Credits     `json:"remaining"`
	Products  []tollgate.Product   `json:"products"`
	ExpiresAt *time.Time           `json:"expires_at"`
}

type planChangeView struct {
	Plan        string                                `json:"plan"`
	Version     int                                   `json:"version"`
	EffectiveAt time.Time                             `json:"effective_at"`
	Allowances  map[tollgate.Product]tollgate.Credits `json:"daily_allowances" nullable:"true"`
	Previous    map[tollgate.Product]tollgate.Credits `json:"previous_daily_allowances" doc:"The allowances in force before; null when the plan had no version." nullable:"true"`
}

type balanceView struct {
	Object          string                                `json:"object" const:"balance"`
	AccountID       string                                `json:"account_id"`
	Plan            string                                `json:"plan"`
	AsOf            time.Time                             `json:"as_of"`
	Available       tollgate.Credits                      `json:"available" doc:"Spendable now, today's unused allowances included."`
	Held            tollgate.Credits                      `json:"held" doc:"Reserved by pending holds."`
	Frozen          tollgate.Credits                      `json:"frozen" doc:"Credits of grants whose payment is disputed: they pay for nothing until the dispute closes, and are not in available. Won, they are available again; lost, they are taken back as by a refund."`
	ByProduct       map[tollgate.Product]tollgate.Credits `json:"by_product" doc:"What each product can spend now."`
	DailyAllowance  *allowanceView                        `json:"daily_allowance" doc:"The first of daily_allowances; null when the plan gives none."`
	DailyAllowances []allowanceView                       `json:"daily_allowances"`
	Grants          []balanceGrantView                    `json:"grants" doc:"Usable grants with credits left, in burn-down order."`
	ExpiringSoon    []balanceGrantView                    `json:"expiring_soon" doc:"Grants (not the daily allowance) that expire within 30 days, soonest first."`
	UpcomingChanges []planChangeView                      `json:"upcoming_changes" doc:"Plan versions announced for later."`
	// UpcomingPriceChanges are price rules scheduled to change.
	UpcomingPriceChanges []priceChangeView `json:"upcoming_price_changes" doc:"Price changes scheduled, soonest first, for every account."`
	Subscription         *planEndView      `json:"subscription" doc:"The account's subscription, when it has one that has not ended; with leaves_plan_at when the account is due to leave its plan (cancelled, or a renewal unpaid)."`
}

// planEndView is an account's subscription seen from its balance: when
// the plan it pays for ends, announced ahead like any cut.
type planEndView struct {
	ID           string     `json:"id"`
	Plan         string     `json:"plan"`
	Status       string     `json:"status"`
	LeavesPlanAt *time.Time `json:"leaves_plan_at" doc:"When the account goes back to fallback_plan unless the buyer acts: the period's end of a cancelled subscription, the grace period's end of an unpaid renewal; null otherwise."`
	FallbackPlan string     `json:"fallback_plan"`
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
	ID        string           `json:"id" pattern:"^[0-9]+$"`
	Object    string           `json:"object" const:"entry"`
	TxnID     string           `json:"transaction_id" doc:"The entries of one transaction sum to zero."`
	Kind      string           `json:"kind" enum:"grant,hold,capture,release,expire,hold_expire,usage,refund"`
	AccountID string           `json:"account_id"`
	Book      string           `json:"book" doc:"available, held, issuance, breakage, refunds or revenue:<product>."`
	GrantID   string           `json:"grant_id,omitempty"`
	HoldID    string           `json:"hold_id,omitempty"`
	Credits   tollgate.Credits `json:"credits" doc:"Positive: credited to book."`
	CreatedAt time.Time        `json:"created_at"`
}

// listView is a page of a list; XList in the document.
type listView[T any] struct {
	Object     string `json:"object" const:"list"`
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more" doc:"Whether there is another page: ask for it with cursor=next_cursor."`
	NextCursor string `json:"next_cursor,omitempty" doc:"The cursor of the next page, when has_more."`
}

func (listView[T]) schemaName() string { return schemaNameOf(reflect.TypeFor[T]()) + "List" }

type keyView struct {
	ID         string             `json:"id"`
	Object     string             `json:"object" const:"api_key"`
	AccountID  string             `json:"account_id"`
	Name       string             `json:"name" doc:"Given by its creator, to tell keys apart; may be empty." maxLength:"100"`
	Prefix     string             `json:"prefix" doc:"The secret's first 10 characters, to recognise the key; too few to use it."`
	Key        *string            `json:"key" doc:"The secret, shown once, in the answer that creates the key; null everywhere else. Send it as Authorization: Bearer <key>. It is never stored: the answer replayed for a repeated Idempotency-Key has null here, and a client that lost the secret revokes the key and creates another." pattern:"^tg_"` // the secret: when created only, never stored
	Scopes     []tollgate.Scope   `json:"scopes" doc:"read: GET requests; write: the others. Both unless the key was made with fewer."`
	Products   []tollgate.Product `json:"products" doc:"The products the key may hold, use and quote for, and whose holds it may settle; null for every product." nullable:"true"` // null: every product
	ExpiresAt  *time.Time         `json:"expires_at" doc:"When the key stops working (401); null if never."`
	Limits     limitsView         `json:"limits"`
	CreatedAt  time.Time          `json:"created_at"`
	LastUsedAt *time.Time         `json:"last_used_at" doc:"When the key was last accepted, to within a minute; null if never."`
	RevokedAt  *time.Time         `json:"revoked_at" doc:"When the key was revoked; null while it works."`
}

func (keyView) schemaName() string { return "APIKey" }

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
	RequestsPerSecond  *int `json:"requests_per_second" doc:"Requests a second one key may send to one instance, on average, with a burst of as many." minimum:"1" maximum:"100000"`
	ConcurrentRequests *int `json:"concurrent_requests" doc:"Requests one key may have in flight on one instance." minimum:"1" maximum:"10000"`
	MaxPendingHolds    *int `json:"max_pending_holds" doc:"Pending holds at once: per account for a plan, per key for a key; across every instance. More is refused with 409 too_many_pending_holds." minimum:"1" maximum:"1000000"`
}

func (limitsView) doc() string {
	return "The key's own limits; null where its plan's apply. A key's limit can only lower its plan's."
}

func (limitsView) schemaName() string { return "KeyLimits" }

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
	RequestsPerSecond  *int `json:"requests_per_second" doc:"Requests a second one key may send to one instance, on average, with a burst of as many." minimum:"1" maximum:"100000"`
	ConcurrentRequests *int `json:"concurrent_requests" doc:"Requests one key may have in flight on one instance." minimum:"1" maximum:"10000"`
	MaxPendingHolds    *int `json:"max_pending_holds" doc:"Pending holds at once: per account for a plan, per key for a key; across every instance. More is refused with 409 too_many_pending_holds." minimum:"1" maximum:"1000000"`
}

func (limitsRequest) doc() string {
	return "Limits to set; a member left out or null takes the default (for a plan) or the plan's (for a key)."
}

func (limitsRequest) schemaName() string { return "Limits" }

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

// metadata is a hold's own labels, as its owner gave them.
type metadata map[string]string

func (metadata) jsonSchema(*schemas) map[string]any {
	return map[string]any{"type": "object", "maxProperties": ledger.MaxMetadataKeys,
		"propertyNames":        map[string]any{"minLength": 1, "maxLength": ledger.MaxMetadataKeyLen},
		"additionalProperties": map[string]any{"type": "string", "maxLength": ledger.MaxMetadataValueLen},
		"description": fmt.Sprintf("Your own labels for the hold, returned as given: at most %d keys of 1 to %d characters, string values of "+
			"at most %d characters, %d bytes of keys and values in all; one level deep, text without control characters.",
			ledger.MaxMetadataKeys, ledger.MaxMetadataKeyLen, ledger.MaxMetadataValueLen, ledger.MaxMetadataBytes)}
}
