package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"tollgate"
)

// DefaultMaxUpload caps a multipart body of the OpenAI-compatible surface
// (a reference image or video with the form's fields).
const DefaultMaxUpload = 25 << 20

// openaiAPI is the OpenAI-compatible surface of /v1/videos: bodies as
// multipart/form-data (what the SDKs send) or JSON, nested fields as
// bracket keys, errors in OpenAI's envelope, and statuses the SDKs do not
// retry where a retry would not help.
var openaiAPI = &surface{
	read:          (*Server).readOpenAIBody,
	decode:        decodeOpenAI,
	bodyTypes:     []string{"multipart/form-data", "application/json"},
	render:        renderOpenAIError,
	errorResponse: openaiErrorResponse,
	errorTypes:    []reflect.Type{reflect.TypeFor[openaiEnvelope]()},
	adjust:        adjustOpenAI,
	docStatus:     openaiStatus,
	canonical:     canonicalForm,
}

// canonicalForm is a multipart body as its fields and files, sorted, a
// file by its digest: the same form sent twice (with another boundary, or
// its parts in another order) hashes alike. Other bodies are themselves.
func canonicalForm(r *http.Request, body []byte) []byte {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return body
	}
	f, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(int64(len(body)) + 1<<20)
	if err != nil {
		return body // decoding refuses it
	}
	defer func() { _ = f.RemoveAll() }()
	var lines []string
	for k, vs := range f.Value {
		for _, v := range vs {
			lines = append(lines, "v "+strconv.Quote(k)+"="+strconv.Quote(v))
		}
	}
	for k, fhs := range f.File {
		for _, fh := range fhs {
			h := sha256.New()
			if rd, err := fh.Open(); err == nil {
				_, _ = io.Copy(h, rd)
				_ = rd.Close()
			}
			lines = append(lines, "f "+strconv.Quote(k)+"="+hex.EncodeToString(h.Sum(nil)))
		}
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n"))
}

// uploader is a body that takes files from a multipart form.
type uploader interface {
	// upload takes the file of field name; an error refuses the field.
	upload(name string, f upload) error
}

// upload is a file from a multipart form.
type upload struct {
	Filename    string
	ContentType string
	Data        []byte
}

func (s *Server) readOpenAIBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, tollgate.Errorf(tollgate.CodeUnsupportedMedia, "Content-Encoding %q is not supported: send the body uncompressed", ce)
	}
	limit := s.MaxBody
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Header.Get("Content-Type") == "":
	case err != nil:
		return nil, tollgate.Errorf(tollgate.CodeUnsupportedMedia, "the Content-Type does not parse: %v", err)
	case mt == "multipart/form-data":
		limit = s.MaxUpload
	case mt == "application/json", mt == "application/x-www-form-urlencoded":
	default:
		return nil, tollgate.Errorf(tollgate.CodeUnsupportedMedia, "send the body as multipart/form-data or application/json, not %q", mt)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tollgate.Errorf(tollgate.CodeBodyTooLarge, "the body is over %d bytes", limit)
		}
		return nil, tollgate.Errorf(tollgate.CodeMalformedJSON, "could not read the body: %v", err)
	}
	return body, nil
}

// decodeOpenAI decodes a JSON body strictly, or a form (multipart or
// urlencoded) by making its bracket keys a JSON object first: a[b]=x is
// {"a":{"b":"x"}}, a[]=x and a[][b]=x append to an array. Values stay
// strings (the tollgate field, a JSON object in a string as openai-go
// sends extra fields, is read by its own decoder). Files go to the body's upload.
func decodeOpenAI(r *http.Request, body []byte, v any, optional bool) error {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var form map[string][]string
	var files map[string][]*multipart.FileHeader
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		f, err := mr.ReadForm(int64(len(body)) + 1<<20)
		if err != nil {
			return tollgate.Errorf(tollgate.CodeMalformedJSON, "the multipart form does not parse: %v", err)
		}
		defer func() { _ = f.RemoveAll() }()
		form, files = f.Value, f.File
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return tollgate.Errorf(tollgate.CodeMalformedJSON, "the form does not parse: %v", err)
		}
		form = vals
	default:
		return decode(body, v, optional)
	}
	obj := map[string]any{}
	for key, vals := range form {
		for _, val := range vals {
			if err := setBracket(obj, key, val); err != nil {
				return err
			}
		}
	}
	for name, fhs := range files {
		u, ok := v.(uploader)
		if !ok {
			return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: name, Message: fmt.Sprintf("this endpoint takes no file; %q is one", name)}
		}
		for _, fh := range fhs {
			f, err := fh.Open()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				return err
			}
			if err := u.upload(name, upload{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data}); err != nil {
				return err
			}
		}
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return decode(j, v, true)
}

// setBracket sets obj's member named by a bracket key to val.
func setBracket(obj map[string]any, key, val string) error {
	name, rest, nested := strings.Cut(key, "[")
	if name == "" {
		return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: key, Message: fmt.Sprintf("form field %q has no name", key)}
	}
	if !nested {
		if _, dup := obj[name]; dup {
			return &tollgate.Error{Code: tollgate.CodeMalformedJSON, Field: name, Message: fmt.Sprintf("form field %q appears twice; send it once", name)}
		}
		obj[name] = val // a string: the tollgate field's own decoder reads the JSON in it
		return nil
	}
	inner, after, ok := strings.Cut(rest, "]")
	if !ok {
		return tollgate.FieldError(key, "form field %q has an unclosed bracket", key)
	}
	sub := after     // what follows: "" or "[b]..."
	if inner == "" { // an array
		arr, _ := obj[name].([]any)
		if sub == "" {
			obj[name] = append(arr, val)
			return nil
		}
		elem := map[string]any{}
		if err := setBracket(elem, strings.TrimPrefix(strings.Replace(sub, "]", "", 1), "["), val); err != nil {
			return err
		}
		obj[name] = append(arr, elem)
		return nil
	}
	child, _ := obj[name].(map[string]any)
	if child == nil {
		if _, taken := obj[name]; taken {
			return tollgate.FieldError(name, "form field %q is given both as a value and as an object", name)
		}
		child = map[string]any{}
		obj[name] = child
	}
	return setBracket(child, inner+sub, val)
}

// openaiError is OpenAI's error envelope's inside, with Tollgate's figures
// where it has them.
type openaiError struct {
	Message string        `json:"message"`
	Type    string        `json:"type" enum:"invalid_request_error,authentication_error,permission_error,insufficient_quota,rate_limit_error,server_error"`
	Param   *string       `json:"param" nullable:"true"`
	Code    tollgate.Code `json:"code"`

	// insufficient_credits only.
	Required               *tollgate.Credits `json:"required,omitempty" doc:"insufficient_credits only: what the video needs."`
	Available              *tollgate.Credits `json:"available,omitempty" doc:"insufficient_credits only: what the account can spend on video now."`
	DailyAllowanceResetsAt *string           `json:"daily_allowance_resets_at,omitempty" doc:"insufficient_credits only: when today's allowance resets (RFC 3339)."`
	Offers                 *[]Offer          `json:"offers,omitempty" doc:"insufficient_credits only: packs the account could buy."`
	// model_unavailable only.
	Alternatives []alternativeView `json:"alternatives,omitempty" doc:"model_unavailable only: models that can make it, with their price."`
}

type alternativeView struct {
	Model    string           `json:"model"`
	Provider string           `json:"provider"`
	Credits  tollgate.Credits `json:"credits"`
}

type openaiEnvelope struct {
	Error openaiError `json:"error"`
}

func (openaiEnvelope) schemaName() string { return "OpenAIError" }

func (openaiEnvelope) doc() string {
	return "OpenAI's error envelope: the SDKs raise it as their API error. code is Tollgate's stable code."
}

func openaiType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

func renderOpenAIError(s *Server, r *http.Request, e *tollgate.Error, status int) (string, []byte) {
	oe := openaiError{Message: e.Message, Type: openaiType(status), Code: e.Code}
	if e.Field != "" {
		oe.Param = &e.Field
	}
	if in := e.Insufficient; in != nil {
		oe.Required, oe.Available = &in.Required, &in.Available
		if in.DailyAllowanceResetsAt != nil {
			t := in.DailyAllowanceResetsAt.UTC().Format("2006-01-02T15:04:05Z07:00")
			oe.DailyAllowanceResetsAt = &t
		}
		offers := s.offerList(r, in)
		oe.Offers = &offers
	}
	for _, a := range e.Alternatives {
		oe.Alternatives = append(oe.Alternatives, alternativeView(a))
	}
	b, err := marshal(openaiEnvelope{Error: oe})
	if err != nil {
		b = []byte(`{"error":{"message":"internal","type":"server_error","param":null,"code":"internal"}}`)
	}
	return "application/json", b
}

func openaiErrorResponse(status int, codes []tollgate.Code) map[string]any {
	var lines []string
	for _, c := range codes {
		lines = append(lines, "- "+codeDocs[c])
	}
	return map[string]any{
		"description": "OpenAI's error envelope; error.code is one of:\n" + strings.Join(lines, "\n"),
		"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/OpenAIError"}}},
	}
}

// adjustOpenAI keeps the SDKs from retrying what a retry cannot mend:
// they retry 408, 409, 429 and 5xx. A state conflict is a 400 here; an
// Idempotency-Key reused with another body stays 409 with x-should-retry:
// false; and an outcome that is not known, without an Idempotency-Key to
// make the retry safe, is a 400 telling to look before trying again.
func adjustOpenAI(w http.ResponseWriter, r *http.Request, e *tollgate.Error, status int) int {
	switch {
	case e.Code == tollgate.CodeIdempotencyMismatch:
		w.Header().Set("X-Should-Retry", "false")
	case openaiStatus(e.Code) != status:
		status = openaiStatus(e.Code)
		w.Header().Set("X-Should-Retry", "false")
	case e.Code == tollgate.CodeOutcomeUnknown && r.Header.Get("Idempotency-Key") == "":
		status = http.StatusBadRequest
		w.Header().Set("X-Should-Retry", "false")
		e.Message += " (no Idempotency-Key was sent, so a retry could make a second video: list your videos first)"
	case status == http.StatusTooManyRequests && e.RetryAfter > 0:
		w.Header().Set("X-Should-Retry", "true")
	}
	return status
}

// openaiStatus is the status a code is answered with on this surface.
func openaiStatus(c tollgate.Code) int {
	st, ok := statusOf[c]
	if !ok {
		return http.StatusInternalServerError
	}
	if st == http.StatusConflict && c != tollgate.CodeIdempotencyMismatch || st == http.StatusUnprocessableEntity {
		return http.StatusBadRequest
	}
	return st
}
