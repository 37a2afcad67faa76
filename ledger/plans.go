package ledger

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"tollgate"
	"tollgate/store"
)

// DefaultPlanNotice is how far ahead a cut to a plan must be announced.
const DefaultPlanNotice = 14 * 24 * time.Hour

// PlanVersionParams are the arguments of AddPlanVersion.
type PlanVersionParams struct {
	Plan        string
	Allowances  map[tollgate.Product]tollgate.Credits // daily allowance per product; absent is none
	EffectiveAt *time.Time                            // default now
	// Force applies a cut with less than the notice period. Accounts still
	// see it in their balance and in the Tollgate-Notice header until then.
	Force bool
	// Limits for the plan's keys; nil keeps those of the plan's latest
	// version (the defaults for a new plan).
	Limits      *tollgate.Limits
	Idempotency *Idempotency
}

var planPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// AddPlanVersion adds a version to a plan, or creates the plan. A cut (a
// lower allowance for any product than the version it follows) must take
// effect at least the notice period ahead unless forced: it fails with
// notice_required, naming the earliest allowed instant. Accounts move to the
// new version at EffectiveAt, with no restart.
func (l *Ledger) AddPlanVersion(ctx context.Context, p PlanVersionParams) (tollgate.PlanVersion, error) {
	if !planPattern.MatchString(p.Plan) {
		return tollgate.PlanVersion{}, tollgate.FieldError("plan", "must be 1 to 64 lowercase letters, digits, '_' or '-'")
	}
	for prod, c := range p.Allowances {
		if !prod.Valid() {
			return tollgate.PlanVersion{}, tollgate.FieldError("daily_allowances", "unknown product %q; known: video, assistant, stitch", prod)
		}
		if c < 0 || c > tollgate.MaxCredits {
			return tollgate.PlanVersion{}, tollgate.FieldError("daily_allowances", "%s: must be from 0 to %s", prod, tollgate.MaxCredits)
		}
	}
	if p.Limits != nil {
		if err := validateLimits("limits", *p.Limits); err != nil {
			return tollgate.PlanVersion{}, err
		}
	}
	now := l.clock.Now()
	eff := now
	if p.EffectiveAt != nil {
		eff = *p.EffectiveAt
	}
	if eff.Before(now) {
		return tollgate.PlanVersion{}, tollgate.FieldError("effective_at", "must not be in the past")
	}
	defer l.plansWritten() // after the commit, before the answer: a batch that starts once it is answered reads them
	res, err := l.writeIdempotent(ctx, p.Idempotency, func(tx store.Tx) (any, error) {
		vs, err := tx.PlanVersionList(ctx)
		if err != nil {
			return nil, err
		}
		v := tollgate.PlanVersion{Plan: p.Plan, Version: 1, EffectiveAt: eff, Allowances: map[tollgate.Product]tollgate.Credits{}, CreatedAt: now}
		for prod, c := range p.Allowances {
			if c > 0 {
				v.Allowances[prod] = c
			}
		}
		for _, o := range vs {
			if o.Plan == p.Plan && o.Version >= v.Version {
				v.Version = o.Version + 1
				v.Limits = o.Limits
			}
		}
		if p.Limits != nil {
			v.Limits = *p.Limits
		}
		if prev := planAt(vs, p.Plan, eff); prev != nil {
			if cuts := cutsOf(prev.Allowances, v.Allowances); len(cuts) > 0 && !p.Force {
				if earliest := now.Add(l.opt.PlanNotice); eff.Before(earliest) {
					return nil, &tollgate.Error{Code: tollgate.CodeNoticeRequired, Field: "effective_at", Title: "A cut to a plan must be announced before it applies", Message: fmt.Sprintf(
						"this cuts %s; a cut must be announced %s ahead: set effective_at at or after %s, or force it",
						strings.Join(cuts, ", "), days(l.opt.PlanNotice), earliest.Format(time.RFC3339))}
				}
			}
		}
		if err := tx.PlanVersionInsert(ctx, v); err != nil {
			return nil, err
		}
		detail := map[string]any{"plan": v.Plan, "version": v.Version, "effective_at": v.EffectiveAt,
			"daily_allowances": v.Allowances, "limits": v.Limits}
		if prev := planAt(vs, p.Plan, eff); prev != nil {
			if cuts := cutsOf(prev.Allowances, v.Allowances); len(cuts) > 0 {
				detail["cuts"] = cuts
				detail["forced"] = p.Force && eff.Before(now.Add(l.opt.PlanNotice))
			}
		}
		if err := l.Audit(ctx, tx, "plan_version.create", "", v.Plan, detail); err != nil {
			return nil, err
		}
		if v.EffectiveAt.After(now) {
			data := map[string]any{"plan": v.Plan, "version": v.Version, "effective_at": v.EffectiveAt, "daily_allowances": v.Allowances}
			if prev := planAt(vs, p.Plan, eff); prev != nil {
				data["previous_daily_allowances"] = prev.Allowances
			}
			ev, err := tollgate.NewEvent(tollgate.EventPlanChangeScheduled, "", now, data)
			if err != nil {
				return nil, err
			}
			if err := tx.EventEnqueue(ctx, ev); err != nil {
				return nil, err
			}
		}
		return v, nil
	})
	if err != nil {
		return tollgate.PlanVersion{}, err
	}
	return res.(tollgate.PlanVersion), nil
}

// cutsOf lists the products whose allowance goes down from prev to next.
func cutsOf(prev, next map[tollgate.Product]tollgate.Credits) []string {
	var cuts []string
	for prod, c := range prev {
		if next[prod] < c {
			cuts = append(cuts, fmt.Sprintf("%s from %s to %s a day", prod, c, next[prod]))
		}
	}
	sort.Strings(cuts)
	return cuts
}

// Notice describes the next change to a plan after now, for the
// Tollgate-Notice header, or "" if none is scheduled.
func Notice(vs []tollgate.PlanVersion, plan string, now time.Time) string {
	ch := upcoming(vs, plan, now)
	if len(ch) == 0 {
		return ""
	}
	c := ch[0]
	var parts []string
	for _, prod := range tollgate.Products {
		if before, after := c.Previous[prod], c.Allowances[prod]; before != after {
			parts = append(parts, fmt.Sprintf("%s %s -> %s credits a day", prod, before, after))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no allowance changes")
	}
	return fmt.Sprintf("plan %q changes at %s: %s; see upcoming_changes in the balance",
		plan, c.EffectiveAt.Format(time.RFC3339), strings.Join(parts, ", "))
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// PlanAt returns the version of plan in force at t, or nil.
func PlanAt(vs []tollgate.PlanVersion, plan string, t time.Time) *tollgate.PlanVersion {
	return planAt(vs, plan, t)
}
