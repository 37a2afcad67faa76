package gateway

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"tollgate"
	"tollgate/store/record"
)

// Groupings of a margin report.
const (
	ByProvider = "provider"
	ByModel    = "model"
	ByDay      = "day"
)

// MaxMarginPeriod bounds a margin report's period.
const MaxMarginPeriod = 366 * 24 * time.Hour

// MarginRow is a margin report's line: the jobs of one group that ended in
// the period.
type MarginRow struct {
	Key       string // the provider ("none" for jobs never sent), the model, or the UTC day
	Completed int
	Failed    int
	Charged   tollgate.Credits
	// Revenue is what the credits charged were paid for; Cost what the
	// providers charge for the completed videos; Margin the difference;
	// all per currency. PossibleCost is what attempts whose outcome stayed
	// unknown may cost (the provider may have made them).
	Revenue      []tollgate.Money
	Cost         []tollgate.Money
	Margin       []tollgate.Money
	PossibleCost []tollgate.Money
}

// MarginReport is the margin of the jobs that ended in [From, To).
type MarginReport struct {
	From, To time.Time
	GroupBy  string
	Rows     []MarginRow // by key
	Total    MarginRow
}

// marginPage is how many jobs one read of a report takes.
const marginPage = 500

// Margin reports, per group, the jobs that ended (completed or failed) in
// [from, to): credits charged, what they were paid for, what the providers
// charge, and the margin. It reads the jobs a page at a time.
func (s *Service) Margin(ctx context.Context, from, to time.Time, groupBy string) (MarginReport, error) {
	switch {
	case groupBy != ByProvider && groupBy != ByModel && groupBy != ByDay:
		return MarginReport{}, tollgate.FieldError("group_by", "must be provider, model or day")
	case !from.Before(to):
		return MarginReport{}, tollgate.FieldError("from", "must be before to")
	case to.Sub(from) > MaxMarginPeriod:
		return MarginReport{}, tollgate.FieldError("from", "the period is %s; a report covers at most 366 days", to.Sub(from).Round(time.Hour))
	}
	rep := MarginReport{From: from.UTC(), To: to.UTC(), GroupBy: groupBy, Total: MarginRow{Key: "total"}}
	rows := map[string]*MarginRow{}
	p := record.VideosEndedParams{To: to, AfterAt: from, Limit: marginPage}
	for {
		var page []tollgate.Video
		if err := s.c.Ledger.ReadRecords(ctx, func(tx record.Tx) error {
			var err error
			page, err = tx.VideosEnded(ctx, p)
			return err
		}); err != nil {
			return MarginReport{}, err
		}
		for _, v := range page {
			key := v.Model
			switch groupBy {
			case ByProvider:
				key = cmp.Or(v.Provider, "none")
			case ByDay:
				key = v.CompletedAt.UTC().Format(time.DateOnly)
			}
			r := rows[key]
			if r == nil {
				r = &MarginRow{Key: key}
				rows[key] = r
			}
			for _, row := range []*MarginRow{r, &rep.Total} {
				row.add(v)
			}
		}
		if len(page) < p.Limit {
			break
		}
		last := page[len(page)-1]
		p.AfterAt, p.AfterID = *last.CompletedAt, last.ID
		if err := ctx.Err(); err != nil {
			return MarginReport{}, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(rows)) {
		r := rows[k]
		r.Margin = subtract(r.Revenue, r.Cost)
		rep.Rows = append(rep.Rows, *r)
	}
	rep.Total.Margin = subtract(rep.Total.Revenue, rep.Total.Cost)
	return rep, nil
}

func (r *MarginRow) add(v tollgate.Video) {
	r.Charged += v.Charged
	for _, m := range v.Revenue {
		r.Revenue = tollgate.AddMoney(r.Revenue, m)
	}
	if v.Status == tollgate.VideoCompleted {
		r.Completed++
		if v.Cost.Currency != "" {
			r.Cost = tollgate.AddMoney(r.Cost, v.Cost)
		}
	} else {
		r.Failed++
	}
	for _, a := range v.Attempts {
		if a.Outcome == outcomeUnknown && a.Cost.Currency != "" {
			r.PossibleCost = tollgate.AddMoney(r.PossibleCost, a.Cost)
		}
	}
}

// subtract is a less b, per currency.
func subtract(a, b []tollgate.Money) []tollgate.Money {
	out := slices.Clone(a)
	for _, m := range b {
		out = tollgate.AddMoney(out, tollgate.Money{Amount: -m.Amount, Currency: m.Currency})
	}
	slices.SortFunc(out, func(x, y tollgate.Money) int { return cmp.Compare(x.Currency, y.Currency) })
	return out
}
