package httpapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"tollgate"
	"tollgate/ledger"
)

type planVersionView struct {
	Plan        string                                `json:"plan"`
	Object      string                                `json:"object" const:"plan_version"`
	Version     int                                   `json:"version"`
	EffectiveAt time.Time                             `json:"effective_at"`
	Allowances  map[tollgate.Product]tollgate.Credits `json:"daily_allowances"`
	Limits      planLimitsView                        `json:"limits"`
	CreatedAt   time.Time                             `json:"created_at"`
}

// planLimitsView shows a plan's limits in force: its own, or the defaults.
type planLimitsView struct {
	RequestsPerSecond  int `json:"requests_per_second" doc:"Requests a second one key may send to one instance, on average, with a burst of as many." minimum:"1" maximum:"100000"`
	ConcurrentRequests int `json:"concurrent_requests" doc:"Requests one key may have in flight on one instance." minimum:"1" maximum:"10000"`
	MaxPendingHolds    int `json:"max_pending_holds" doc:"Pending holds at once: per account for a plan, per key for a key; across every instance. More is refused with 409 too_many_pending_holds." minimum:"1" maximum:"1000000"`
}

func (planLimitsView) doc() string {
	return "Limits on each account key of the plan's accounts, in force with this version: its own, or the defaults (100 requests a second, 32 in flight, 1,000 pending holds)."
}

func viewPlanVersion(v tollgate.PlanVersion) planVersionView {
	a := v.Allowances
	if a == nil {
		a = map[tollgate.Product]tollgate.Credits{}
	}
	l := v.Limits.Or(tollgate.DefaultLimits)
	return planVersionView{v.Plan, "plan_version", v.Version, v.EffectiveAt, a,
		planLimitsView{l.RequestsPerSecond, l.ConcurrentRequests, l.MaxPendingHolds}, v.CreatedAt}
}

type planView struct {
	ID        string            `json:"id"`
	Object    string            `json:"object" const:"plan"`
	Current   *planVersionView  `json:"current"`
	Scheduled []planVersionView `json:"scheduled"`
	Versions  []planVersionView `json:"versions"`
	Prices    []planPriceView   `json:"prices" doc:"What a subscription to the plan costs, per interval, where it is sold (POST /v1/subscriptions)."`
}

type createPlanVersionRequest struct {
	Allowances  map[tollgate.Product]amount `json:"daily_allowances" doc:"Credits a day per product; absent products get none." required:"true"`
	EffectiveAt string                      `json:"effective_at" doc:"Default now. A cut must be at least the notice period (14 days by default) ahead unless force is set." format:"date-time"`
	Force       bool                        `json:"force" doc:"Apply a cut with less notice than the period."`
	Limits      *limitsRequest              `json:"limits" doc:"Limits on the plan's account keys from this version on. Left out, the plan's latest version's are kept (the defaults for a new plan). Limits need no notice."`
}

func (s *Server) createPlanVersion(r *http.Request, c *call, in *struct {
	Plan string `path:"plan" doc:"The plan's name, such as free or pro; a new name creates the plan."`
	Body createPlanVersionRequest
}) (planVersionView, error) {
	req := in.Body
	if req.Allowances == nil {
		return planVersionView{}, tollgate.FieldError("daily_allowances", `is required, e.g. {"video": "30"}; {} for none`)
	}
	p := ledger.PlanVersionParams{Plan: in.Plan, Allowances: map[tollgate.Product]tollgate.Credits{}, Force: req.Force}
	for prod, a := range req.Allowances {
		if a.err != nil {
			return planVersionView{}, tollgate.FieldError("daily_allowances", "%s: %v", prod, a.err)
		}
		p.Allowances[prod] = a.v
	}
	if req.Limits != nil {
		l := req.Limits.limits()
		p.Limits = &l
	}
	var err error
	if p.EffectiveAt, err = parseTime("effective_at", req.EffectiveAt); err != nil {
		return planVersionView{}, err
	}
	view := func(v any) any { return viewPlanVersion(v.(tollgate.PlanVersion)) }
	p.Idempotency = c.idempotency(r, view)
	v, err := s.l.AddPlanVersion(r.Context(), p)
	if err != nil {
		return planVersionView{}, err
	}
	s.plans.forget()
	return viewPlanVersion(v), nil
}

// listPlans is public: every plan, the version in force and those to come.
func (s *Server) listPlans(r *http.Request, in *struct{}) (listView[planView], error) {
	vs, err := s.l.Plans(r.Context())
	if err != nil {
		return listView[planView]{}, err
	}
	now := s.l.Clock().Now()
	byPlan := map[string]*planView{}
	var names []string
	for _, v := range vs {
		p := byPlan[v.Plan]
		if p == nil {
			p = &planView{ID: v.Plan, Object: "plan", Scheduled: []planVersionView{}, Versions: []planVersionView{}, Prices: []planPriceView{}}
			byPlan[v.Plan] = p
			names = append(names, v.Plan)
		}
		pv := viewPlanVersion(v)
		p.Versions = append(p.Versions, pv)
		if v.EffectiveAt.After(now) {
			p.Scheduled = append(p.Scheduled, pv)
		} else if p.Current == nil || v.EffectiveAt.After(p.Current.EffectiveAt) ||
			(v.EffectiveAt.Equal(p.Current.EffectiveAt) && v.Version > p.Current.Version) {
			cur := pv
			p.Current = &cur
		}
	}
	sort.Strings(names)
	prices, err := s.Payments.PlanPrices(r.Context())
	if err != nil {
		return listView[planView]{}, err
	}
	for _, pp := range prices {
		if p := byPlan[pp.Plan]; p != nil && pp.Active {
			p.Prices = append(p.Prices, viewPlanPrice(pp))
		}
	}
	out := listView[planView]{Object: "list", Data: []planView{}}
	for _, n := range names {
		out.Data = append(out.Data, *byPlan[n])
	}
	return out, nil
}

// planCache keeps plan versions for the Tollgate-Notice header, for a few
// seconds: a scheduled change is announced days ahead.
type planCache struct {
	mu sync.Mutex
	at time.Time
	vs []tollgate.PlanVersion
}

const planCacheTTL = 5 * time.Second

func (c *planCache) forget() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// notice sets the Tollgate-Notice header when the calling account's plan
// (of vs, the plan versions), or the prices, have a change scheduled.
func (s *Server) notice(w http.ResponseWriter, r *http.Request, vs []tollgate.PlanVersion, plan string) {
	if plan == "" {
		return
	}
	now := s.l.Clock().Now()
	var notes []string
	if n := ledger.Notice(vs, plan, now); n != "" {
		notes = append(notes, n)
	}
	if c, err := s.Quotes.Prices(r.Context()); err == nil {
		if sched := c.Scheduled(now); len(sched) > 0 {
			var ids []string
			for _, rule := range sched {
				if rule.EffectiveAt.Equal(sched[0].EffectiveAt) {
					ids = append(ids, rule.ID)
				}
			}
			notes = append(notes, fmt.Sprintf("prices change at %s: %s; see upcoming_price_changes in the balance and /v1/prices",
				sched[0].EffectiveAt.Format(time.RFC3339), strings.Join(ids, ", ")))
		}
	}
	if len(notes) > 0 {
		w.Header().Set("Tollgate-Notice", strings.Join(notes, "; "))
	}
}
