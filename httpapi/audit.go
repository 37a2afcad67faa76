package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"tollgate"
	"tollgate/store/record"
)

type auditView struct {
	ID        string          `json:"id"`
	Object    string          `json:"object" const:"audit_entry"`
	CreatedAt time.Time       `json:"created_at"`
	ActorKey  string          `json:"actor_key" doc:"The id of the key that acted; \"stripe\" for the payment provider, empty for Tollgate itself."`
	ActorKind string          `json:"actor_kind" enum:"admin,account,provider,system"`
	AccountID string          `json:"account_id" doc:"The account acted on; empty for actions on no account (plans, packs, prices, endpoints)."`
	Action    string          `json:"action" doc:"account.create, account.update, key.create, key.revoke, grant.create, plan_version.create, pack.put, price_rule.create, webhook_endpoint.create, webhook_endpoint.update, webhook_endpoint.delete, webhook_endpoint.rotate_secret, webhook_endpoint.resend, order.refund_requested or order.refund."`
	Target    string          `json:"target" doc:"The id of the object acted on."`
	RequestID string          `json:"request_id" doc:"The Request-Id of the request that acted; empty for background work."`
	Detail    json.RawMessage `json:"detail" doc:"What changed; never a secret."`
}

func (auditView) schemaName() string { return "AuditEntry" }

// MaxAuditCSV is the most entries one CSV page of the audit log holds.
const MaxAuditCSV = 10000

// listAudit pages through the audit log, as JSON or (?format=csv) as CSV
// with the next page's cursor in the Next-Cursor header.
func (s *Server) listAudit(r *http.Request, c *call, in *struct {
	AccountID string `query:"account_id" doc:"Only actions on this account."`
	ActorKey  string `query:"actor_key" doc:"Only actions by this key (its id)."`
	Action    string `query:"action" doc:"Only this action, such as grant.create or key.revoke."`
	createdQuery
	Format string `query:"format" enum:"json,csv" doc:"json (the default) or csv."`
	Limit  int    `query:"limit" minimum:"1" maximum:"10000" doc:"Page size: 1 to 100 (default 20) as JSON, 1 to 10,000 (default 1,000) as CSV."`
	Cursor string `query:"cursor" doc:"next_cursor (JSON) or Next-Cursor (CSV) of the previous page."`
}) (auditAnswer, error) {
	if in.Format != "" && in.Format != "json" && in.Format != "csv" {
		return auditAnswer{}, tollgate.FieldError("format", "must be json or csv")
	}
	limit := in.Limit
	switch {
	case in.Format == "csv" && limit == 0:
		limit = 1000
	case in.Format != "csv" && limit == 0:
		limit = 20
	case in.Format != "csv" && limit > 100:
		return auditAnswer{}, tollgate.FieldError("limit", "must be a whole number from 1 to 100 for JSON (up to %d for CSV)", MaxAuditCSV)
	}
	p := record.AuditListParams{AccountID: in.AccountID, ActorKey: in.ActorKey, Action: in.Action, After: in.Cursor, Limit: limit + 1}
	var err error
	if p.CreatedFrom, p.CreatedTo, err = in.bounds(); err != nil {
		return auditAnswer{}, err
	}
	es, err := s.l.AuditLog(r.Context(), p)
	if err != nil {
		return auditAnswer{}, err
	}
	next := ""
	if len(es) > limit {
		es, next = es[:limit], es[limit-1].ID
	}
	if in.Format == "csv" {
		return auditAnswer{csv: es, next: next}, nil
	}
	out := listView[auditView]{Object: "list", Data: []auditView{}, HasMore: next != "", NextCursor: next}
	for _, e := range es {
		out.Data = append(out.Data, auditView{e.ID, "audit_entry", e.CreatedAt, e.ActorKey, e.ActorKind, e.AccountID, e.Action,
			e.Target, e.RequestID, json.RawMessage(e.Detail)})
	}
	return auditAnswer{list: &out}, nil
}

// auditAnswer is a page of the audit log: as JSON (list), or as CSV.
type auditAnswer struct {
	list *listView[auditView]
	csv  []tollgate.AuditEntry
	next string
}

func (auditAnswer) schemaOf() reflect.Type { return reflect.TypeFor[listView[auditView]]() }

func (auditAnswer) alsoContent() map[string]any {
	return map[string]any{"text/csv": map[string]any{"type": "string",
		"description": "A header row, then one row per entry: id, created_at, actor_key, actor_kind, account_id, action, target, request_id, " +
			"detail (a JSON object). Cells that a spreadsheet would read as a formula start with '."}}
}

func (auditAnswer) alsoHeaders() map[string]any {
	return map[string]any{"Next-Cursor": map[string]any{"schema": map[string]any{"type": "string"},
		"description": "CSV only: the cursor of the next page, when there is one."}}
}

func (a auditAnswer) writeAnswer(w http.ResponseWriter, status int) error {
	if a.list != nil {
		return writeJSON(w, status, a.list)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tollgate-audit.csv"`)
	if a.next != "" {
		w.Header().Set("Next-Cursor", a.next)
	}
	w.WriteHeader(status)
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "created_at", "actor_key", "actor_kind", "account_id", "action", "target", "request_id", "detail"}); err != nil {
		return err
	}
	for _, e := range a.csv {
		if err := cw.Write([]string{e.ID, e.CreatedAt.Format(time.RFC3339Nano), e.ActorKey, e.ActorKind, e.AccountID, e.Action,
			csvSafe(e.Target), e.RequestID, csvSafe(e.Detail)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

type paymentEventView struct {
	ID         string    `json:"id"`
	Object     string    `json:"object" const:"payment_event"`
	Provider   string    `json:"provider"`
	EventID    string    `json:"event_id" doc:"The provider's event id."`
	Type       string    `json:"type"`
	ObjectID   string    `json:"object_id" doc:"The session, charge or dispute the event is about."`
	OrderID    string    `json:"order_id" doc:"The order it was applied to; empty if none."`
	Matched    bool      `json:"matched"`
	Outcome    string    `json:"outcome" doc:"What was done, or why nothing was."`
	CreatedAt  time.Time `json:"created_at"`
	ReceivedAt time.Time `json:"received_at"`
}

// listPaymentEvents pages through the events payment providers sent, in
// the order received; ?matched=false lists those that concerned no order.
func (s *Server) listPaymentEvents(r *http.Request, c *call, in *struct {
	Matched string `query:"matched" enum:"true,false" doc:"false: only the events that concerned no order Tollgate has, or are not applied yet; true: only the others."`
	pageQuery
}) (listView[paymentEventView], error) {
	out := listView[paymentEventView]{Object: "list", Data: []paymentEventView{}}
	p := record.PaymentEventListParams{After: in.Cursor, Limit: in.Limit + 1}
	switch in.Matched {
	case "":
	case "true", "false":
		b := in.Matched == "true"
		p.Matched = &b
	default:
		return out, tollgate.FieldError("matched", "must be true or false")
	}
	var es []tollgate.PaymentEvent
	err := s.l.ReadRecords(r.Context(), func(tx record.Tx) error {
		var err error
		es, err = tx.PaymentEventList(r.Context(), p)
		return err
	})
	if err != nil {
		return out, err
	}
	for i, e := range es {
		if i == in.Limit {
			out.HasMore, out.NextCursor = true, es[i-1].ID
			break
		}
		out.Data = append(out.Data, paymentEventView{e.ID, "payment_event", e.Provider, e.EventID, e.Type, e.ObjectID, e.OrderID,
			e.Matched, e.Outcome, e.CreatedAt, e.ReceivedAt})
	}
	return out, nil
}
