package ledger

import (
	"time"

	"tollgate"
)

// MinAllowanceDay is the shortest allowance period: after a time-zone
// change, the first period runs from the end of the day then in progress to
// the new zone's next midnight, or the one after when that is closer than
// this, so that a change neither grants a second allowance within hours
// nor skips a day.
const MinAllowanceDay = 12 * time.Hour

// allowancePeriod is the allowance period now falls in for an account in
// loc whose time zone changed at the end of the day in progress then,
// tzFrom (nil if it never changed): before tzFrom, the old day, ending at
// tzFrom; from tzFrom, periods start at tzFrom or at local midnight and end
// at local midnight, at least MinAllowanceDay after their start. ref names
// the period's allowance grant, unique per account.
func allowancePeriod(p tollgate.Product, loc *time.Location, tzFrom *time.Time, now time.Time) (start, end time.Time, ref string) {
	start = startOfDay(now, loc)
	switch {
	case tzFrom != nil && now.Before(*tzFrom):
		// The day in progress when the zone changed keeps its end.
		return start, *tzFrom, "allowance:" + string(p) + ":until-" + tzFrom.UTC().Format(time.RFC3339)
	case tzFrom != nil && tzFrom.After(start):
		start = *tzFrom
	}
	end = tollgate.NextMidnight(start, loc)
	if end.Sub(start) < MinAllowanceDay {
		end = tollgate.NextMidnight(end, loc)
	}
	if start.Equal(startOfDay(start, loc)) && end.Equal(tollgate.NextMidnight(start, loc)) {
		// A plain local day: named by its date, and its zone unless UTC,
		// so that days of two zones never share a name.
		ref = allowanceRef(p, tollgate.LocalDate(start, loc))
		if name := loc.String(); name != "UTC" {
			ref += "@" + name
		}
		return start, end, ref
	}
	return start, end, "allowance:" + string(p) + ":until-" + end.UTC().Format(time.RFC3339)
}

// dailyLimit is the allowance of a for p at now: its plan's, or until
// the end of the day in which its plan changed, the greater of its old and
// new plans'.
func dailyLimit(vs []tollgate.PlanVersion, a *tollgate.Account, p tollgate.Product, now time.Time) tollgate.Credits {
	limit, _ := planAllowance(vs, a.Plan, p, now)
	if a.PlanFrom != nil && now.Before(*a.PlanFrom) {
		if before, _ := planAllowance(vs, a.PlanBefore, p, now); before > limit {
			return before
		}
	}
	return limit
}

// dayEnd is when the allowance period in progress for a ends: that of an
// allowance in force, or of the period now falls in.
func dayEnd(a *tollgate.Account, open []tollgate.Grant, now time.Time) time.Time {
	_, end, _ := allowancePeriod(tollgate.ProductVideo, a.Location(), a.TimezoneFrom, now)
	for i := range open {
		if g := &open[i]; g.Source == tollgate.SourceAllowance && g.Usable(now) && g.ExpiresAt.After(end) {
			end = *g.ExpiresAt
		}
	}
	return end
}

// isAllowance reports whether g is a daily allowance for p in force at now.
func isAllowance(g *tollgate.Grant, p tollgate.Product, now time.Time) bool {
	return g.Source == tollgate.SourceAllowance && len(g.Products) == 1 && g.Products[0] == p && g.Usable(now)
}
