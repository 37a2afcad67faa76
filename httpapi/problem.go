package httpapi

import (
	"cmp"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store/record"
)

// statusOf maps every error code to its HTTP status: the one table.
var statusOf = map[tollgate.Code]int{
	tollgate.CodeMalformedJSON:       http.StatusBadRequest,
	tollgate.CodeUnknownField:        http.StatusBadRequest,
	tollgate.CodeInvalidSignature:    http.StatusBadRequest,
	tollgate.CodeInvalidField:        http.StatusUnprocessableEntity,
	tollgate.CodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	tollgate.CodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	tollgate.CodeUnauthorized:        http.StatusUnauthorized,
	tollgate.CodeForbidden:           http.StatusForbidden,
	tollgate.CodeNotFound:            http.StatusNotFound,
	tollgate.CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	tollgate.CodeConflict:            http.StatusConflict,
	tollgate.CodeIdempotencyMismatch: http.StatusConflict,
	tollgate.CodeHoldNotPending:      http.StatusConflict,
	tollgate.CodeCaptureExceedsHold:  http.StatusUnprocessableEntity,
	tollgate.CodeNoticeRequired:      http.StatusUnprocessableEntity,
	tollgate.CodeInsufficientCredits: http.StatusPaymentRequired,
	tollgate.CodeQuoteExpired:        http.StatusConflict,
	tollgate.CodeQuoteUsed:           http.StatusConflict,
	tollgate.CodeAccountSuspended:    http.StatusForbidden,
	tollgate.CodeTooManyPendingHolds: http.StatusConflict,
	tollgate.CodeRateLimited:         http.StatusTooManyRequests,
	tollgate.CodeUnavailable:         http.StatusServiceUnavailable,
	tollgate.CodeOutcomeUnknown:      http.StatusServiceUnavailable,
	tollgate.CodeInternal:            http.StatusInternalServerError,
	tollgate.CodeModelUnavailable:    http.StatusBadRequest,
	tollgate.CodeModerationBlocked:   http.StatusBadRequest,
	tollgate.CodeCannotCancel:        http.StatusBadRequest,
	tollgate.CodeVideoNotReady:       http.StatusNotFound,
	tollgate.CodeCameoNotPermitted:   http.StatusForbidden,
}

var titles = map[tollgate.Code]string{
	tollgate.CodeMalformedJSON:       "The request body is not valid JSON",
	tollgate.CodeUnknownField:        "The request has a field this endpoint does not know",
	tollgate.CodeInvalidSignature:    "The webhook signature does not verify",
	tollgate.CodeInvalidField:        "A field has an invalid value",
	tollgate.CodeBodyTooLarge:        "The request body is too large",
	tollgate.CodeUnsupportedMedia:    "The request body must be application/json",
	tollgate.CodeUnauthorized:        "A valid API key is required",
	tollgate.CodeForbidden:           "This key may not do this",
	tollgate.CodeNotFound:            "Not found",
	tollgate.CodeMethodNotAllowed:    "Method not allowed",
	tollgate.CodeConflict:            "Conflict",
	tollgate.CodeIdempotencyMismatch: "Idempotency-Key reused with another request",
	tollgate.CodeHoldNotPending:      "The hold is no longer pending",
	tollgate.CodeCaptureExceedsHold:  "Cannot capture more than the hold reserved",
	tollgate.CodeNoticeRequired:      "A change must be announced before it applies",
	tollgate.CodeInsufficientCredits: "Not enough credits",
	tollgate.CodeQuoteExpired:        "The quote has expired",
	tollgate.CodeQuoteUsed:           "The quote has paid for a job already",
	tollgate.CodeAccountSuspended:    "The account is suspended",
	tollgate.CodeTooManyPendingHolds: "Too many pending holds",
	tollgate.CodeRateLimited:         "Too many requests",
	tollgate.CodeUnavailable:         "Service unavailable",
	tollgate.CodeOutcomeUnknown:      "Whether the request took effect is not known",
	tollgate.CodeInternal:            "Internal error",
	tollgate.CodeModelUnavailable:    "No provider can make this now",
	tollgate.CodeModerationBlocked:   "Refused by a content policy",
	tollgate.CodeCannotCancel:        "The job cannot be cancelled",
	tollgate.CodeVideoNotReady:       "The video's content is not available",
	tollgate.CodeCameoNotPermitted:   "The cameo's owner has not consented to this use",
}

// Problem is an RFC 9457 problem document with Tollgate's stable code.
type Problem struct {
	Type     string        `json:"type" doc:"urn:tollgate:problem:<code>." pattern:"^urn:tollgate:problem:[a-z_]+$" format:"uri"`
	Title    string        `json:"title"`
	Status   int           `json:"status" minimum:"400" maximum:"599"`
	Detail   string        `json:"detail,omitempty"`
	Code     tollgate.Code `json:"code"`
	Field    string        `json:"field,omitempty" doc:"The offending request field, when there is one."`
	Instance string        `json:"instance,omitempty" doc:"The request path."`

	// insufficient_credits only.
	AccountID              string            `json:"account_id,omitempty" doc:"insufficient_credits only."`
	Product                tollgate.Product  `json:"product,omitempty" doc:"insufficient_credits only."`
	Required               *tollgate.Credits `json:"required,omitempty" doc:"insufficient_credits only: what the request needs."`
	Available              *tollgate.Credits `json:"available,omitempty" doc:"insufficient_credits only: what the account can spend on the product now."`
	DailyAllowanceResetsAt *time.Time        `json:"daily_allowance_resets_at,omitempty" doc:"insufficient_credits only: when today's allowance for the product resets; absent when the plan gives none for it."`
	Offers                 *[]Offer          `json:"offers,omitempty" doc:"insufficient_credits only: packs the account could buy, each priced in the currency the request's Accept-Language suggests where the pack is sold in it (fr-FR: eur, id: idr), else its default; empty until the operator defines some."`
	// PurchasesUnavailable, in a 402 from a server that sells nothing,
	// says so: the offers are empty because buying is not available.
	PurchasesUnavailable string `json:"purchases_unavailable,omitempty" doc:"insufficient_credits only, from a server that sells no credits (no payment provider and not in demo mode): why offers is empty."`
	// model_unavailable only.
	Alternatives []alternativeView `json:"alternatives,omitempty" doc:"model_unavailable only: models that can make it now, with their price."`
}

func (Problem) doc() string {
	return "An RFC 9457 problem with Tollgate's stable code."
}

// jsonSchema is Problem's generated schema and, for insufficient_credits,
// the figures it always carries.
func (Problem) jsonSchema(g *schemas) map[string]any {
	s := g.object(reflect.TypeFor[Problem](), false)
	s["if"] = map[string]any{"properties": map[string]any{"code": map[string]any{"const": string(tollgate.CodeInsufficientCredits)}},
		"required": []any{"code"}}
	s["then"] = map[string]any{"required": []any{"account_id", "product", "required", "available", "offers"}}
	return s
}

// Offer is a way to buy more credits, listed in a 402.
type Offer struct {
	PackID       string           `json:"pack_id"`
	Credits      tollgate.Credits `json:"credits"`
	Price        tollgate.Money   `json:"price"`
	ValidForDays int              `json:"valid_for_days"`
	CheckoutURL  string           `json:"checkout_url" format:"uri"`
}

// problem answers err as an RFC 9457 problem: Tollgate's own surface.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(tollgateAPI, w, r, err)
}

// fail answers err in surface's words, with the headers every surface
// sends: WWW-Authenticate on a 401, Retry-After (and Retry-After-Ms, which
// the OpenAI SDKs read) when waiting helps.
func (s *Server) fail(surface *surface, w http.ResponseWriter, r *http.Request, err error) {
	e := s.asError(r, err)
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate"`)
	}
	switch e.Code {
	case tollgate.CodeUnavailable:
		w.Header().Set("Retry-After", "1")
	case tollgate.CodeOutcomeUnknown:
		w.Header().Set("Retry-After", "2")
	}
	if e.RetryAfter > 0 {
		// Retry-After is whole seconds, rounded up; retry-after-ms is exact
		// to the millisecond.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(int64((e.RetryAfter+time.Millisecond-1)/time.Millisecond), 10))
	}
	if surface.adjust != nil {
		ec := *e // the error may be shared (a batch's, answered to each of its requests): adjust a copy
		e = &ec
		status = surface.adjust(w, r, e, status)
	}
	ct, body := surface.render(s, r, e, status)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	s.write(w, r, body)
}

// asError turns err into the error the caller is told of: a Tollgate
// error as it is, a lost or failed database as outcome_unknown or
// unavailable, anything else as internal (logged, never shown).
func (s *Server) asError(r *http.Request, err error) *tollgate.Error {
	var e *tollgate.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, record.ErrCommitUnknown):
		s.log.ErrorContext(r.Context(), "request's commit outcome unknown", "method", r.Method, "path", r.URL.Path, "err", err)
		return tollgate.Errorf(tollgate.CodeOutcomeUnknown, "the database connection dropped while this request was being committed, "+
			"and whether it took effect is not known; retry with the same Idempotency-Key, or check before retrying without one")
	case errors.Is(err, record.ErrFull):
		s.log.ErrorContext(r.Context(), "request failed: the database is full", "method", r.Method, "path", r.URL.Path, "err", err)
		return ledger.FullError()
	case errors.Is(err, record.ErrUnavailable):
		s.log.WarnContext(r.Context(), "request failed: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		return tollgate.Errorf(tollgate.CodeUnavailable, "the database is unavailable; nothing was changed: retry shortly")
	}
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return &tollgate.Error{Code: tollgate.CodeInternal, Message: "something went wrong on our side; retry with the same Idempotency-Key, and report it if it persists"}
}

// renderProblem is e as Tollgate's RFC 9457 problem.
func renderProblem(s *Server, r *http.Request, e *tollgate.Error, status int) (string, []byte) {
	p := Problem{
		Type: "urn:tollgate:problem:" + string(e.Code), Title: cmp.Or(e.Title, titles[e.Code]), Status: status,
		Detail: e.Message, Code: e.Code, Field: e.Field, Instance: r.URL.Path,
	}
	for _, a := range e.Alternatives {
		p.Alternatives = append(p.Alternatives, alternativeView(a))
	}
	if in := e.Insufficient; in != nil {
		p.AccountID, p.Product = in.AccountID, in.Product
		p.Required, p.Available = &in.Required, &in.Available
		p.DailyAllowanceResetsAt = in.DailyAllowanceResetsAt
		offers := s.offerList(r, in)
		p.Offers = &offers
		if s.Payments.Provider == nil {
			p.PurchasesUnavailable = "this server sells no credits (no payment provider, not in demo mode): ask its operator"
		}
	}
	body, _ := marshal(p)
	return "application/problem+json", body
}
