package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"tollgate"
	"tollgate/store/record"
)

type auditView struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"`
	CreatedAt time.Time       `json:"created_at"`
	ActorKey  string          `json:"actor_key"`
	ActorKind string          `json:"actor_kind"`
	AccountID string          `json:"account_id"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	RequestID string          `json:"request_id"`
	Detail    json.RawMessage `json:"detail"`
}

// MaxAuditCSV is the most entries one CSV page of the audit log holds.
const MaxAuditCSV = 10000

// listAudit pages through the audit log, as JSON or (?format=csv) as CSV
// with the next page's cursor in the Next-Cursor header.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return tollgate.FieldError("format", "must be json or csv")
	}
	var limit int
	var cursor string
	var err error
	if format == "csv" {
		limit, cursor = 1000, q.Get("cursor")
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxAuditCSV {
				return tollgate.FieldError("limit", "must be a whole number from 1 to %d for CSV", MaxAuditCSV)
			}
		}
	} else if limit, cursor, err = page(r); err != nil {
		return err
	}
	p := record.AuditListParams{AccountID: q.Get("account_id"), ActorKey: q.Get("actor_key"), Action: q.Get("action"),
		After: cursor, Limit: limit + 1}
	if p.CreatedFrom, p.CreatedTo, err = createdRange(q); err != nil {
		return err
	}
	es, err := s.l.AuditLog(r.Context(), p)
	if err != nil {
		return err
	}
	next := ""
	if len(es) > limit {
		es, next = es[:limit], es[limit-1].ID
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="tollgate-audit.csv"`)
		if next != "" {
			w.Header().Set("Next-Cursor", next)
		}
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"id", "created_at", "actor_key", "actor_kind", "account_id", "action", "target", "request_id", "detail"}); err != nil {
			return err
		}
		for _, e := range es {
			if err := cw.Write([]string{e.ID, e.CreatedAt.Format(time.RFC3339Nano), e.ActorKey, e.ActorKind, e.AccountID, e.Action,
				csvSafe(e.Target), e.RequestID, csvSafe(e.Detail)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	out := listView[auditView]{Object: "list", Data: []auditView{}, HasMore: next != "", NextCursor: next}
	for _, e := range es {
		out.Data = append(out.Data, auditView{e.ID, "audit_entry", e.CreatedAt, e.ActorKey, e.ActorKind, e.AccountID, e.Action,
			e.Target, e.RequestID, json.RawMessage(e.Detail)})
	}
	return writeJSON(w, http.StatusOK, out)
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
	Object     string    `json:"object"`
	Provider   string    `json:"provider"`
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	ObjectID   string    `json:"object_id"`
	OrderID    string    `json:"order_id"`
	Matched    bool      `json:"matched"`
	Outcome    string    `json:"outcome"`
	CreatedAt  time.Time `json:"created_at"`
	ReceivedAt time.Time `json:"received_at"`
}

// listPaymentEvents pages through the events payment providers sent, in
// the order received; ?matched=false lists those that concerned no order.
func (s *Server) listPaymentEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	p := record.PaymentEventListParams{After: cursor, Limit: limit + 1}
	switch m := r.URL.Query().Get("matched"); m {
	case "":
	case "true", "false":
		b := m == "true"
		p.Matched = &b
	default:
		return tollgate.FieldError("matched", "must be true or false")
	}
	var es []tollgate.PaymentEvent
	err = s.l.ReadRecords(r.Context(), func(tx record.Tx) error {
		var err error
		es, err = tx.PaymentEventList(r.Context(), p)
		return err
	})
	if err != nil {
		return err
	}
	out := listView[paymentEventView]{Object: "list", Data: []paymentEventView{}}
	for i, e := range es {
		if i == limit {
			out.HasMore, out.NextCursor = true, es[i-1].ID
			break
		}
		out.Data = append(out.Data, paymentEventView{e.ID, "payment_event", e.Provider, e.EventID, e.Type, e.ObjectID, e.OrderID,
			e.Matched, e.Outcome, e.CreatedAt, e.ReceivedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}
