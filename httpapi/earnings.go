package httpapi

import (
	"encoding/csv"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"tollgate"
	"tollgate/cameo"
)

type statementLineView struct {
	Period  string           `json:"period" doc:"The day (YYYY-MM-DD) or month (YYYY-MM) of the owner's time zone."`
	Kind    string           `json:"kind" enum:"cameo,remix" doc:"cameo: uses of a cameo; remix: remixes, edits and extensions of a published video."`
	Subject string           `json:"subject" doc:"The cameo's or the published video's id."`
	Handle  string           `json:"handle,omitempty" doc:"A cameo's @handle."`
	Uses    int64            `json:"uses"`
	Gross   tollgate.Credits `json:"gross" doc:"The fees paid."`
	Take    tollgate.Credits `json:"take" doc:"The platform's take of them."`
	Net     tollgate.Credits `json:"net" doc:"What the owner received: gross less take."`
}

type statementView struct {
	Object    string              `json:"object" const:"earnings_statement"`
	AccountID string              `json:"account_id"`
	Timezone  string              `json:"timezone"`
	From      string              `json:"from" doc:"The first day, YYYY-MM-DD."`
	To        string              `json:"to" doc:"The day after the last, YYYY-MM-DD."`
	GroupBy   string              `json:"group_by" enum:"day,month"`
	Data      []statementLineView `json:"data"`
	Total     statementTotalView  `json:"total" doc:"Every line summed."`
}

type statementTotalView struct {
	Uses  int64            `json:"uses"`
	Gross tollgate.Credits `json:"gross"`
	Take  tollgate.Credits `json:"take"`
	Net   tollgate.Credits `json:"net"`
}

func (statementView) schemaName() string { return "EarningsStatement" }

// statementAnswer is a statement as JSON, or as CSV.
type statementAnswer struct {
	view statementView
	csv  bool
}

func (statementAnswer) schemaOf() reflect.Type { return reflect.TypeFor[statementView]() }

func (statementAnswer) alsoContent() map[string]any {
	return map[string]any{"text/csv": map[string]any{"type": "string",
		"description": "A header row (period, kind, subject, handle, uses, gross, take, net), one row per line, then the total's."}}
}

func (statementAnswer) alsoHeaders() map[string]any { return map[string]any{} }

func (a statementAnswer) writeAnswer(w http.ResponseWriter, status int) error {
	if !a.csv {
		return writeJSON(w, status, a.view)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tollgate-earnings.csv"`)
	w.WriteHeader(status)
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"period", "kind", "subject", "handle", "uses", "gross", "take", "net"}); err != nil {
		return err
	}
	tv := a.view.Total
	total := statementLineView{Period: "total", Uses: tv.Uses, Gross: tv.Gross, Take: tv.Take, Net: tv.Net}
	for _, l := range append(a.view.Data, total) {
		if err := cw.Write([]string{l.Period, l.Kind, csvSafe(l.Subject), csvSafe(l.Handle), strconv.FormatInt(l.Uses, 10), l.Gross.String(),
			l.Take.String(), l.Net.String()}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// localDate parses a YYYY-MM-DD of loc; "" is def.
func localDate(field, s string, loc *time.Location, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, tollgate.FieldError(field, "must be a date, YYYY-MM-DD")
	}
	return t, nil
}

func (s *Server) earnings(r *http.Request, c *call, in *struct {
	AccountID string `query:"account_id" doc:"Required with an admin key. With an account key, its own."`
	From      string `query:"from" format:"date" doc:"The first day, YYYY-MM-DD in the owner's time zone; default: the first of this month."`
	To        string `query:"to" format:"date" doc:"The day after the last, YYYY-MM-DD; default: the day after from's month ends. At most 366 days after from."`
	GroupBy   string `query:"group_by" enum:"day,month" doc:"day (the default) or month."`
	Format    string `query:"format" enum:"json,csv" doc:"json (the default) or csv."`
}) (statementAnswer, error) {
	if err := s.cameosOn(); err != nil {
		return statementAnswer{}, err
	}
	if in.Format != "" && in.Format != "json" && in.Format != "csv" {
		return statementAnswer{}, tollgate.FieldError("format", "must be json or csv")
	}
	acct, err := c.bodyAccount(in.AccountID)
	if err != nil {
		return statementAnswer{}, err
	}
	a, err := s.l.Account(r.Context(), acct)
	if err != nil {
		return statementAnswer{}, err
	}
	loc := a.Location()
	month, _, _ := cameo.Month.Span(s.l.Clock().Now(), loc)
	from, err := localDate("from", in.From, loc, month)
	if err != nil {
		return statementAnswer{}, err
	}
	_, end, _ := cameo.Month.Span(from, loc)
	to, err := localDate("to", in.To, loc, end)
	if err != nil {
		return statementAnswer{}, err
	}
	per := cameo.Period(in.GroupBy)
	if per == "" {
		per = cameo.Day
	}
	lines, err := s.Cameos.Statement(r.Context(), acct, from, to, per)
	if err != nil {
		return statementAnswer{}, err
	}
	layout := time.DateOnly
	if per == cameo.Month {
		layout = "2006-01"
	}
	out := statementView{Object: "earnings_statement", AccountID: acct, Timezone: a.Timezone, From: from.Format(time.DateOnly),
		To: to.Format(time.DateOnly), GroupBy: string(per), Data: []statementLineView{}}
	for _, l := range lines {
		v := statementLineView{Period: l.Period.Format(layout), Kind: string(l.Kind), Subject: l.Subject, Uses: l.Uses, Gross: l.Gross,
			Take: l.Take, Net: l.Net}
		if l.Handle != "" {
			v.Handle = "@" + l.Handle
		}
		out.Data = append(out.Data, v)
		out.Total.Uses += l.Uses
		out.Total.Gross += l.Gross
		out.Total.Take += l.Take
		out.Total.Net += l.Net
	}
	return statementAnswer{view: out, csv: in.Format == "csv"}, nil
}

type leaderboardEntryView struct {
	Rank      int              `json:"rank"`
	ID        string           `json:"id" doc:"The video's, the cameo's or the creator's (account) id."`
	Handle    string           `json:"handle,omitempty" doc:"A cameo's @handle."`
	Name      string           `json:"name,omitempty" doc:"A cameo's name."`
	AccountID string           `json:"account_id,omitempty" doc:"A video's creator, or the creator."`
	Uses      int64            `json:"uses" doc:"videos: paid remixes, edits and extensions; cameos: paid uses; creators: videos generated."`
	Earnings  tollgate.Credits `json:"earnings" doc:"What the fees earned their owner (net of the take)."`
}

type leaderboardView struct {
	Object   string                 `json:"object" const:"leaderboard"`
	Board    string                 `json:"board" enum:"videos,cameos,creators"`
	Period   string                 `json:"period" enum:"day,week,month"`
	By       string                 `json:"by" enum:"uses,earnings"`
	Timezone string                 `json:"timezone" doc:"The viewer's: where the period starts (weeks on Monday)."`
	From     time.Time              `json:"from"`
	To       time.Time              `json:"to"`
	Data     []leaderboardEntryView `json:"data"`
}

func (leaderboardView) schemaName() string { return "Leaderboard" }

func (s *Server) leaderboard(r *http.Request, c *call, in *struct {
	Board    string `query:"board" enum:"videos,cameos,creators" doc:"Required."`
	Period   string `query:"period" enum:"day,week,month" doc:"Default day."`
	By       string `query:"by" enum:"uses,earnings" doc:"Default uses."`
	Date     string `query:"date" format:"date" doc:"A day of the period shown, YYYY-MM-DD in the viewer's time zone; default today."`
	Timezone string `query:"timezone" doc:"Admin keys: the time zone (IANA) of the periods; default UTC. Account keys: their account's."`
	Limit    int    `query:"limit" minimum:"1" maximum:"100" default:"10"`
}) (leaderboardView, error) {
	if err := s.cameosOn(); err != nil {
		return leaderboardView{}, err
	}
	loc, tz := time.UTC, "UTC"
	switch {
	case !c.key.Admin() && in.Timezone != "":
		return leaderboardView{}, tollgate.FieldError("timezone", "is for admin keys: an account's periods are in its own time zone")
	case !c.key.Admin():
		a, err := s.l.Account(r.Context(), c.key.AccountID)
		if err != nil {
			return leaderboardView{}, err
		}
		loc, tz = a.Location(), a.Timezone
	case in.Timezone != "":
		l, err := time.LoadLocation(in.Timezone)
		if err != nil || in.Timezone == "Local" {
			return leaderboardView{}, tollgate.FieldError("timezone", "unknown time zone %q; use an IANA name such as Europe/Paris", in.Timezone)
		}
		loc, tz = l, in.Timezone
	}
	if in.Board == "" {
		return leaderboardView{}, tollgate.FieldError("board", "is required: videos, cameos or creators")
	}
	per := cameo.Period(in.Period)
	if per == "" {
		per = cameo.Day
	}
	at, err := localDate("date", in.Date, loc, s.l.Clock().Now())
	if err != nil {
		return leaderboardView{}, err
	}
	es, from, to, err := s.Cameos.Leaderboard(r.Context(), cameo.LeaderboardParams{Board: cameo.Board(in.Board), Period: per, By: in.By,
		At: at, Loc: loc, Limit: in.Limit})
	if err != nil {
		return leaderboardView{}, err
	}
	out := leaderboardView{Object: "leaderboard", Board: in.Board, Period: string(per), By: "uses", Timezone: tz, From: from, To: to,
		Data: []leaderboardEntryView{}}
	if in.By == "earnings" {
		out.By = "earnings"
	}
	for _, e := range es {
		v := leaderboardEntryView{Rank: e.Rank, ID: e.Subject, Name: e.Name, AccountID: e.OwnerID, Uses: e.Uses, Earnings: e.Net}
		if e.Handle != "" {
			v.Handle = "@" + e.Handle
		}
		out.Data = append(out.Data, v)
	}
	return out, nil
}

type optInRequest struct {
	AccountID string `json:"account_id" doc:"Required with an admin key."`
	OptIn     *bool  `json:"opt_in" required:"true" doc:"true: the account appears on the creators' leaderboard; false: it does not (the default)."`
}

func (optInRequest) schemaName() string { return "LeaderboardOptInRequest" }

type optInView struct {
	Object    string `json:"object" const:"leaderboard.opt_in"`
	AccountID string `json:"account_id"`
	OptIn     bool   `json:"opt_in"`
}

func (optInView) schemaName() string { return "LeaderboardOptIn" }

func (s *Server) optIn(r *http.Request, c *call, in *struct{ Body optInRequest }) (optInView, error) {
	if err := s.cameosOn(); err != nil {
		return optInView{}, err
	}
	acct, err := c.bodyAccount(in.Body.AccountID)
	if err != nil {
		return optInView{}, err
	}
	if in.Body.OptIn == nil {
		return optInView{}, tollgate.FieldError("opt_in", "is required: true or false")
	}
	if _, err := s.l.Account(r.Context(), acct); err != nil {
		return optInView{}, err
	}
	if err := s.Cameos.OptIn(r.Context(), acct, *in.Body.OptIn); err != nil {
		return optInView{}, err
	}
	return optInView{Object: "leaderboard.opt_in", AccountID: acct, OptIn: *in.Body.OptIn}, nil
}

func (s *Server) registerEarnings() {
	handle(s, op{pattern: "GET /v1/earnings", id: "earningsStatement", tag: "cameos", summary: "Earnings statement",
		errors: []tollgate.Code{tollgate.CodeNotFound},
		description: "What the account's cameos and published videos earned per day or month of its time zone: uses, the fees paid (gross), " +
			"the platform's take, and the net its royalty grants received. Summed from counters the captures keep, never from the history.",
		answer: "The statement."}, s.earnings)
	handle(s, op{pattern: "GET /v1/leaderboards", id: "leaderboard", tag: "cameos", summary: "A leaderboard",
		description: "videos: the most remixed and extended published videos (paid uses by other accounts); cameos: the top cameos by paid " +
			"uses or earnings; creators: accounts that opted in, by videos generated or earnings. Periods start in the viewer's time zone, " +
			"weeks on Monday. Paused, deleted and unlisted cameos and unpublished videos are not shown.",
		answer: "The leaderboard."}, s.leaderboard)
	handle(s, op{pattern: "POST /v1/leaderboards/opt_in", id: "leaderboardOptIn", tag: "cameos", summary: "Appear on the creators' leaderboard",
		errors:      []tollgate.Code{tollgate.CodeNotFound},
		description: "Accounts are off the creators' leaderboard until they opt in.", answer: "Where the account stands."}, s.optIn)
}
