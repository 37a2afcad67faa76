package httpapi

import (
	"encoding/csv"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"tollgate"
	"tollgate/gateway"
)

type marginRowView struct {
	Key          string           `json:"key" doc:"The provider (none for jobs never sent to one), the model, or the UTC day (YYYY-MM-DD)."`
	Completed    int              `json:"completed"`
	Failed       int              `json:"failed"`
	Charged      tollgate.Credits `json:"credits_charged"`
	Revenue      []tollgate.Money `json:"revenue" doc:"What the credits charged were paid for, per currency: purchased credits at their order's price per credit; allowance, promotion and admin credits are worth nothing."`
	Cost         []tollgate.Money `json:"cost" doc:"What the providers charge for the completed videos, by the catalog's figures, per currency."`
	Margin       []tollgate.Money `json:"margin" doc:"Revenue less cost, per currency."`
	PossibleCost []tollgate.Money `json:"possible_cost" doc:"What attempts whose outcome stayed unknown may cost: the provider may have made them."`
}

type marginView struct {
	Object  string          `json:"object" const:"margin_report"`
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	GroupBy string          `json:"group_by" enum:"provider,model,day"`
	Rows    []marginRowView `json:"rows"`
	Total   marginRowView   `json:"total"`
}

func (marginView) schemaName() string { return "MarginReport" }

func viewMarginRow(r gateway.MarginRow) marginRowView {
	orEmpty := func(ms []tollgate.Money) []tollgate.Money {
		if ms == nil {
			return []tollgate.Money{}
		}
		return ms
	}
	return marginRowView{Key: r.Key, Completed: r.Completed, Failed: r.Failed, Charged: r.Charged, Revenue: orEmpty(r.Revenue),
		Cost: orEmpty(r.Cost), Margin: orEmpty(r.Margin), PossibleCost: orEmpty(r.PossibleCost)}
}

// marginReport reports the video jobs that ended in a period: revenue,
// provider cost and margin, per provider, model or day, as JSON or CSV.
func (s *Server) marginReport(r *http.Request, c *call, in *struct {
	From    string `query:"from" format:"date-time" doc:"The period's start, RFC 3339 (default: 30 days before to)."`
	To      string `query:"to" format:"date-time" doc:"The period's end, exclusive, RFC 3339 (default: now). At most 366 days after from."`
	GroupBy string `query:"group_by" enum:"provider,model,day" doc:"provider (the default), model, or day (UTC)."`
	Format  string `query:"format" enum:"json,csv" doc:"json (the default) or csv."`
}) (marginAnswer, error) {
	if err := s.videosOn(); err != nil {
		return marginAnswer{}, err
	}
	if in.Format != "" && in.Format != "json" && in.Format != "csv" {
		return marginAnswer{}, tollgate.FieldError("format", "must be json or csv")
	}
	to := s.l.Clock().Now()
	if t, err := parseTime("to", in.To); err != nil {
		return marginAnswer{}, err
	} else if t != nil {
		to = *t
	}
	from := to.Add(-30 * 24 * time.Hour)
	if t, err := parseTime("from", in.From); err != nil {
		return marginAnswer{}, err
	} else if t != nil {
		from = *t
	}
	group := in.GroupBy
	if group == "" {
		group = gateway.ByProvider
	}
	rep, err := s.Videos.Margin(r.Context(), from, to, group)
	if err != nil {
		return marginAnswer{}, err
	}
	out := marginView{Object: "margin_report", From: rep.From, To: rep.To, GroupBy: rep.GroupBy, Rows: []marginRowView{}, Total: viewMarginRow(rep.Total)}
	for _, row := range rep.Rows {
		out.Rows = append(out.Rows, viewMarginRow(row))
	}
	return marginAnswer{view: out, csv: in.Format == "csv"}, nil
}

// marginAnswer is a margin report as JSON, or as CSV.
type marginAnswer struct {
	view marginView
	csv  bool
}

func (marginAnswer) schemaOf() reflect.Type { return reflect.TypeFor[marginView]() }

func (marginAnswer) alsoContent() map[string]any {
	return map[string]any{"text/csv": map[string]any{"type": "string",
		"description": "A header row, then one row per group and currency, then the total's: key, currency, completed, failed, " +
			"credits_charged, revenue, cost, margin, possible_cost (amounts in minor units of the currency)."}}
}

func (a marginAnswer) writeAnswer(w http.ResponseWriter, status int) error {
	if !a.csv {
		return writeJSON(w, status, a.view)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tollgate-margin.csv"`)
	w.WriteHeader(status)
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"key", "currency", "completed", "failed", "credits_charged", "revenue", "cost", "margin", "possible_cost"}); err != nil {
		return err
	}
	for _, row := range append(a.view.Rows, a.view.Total) {
		for _, cur := range currencies(row) {
			amount := func(ms []tollgate.Money) string {
				for _, m := range ms {
					if m.Currency == cur {
						return strconv.FormatInt(m.Amount, 10)
					}
				}
				return "0"
			}
			if err := cw.Write([]string{csvSafe(row.Key), cur, strconv.Itoa(row.Completed), strconv.Itoa(row.Failed), row.Charged.String(),
				amount(row.Revenue), amount(row.Cost), amount(row.Margin), amount(row.PossibleCost)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// currencies lists the currencies a row has amounts in, or "" for none.
func currencies(r marginRowView) []string {
	var out []string
	for _, ms := range [][]tollgate.Money{r.Revenue, r.Cost, r.Margin, r.PossibleCost} {
		for _, m := range ms {
			if !slices.Contains(out, m.Currency) {
				out = append(out, m.Currency)
			}
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

func (marginAnswer) alsoHeaders() map[string]any { return map[string]any{} }
