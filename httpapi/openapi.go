package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"tollgate"
	"tollgate/pricing"
)

// The OpenAPI 3.1 document at /openapi.json is built here, when the server
// starts, from the operations the server registers (route.go) and the Go
// types of their inputs and answers (schema.go). What is written by hand
// is prose: the introduction, the tags and what each error code means.

const apiIntro = "JSON over HTTP under /v1. Send Authorization: Bearer <key>. Admin keys act on any account; " +
	"an account key acts only on its own account (anything else is a 404). Credits are decimal strings with at most 6 decimals. " +
	"Request bodies are application/json (a JSON body labelled application/x-www-form-urlencoded, as curl -d sends it, is read as JSON too), " +
	"at most 64 KiB, one JSON object with no unknown fields; query parameters an endpoint does not take are refused too. " +
	"Every authenticated POST and DELETE accepts an Idempotency-Key header. " +
	"Errors are RFC 9457 application/problem+json with a stable code member; the status of each code is fixed (see ErrorCode). " +
	"Bad input gets a 4xx problem and changes nothing."

var apiTags = []struct{ name, description string }{
	{"meta", "The server itself."},
	{"accounts", "Accounts and their API keys."},
	{"grants", "Credits given to an account: purchases, promotions, refunds, allowances."},
	{"balances", "What an account can spend, by product, with what expires and what is scheduled."},
	{"holds", "Credits reserved for a job, then captured or released; usage, a hold captured at once."},
	{"journal", "The double-entry journal behind every balance."},
	{"prices", "Price rules, models and quotes: what a job costs before it runs."},
	{"plans", "Plans, their daily allowances and limits, and their announced changes."},
	{"purchases", "Credit packs, checkout, orders, refunds and the payment provider's events."},
	{"webhooks", "Endpoints that receive signed events."},
	{"audit", "The append-only record of admin and owner actions."},
	{"videos", "OpenAI-compatible video generation: an OpenAI SDK pointed at Tollgate works unchanged. Errors here use OpenAI's envelope."},
}

// codeDocs says what each code means to a caller and what to do.
var codeDocs = map[tollgate.Code]string{
	tollgate.CodeMalformedJSON:       "the body is not one JSON object of valid UTF-8 (malformed_json)",
	tollgate.CodeUnknownField:        "the body has a member, or the query a parameter, this endpoint does not know (unknown_field)",
	tollgate.CodeInvalidSignature:    "the signature does not verify or is stale (invalid_signature)",
	tollgate.CodeInvalidField:        "a field, parameter or header has an invalid value; field names it (invalid_field)",
	tollgate.CodeBodyTooLarge:        "the body is over the size limit, 64 KiB by default (body_too_large)",
	tollgate.CodeUnsupportedMedia:    "the body is not application/json, or is compressed (unsupported_media)",
	tollgate.CodeUnauthorized:        "no valid API key (unauthorized)",
	tollgate.CodeForbidden:           "the key may not do this: an account key on an admin call or the reverse, a read-only key on a write, a key limited to some products on another's (forbidden)",
	tollgate.CodeNotFound:            "no such resource, or it belongs to another account (not_found)",
	tollgate.CodeConflict:            "the request conflicts with the resource's state (conflict)",
	tollgate.CodeIdempotencyMismatch: "the Idempotency-Key was used with another request (idempotency_mismatch)",
	tollgate.CodeHoldNotPending:      "the hold is no longer pending (hold_not_pending)",
	tollgate.CodeCaptureExceedsHold:  "the capture asks for more than the hold reserved (capture_exceeds_hold)",
	tollgate.CodeNoticeRequired:      "a cut comes with less notice than the period; announce it earlier or force it (notice_required)",
	tollgate.CodeInsufficientCredits: "the account cannot pay: required, available, daily_allowance_resets_at and offers say why and how to buy more (insufficient_credits)",
	tollgate.CodeQuoteExpired:        "the quote has expired; ask for a new one (quote_expired)",
	tollgate.CodeQuoteUsed:           "the quote has paid for a job already (quote_used)",
	tollgate.CodeAccountSuspended:    "the account is suspended and may not spend credits (account_suspended)",
	tollgate.CodeTooManyPendingHolds: "the account, or the key, has as many pending holds as its limit allows; capture or release some (too_many_pending_holds)",
	tollgate.CodeRateLimited:         "the key sent more requests a second than its limit, or has as many in flight, on this instance; wait as Retry-After or Retry-After-Ms says. Admin keys are not limited (rate_limited)",
	tollgate.CodeUnavailable:         "the ledger is shutting down or the database is unreachable: nothing was changed, retry shortly (unavailable)",
	tollgate.CodeOutcomeUnknown:      "the connection dropped while the request was being committed and whether it took effect is not known: retry with the same Idempotency-Key (outcome_unknown)",
	tollgate.CodeInternal:            "something went wrong on the server; retry with the same Idempotency-Key (internal)",
	tollgate.CodeModelUnavailable:    "no configured provider can make the model at that length and size now; alternatives lists what can, with prices (model_unavailable)",
	tollgate.CodeModerationBlocked:   "a content policy refused the prompt or the video; nothing is charged (moderation_blocked)",
	tollgate.CodeCameoNotPermitted:   "a cameo the request names may not be used by this account (its owner's policy, a revocation, a pause, its daily limit); nothing is held (cameo_not_permitted)",
	tollgate.CodeCannotCancel:        "the video runs at a provider that cannot stop it: wait for it to finish, then delete it (cannot_cancel)",
	tollgate.CodeVideoNotReady:       "the video is not completed yet, or its content expired (video_not_ready)",
}

// problemCodes lists the codes o may answer: what every operation of its
// kind may, and o.errors.
func (s *Server) problemCodes(o *op, b *binder) []tollgate.Code {
	cs := []tollgate.Code{tollgate.CodeInternal}
	if o.tag != "meta" { // the server itself answers those without the database
		cs = append(cs, tollgate.CodeUnavailable)
	}
	if !o.public {
		cs = append(cs, tollgate.CodeUnauthorized, tollgate.CodeForbidden)
		if o.who != adminOnly {
			cs = append(cs, tollgate.CodeRateLimited)
		}
	}
	if o.idempotent() {
		cs = append(cs, tollgate.CodeIdempotencyMismatch, tollgate.CodeInvalidField, tollgate.CodeOutcomeUnknown)
	}
	if b != nil {
		if len(b.query) > 0 || o.in != nil {
			cs = append(cs, tollgate.CodeUnknownField)
		}
		if len(b.query) > 0 {
			cs = append(cs, tollgate.CodeInvalidField)
		}
		if b.body != nil {
			cs = append(cs, tollgate.CodeMalformedJSON, tollgate.CodeUnknownField, tollgate.CodeInvalidField,
				tollgate.CodeBodyTooLarge, tollgate.CodeUnsupportedMedia)
		}
		if len(b.path) > 0 {
			cs = append(cs, tollgate.CodeNotFound)
		}
	}
	cs = append(cs, o.errors...)
	slices.Sort(cs)
	return slices.Compact(cs)
}

// document builds the OpenAPI document of the server's operations.
func (s *Server) document() map[string]any {
	g := newSchemas()
	paths := map[string]any{}
	for _, o := range s.ops {
		item, _ := paths[o.path()].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[o.path()] = item
		}
		item[strings.ToLower(o.method())] = s.operation(g, o)
	}
	var tags []any
	for _, t := range apiTags {
		tags = append(tags, map[string]any{"name": t.name, "description": t.description})
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title": "Tollgate", "version": "1.0.0",
			"summary":     "Credit ledger: accounts, grants, balances, holds, usage and the journal; prices, plans and purchases.",
			"description": apiIntro,
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"bearerAuth": []any{}}},
		"tags":     tags,
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearerAuth": map[string]any{
				"type": "http", "scheme": "bearer", "description": "An admin key or an account key (tg_...)."}},
			"schemas":    g.defs,
			"headers":    headers,
			"parameters": map[string]any{"IdempotencyKey": idempotencyKeyParam},
		},
	}
}

var headers = map[string]any{
	"IdempotentReplayed": map[string]any{"description": "true when this is the remembered answer to an earlier request with the same Idempotency-Key and body.",
		"schema": map[string]any{"type": "string", "enum": []any{"true"}}},
	"TollgateNotice": map[string]any{"description": "Set on answers to an account key when the account's plan has a change scheduled: what changes and when.",
		"schema": map[string]any{"type": "string"}},
	"RequestId": map[string]any{"description": "This request's id, which the audit log records with what it did.",
		"schema": map[string]any{"type": "string"}},
	"RetryAfter":      map[string]any{"description": "Seconds to wait.", "schema": map[string]any{"type": "integer"}},
	"RetryAfterMs":    map[string]any{"description": "Milliseconds to wait: Retry-After to the millisecond, as the OpenAI SDKs read it.", "schema": map[string]any{"type": "integer"}},
	"WWWAuthenticate": map[string]any{"description": `Bearer realm="tollgate".`, "schema": map[string]any{"type": "string"}},
}

var idempotencyKeyParam = map[string]any{
	"name": "Idempotency-Key", "in": "header", "required": false,
	"description": "Makes the call safe to retry: the same key and body within 48 hours gets the first answer again (with Idempotent-Replayed: true); " +
		"the same key with another request is a 409 idempotency_mismatch. Keys are scoped to the caller.",
	"schema": map[string]any{"type": "string", "maxLength": 255, "pattern": `^[\x20-\x7e]*$`},
}

func headerRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/headers/" + name}
}

// operation is o's Operation Object.
func (s *Server) operation(g *schemas, o *op) map[string]any {
	out := map[string]any{"operationId": o.id, "summary": o.summary, "tags": []any{o.tag}}
	if o.description != "" {
		out["description"] = o.description
	}
	if o.public {
		out["security"] = []any{}
	}
	var b *binder
	if o.in != nil {
		b = newBinder(o)
	}
	params := []any{}
	responses := map[string]any{}
	if o.raw != nil {
		params = append(params, o.raw.params...)
		if o.raw.body != nil {
			out["requestBody"] = o.raw.body
		}
		for k, v := range o.raw.responses {
			responses[k] = v
		}
	}
	if b != nil {
		for _, p := range b.path {
			params = append(params, parameter(g, p, "path"))
		}
		for _, p := range b.query {
			params = append(params, parameter(g, p, "query"))
		}
		for _, p := range b.header {
			params = append(params, parameter(g, p, "header"))
		}
		if b.body != nil {
			content := map[string]any{}
			for _, ct := range o.surfaceOf().bodyTypes {
				content[ct] = map[string]any{"schema": g.of(b.bodyType, true)}
			}
			out["requestBody"] = map[string]any{"required": !b.bodyOptional, "content": content}
		}
	}
	if o.idempotent() {
		params = append(params, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	if len(params) > 0 {
		out["parameters"] = params
	}
	hs := map[string]any{"Request-Id": headerRef("RequestId")}
	if !o.public {
		hs["Tollgate-Notice"] = headerRef("TollgateNotice")
	}
	if o.out != nil {
		ok := map[string]any{"description": o.answer, "headers": hs}
		if o.answer == "" {
			ok["description"] = http.StatusText(o.successStatus())
		}
		if o.idempotent() {
			hs["Idempotent-Replayed"] = headerRef("IdempotentReplayed")
		}
		content := map[string]any{}
		if own, isOwn := reflect.Zero(o.out).Interface().(ownContent); isOwn {
			content = own.ownContent()
		} else {
			content["application/json"] = map[string]any{"schema": g.of(o.out, false)}
		}
		if a, isA := reflect.Zero(o.out).Interface().(alsoContent); isA {
			for ct, schema := range a.alsoContent() {
				content[ct] = map[string]any{"schema": schema}
			}
			for name, h := range a.alsoHeaders() {
				hs[name] = h
			}
		}
		ok["content"] = content
		responses[strconv.Itoa(o.successStatus())] = ok
		for status, desc := range o.also {
			responses[strconv.Itoa(status)] = map[string]any{"description": desc, "headers": hs, "content": content}
		}
	}
	byStatus := map[int][]tollgate.Code{}
	sf := o.surfaceOf()
	for _, c := range s.problemCodes(o, b) {
		st := statusOf[c]
		if sf.docStatus != nil {
			st = sf.docStatus(c)
		}
		byStatus[st] = append(byStatus[st], c)
	}
	for status, cs := range byStatus {
		responses[strconv.Itoa(status)] = sf.errorResponse(status, cs)
	}
	out["responses"] = responses
	for _, t := range sf.errorTypes {
		g.of(t, false)
	}
	return out
}

// ownContent is an answer written as other media types than JSON only (a
// video's content).
type ownContent interface {
	ownContent() map[string]any
}

// alsoContent is an answer that may also be written as another media type
// (the audit log as CSV), with headers of its own.
type alsoContent interface {
	alsoContent() map[string]any
	alsoHeaders() map[string]any
}

func parameter(g *schemas, p param, in string) map[string]any {
	m := map[string]any{"name": p.name, "in": in, "required": in == "path"}
	s := g.member(p.field, true)
	if d, ok := s["description"]; ok {
		m["description"] = d
		delete(s, "description")
	}
	m["schema"] = s
	return m
}

func problemResponse(status int, cs []tollgate.Code) map[string]any {
	var why []string
	var enum []any
	for _, c := range cs {
		why = append(why, codeDocs[c])
		enum = append(enum, string(c))
	}
	desc := strings.Join(why, "; ") + "."
	desc = strings.ToUpper(desc[:1]) + desc[1:]
	r := map[string]any{
		"description": desc,
		"headers":     map[string]any{"Request-Id": headerRef("RequestId")},
		"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{
			"allOf": []any{ref("Problem"), map[string]any{"properties": map[string]any{"code": map[string]any{"enum": enum}}}},
		}}},
	}
	hs := r["headers"].(map[string]any)
	switch status {
	case http.StatusUnauthorized:
		hs["WWW-Authenticate"] = headerRef("WWWAuthenticate")
	case http.StatusTooManyRequests:
		hs["Retry-After"] = headerRef("RetryAfter")
		hs["Retry-After-Ms"] = headerRef("RetryAfterMs")
	case http.StatusServiceUnavailable:
		hs["Retry-After"] = headerRef("RetryAfter")
	}
	return r
}

// otherNames name the components of other packages' types where their Go
// name would not say enough.
var otherNames = map[reflect.Type]string{
	reflect.TypeFor[pricing.Line]():  "QuoteLine",
	reflect.TypeFor[pricing.Model](): "Model",
}

// customSchemas are the schemas of types from other packages.
func customSchemas() map[reflect.Type]func() (string, map[string]any) {
	enum := func(vals ...string) []any {
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out
	}
	products := make([]string, len(tollgate.Products))
	for i, p := range tollgate.Products {
		products[i] = string(p)
	}
	codes := make([]string, 0, len(statusOf))
	for c := range statusOf {
		codes = append(codes, string(c))
	}
	slices.Sort(codes)
	return map[reflect.Type]func() (string, map[string]any){
		timeType: func() (string, map[string]any) {
			return "Timestamp", map[string]any{"type": "string", "format": "date-time", "description": "An RFC 3339 time, UTC, microsecond precision."}
		},
		reflect.TypeFor[tollgate.Credits](): func() (string, map[string]any) {
			return "Credits", map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]{1,6})?$`,
				"description": "An amount of credits as a decimal string with at most 6 decimals and no trailing zeros, e.g. \"12.5\". " +
					"Stored as integer micro-credits (1 credit = 1,000,000); never a float.",
				"examples": []any{"12.5", "0.000001", "30"}}
		},
		reflect.TypeFor[tollgate.Product](): func() (string, map[string]any) {
			return "Product", map[string]any{"type": "string", "enum": enum(products...), "description": "Something that spends credits."}
		},
		reflect.TypeFor[tollgate.GrantSource](): func() (string, map[string]any) {
			sources := make([]string, len(tollgate.GrantSources))
			for i, s := range tollgate.GrantSources {
				sources[i] = string(s)
			}
			return "GrantSource", map[string]any{"type": "string", "enum": enum(sources...), "description": "Where a grant's credits came from."}
		},
		reflect.TypeFor[tollgate.Scope](): func() (string, map[string]any) {
			return "Scope", map[string]any{"type": "string", "enum": enum(string(tollgate.ScopeRead), string(tollgate.ScopeWrite)),
				"description": "read: GET requests; write: the others."}
		},
		reflect.TypeFor[eventType](): func() (string, map[string]any) {
			return "EventType", map[string]any{"type": "string", "enum": enum(tollgate.EventTypes...), "description": "A kind of event sent to webhook endpoints."}
		},
		reflect.TypeFor[tollgate.Code](): func() (string, map[string]any) {
			return "ErrorCode", map[string]any{"type": "string", "enum": enum(codes...),
				"description": "Stable and machine-readable; branch on it. Each code has one HTTP status: " + codeStatuses() + "."}
		},
		reflect.TypeFor[tollgate.Money](): func() (string, map[string]any) {
			return "Money", map[string]any{"type": "object", "additionalProperties": false, "required": []any{"amount", "currency"},
				"description": "Real money in minor units of an ISO 4217 currency, Stripe style: {\"amount\": 400, \"currency\": \"usd\"} is four dollars.",
				"properties": map[string]any{
					"amount":   map[string]any{"type": "integer", "format": "int64"},
					"currency": map[string]any{"type": "string", "examples": []any{"usd"}},
				}}
		},
		reflect.TypeFor[json.RawMessage](): func() (string, map[string]any) {
			return "", map[string]any{"type": "object"}
		},
		reflect.TypeFor[time.Duration](): func() (string, map[string]any) {
			panic("httpapi: a time.Duration has no JSON form of its own; answer with seconds")
		},
	}
}

func codeStatuses() string {
	var parts []string
	for _, c := range slices.Sorted(func(yield func(tollgate.Code) bool) {
		for c := range statusOf {
			if !yield(c) {
				return
			}
		}
	}) {
		parts = append(parts, string(c)+" "+strconv.Itoa(statusOf[c]))
	}
	return strings.Join(parts, ", ")
}
