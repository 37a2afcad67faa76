package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tollgate"
)

// readBody reads the request body within the size limit. Empty bodies are
// allowed only when optional is true.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, tollgate.Errorf(tollgate.CodeUnsupportedMedia, "Content-Encoding %q is not supported: send the body uncompressed", ce)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// curl -d labels JSON bodies as a form; the body must still be JSON.
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "application/x-www-form-urlencoded") {
			return nil, tollgate.Errorf(tollgate.CodeUnsupportedMedia, "send the body as application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tollgate.Errorf(tollgate.CodeBodyTooLarge, "the body is over %d bytes", s.MaxBody)
		}
		return nil, tollgate.Errorf(tollgate.CodeMalformedJSON, "could not read the body: %v", err)
	}
	return body, nil
}

// decode parses body strictly into v: one JSON object of valid UTF-8, no
// unknown fields (names match exactly, escapes and case included), no member
// twice in any object, nothing after it. An empty body decodes as {} when
// optional.
func decode(body []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return tollgate.Errorf(tollgate.CodeMalformedJSON, "the request body is empty; send a JSON object")
	}
	// encoding/json replaces invalid UTF-8 silently, and keeps the last of
	// two members with one name: refuse both rather than guess.
	if !utf8.Valid(body) {
		return tollgate.Errorf(tollgate.CodeMalformedJSON, "the body is not valid UTF-8")
	}
	if err := noDuplicates(body); err != nil {
		return err
	}
	// encoding/json folds case (and a few non-ASCII letters) when it matches
	// member names, after unescaping them; a body with none of those letters
	// and no escape cannot be mismatched, which spares the common request
	// a parse.
	if bytes.ContainsFunc(body, func(r rune) bool { return (r >= 'A' && r <= 'Z') || r >= 0x80 || r == '\\' }) {
		if err := exactKeys(body, v); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return tollgate.Errorf(tollgate.CodeMalformedJSON, "the body has data after the JSON object")
	}
	return nil
}

// noDuplicates refuses a body in which some object has a member twice.
// Malformed JSON passes: Decode reports it. It scans the bytes without
// building tokens: a request's body costs no allocation here unless a name
// has an escape or an object has many members.
func noDuplicates(body []byte) error {
	type frame struct {
		object     bool
		expectName bool // in an object: the next string is a member name
		start      int  // its names begin at names[start]
		// seen holds its names once it has more than a few, so that a
		// body of many members costs linear time, not quadratic.
		seen map[string]struct{}
	}
	var frameBuf [8]frame
	var nameBuf [16][]byte
	frames, names := frameBuf[:0], nameBuf[:0]
	valueDone := func() { // a value ended: in an object, a name comes next
		if n := len(frames); n > 0 && frames[n-1].object {
			frames[n-1].expectName = true
		}
	}
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case ' ', '\t', '\n', '\r', ':', ',':
			i++
		case '{', '[':
			frames = append(frames, frame{object: c == '{', expectName: c == '{', start: len(names)})
			i++
		case '}', ']':
			if len(frames) == 0 {
				return nil // malformed
			}
			names = names[:frames[len(frames)-1].start]
			frames = frames[:len(frames)-1]
			valueDone()
			i++
		case '"':
			end := stringEnd(body, i)
			if end < 0 {
				return nil // malformed
			}
			n := len(frames)
			if n == 0 || !frames[n-1].object || !frames[n-1].expectName {
				valueDone()
				i = end
				continue
			}
			top := &frames[n-1]
			top.expectName = false
			name := body[i+1 : end-1]
			if bytes.IndexByte(name, '\\') >= 0 { // compare names as they decode
				var s string
				if json.Unmarshal(body[i:end], &s) != nil {
					return nil // malformed
				}
				name = []byte(s)
			}
			i = end
			if top.seen == nil {
				for _, m := range names[top.start:] {
					if bytes.Equal(m, name) {
						return duplicateMember(name)
					}
				}
				names = append(names, name)
				if len(names)-top.start > 16 {
					top.seen = make(map[string]struct{}, 64)
					for _, m := range names[top.start:] {
						top.seen[string(m)] = struct{}{}
					}
				}
				continue
			}
			if _, dup := top.seen[string(name)]; dup {
				return duplicateMember(name)
			}
			top.seen[string(name)] = struct{}{}
		default: // a number, true, false or null
			for i < len(body) && !endsLiteral(body[i]) {
				i++
			}
			valueDone()
		}
	}
	return nil
}

func endsLiteral(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', ']', '}', '[', '{', '"':
		return true
	}
	return false
}

// stringEnd returns the index just after the JSON string starting at
// body[i] (a quote), or -1 when it does not end.
func stringEnd(body []byte, i int) int {
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++ // the escaped byte
		case '"':
			return j + 1
		}
	}
	return -1
}

func duplicateMember(name []byte) error {
	n := string(name)
	return &tollgate.Error{Code: tollgate.CodeMalformedJSON, Field: n, Message: fmt.Sprintf("member %q appears twice; send it once", n)}
}

var fieldSets sync.Map // reflect.Type -> map[string]bool

// exactKeys rejects top-level keys that match a field only when case is
// ignored, as encoding/json would accept them: {"CREDITS": "1"} is unknown.
func exactKeys(body []byte, v any) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil // not an object: Decode reports it
	}
	t := reflect.TypeOf(v).Elem()
	names, ok := fieldSets.Load(t)
	if !ok {
		set := map[string]bool{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			set[name] = true
		}
		names, _ = fieldSets.LoadOrStore(t, set)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !names.(map[string]bool)[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: keys[0], Message: fmt.Sprintf("unknown field %q (names are case-sensitive)", keys[0])}
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var own *tollgate.Error
	switch {
	case errors.As(err, &own): // a field's own UnmarshalJSON said what is wrong
		return own
	case errors.As(err, &syn):
		return tollgate.Errorf(tollgate.CodeMalformedJSON, "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return tollgate.Errorf(tollgate.CodeMalformedJSON, "the JSON body ends too soon")
	case errors.As(err, &typ):
		name := typ.Field
		if name == "" {
			return tollgate.Errorf(tollgate.CodeMalformedJSON, "the body must be a JSON object")
		}
		return tollgate.FieldError(name, "must be %s, not a JSON %s", jsonKind(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: name, Message: fmt.Sprintf("unknown field %q", name)}
	}
	return tollgate.Errorf(tollgate.CodeMalformedJSON, "invalid JSON: %v", err)
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "*int"):
		return "a whole number"
	case strings.HasPrefix(goType, "map"):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasSuffix(goType, "string"):
		return "a string"
	}
	return "of another type"
}

// amount is a credits field: a decimal string ("12.5") or a bare JSON
// number, at most 6 decimals, parsed without floats.
// A parse error is kept, not returned, so that it can be reported with the
// field's name.
type amount struct {
	set bool
	v   tollgate.Credits
	raw string
	err error
}

func (a *amount) UnmarshalJSON(b []byte) error {
	a.set, a.raw = true, string(b)
	// As a string, an amount is written as JSON writes a number: no sign
	// but a minus, no leading zero, no bare point ("+1", "007", ".5").
	if len(b) > 0 && b[0] == '"' && !canonicalAmount.Match(b) {
		a.err = &amountErr{raw: string(b), err: tollgate.ErrAmountSyntax}
		return nil
	}
	var c tollgate.Credits
	if err := c.UnmarshalJSON(b); err != nil {
		a.err = &amountErr{raw: string(b), err: err}
		return nil
	}
	a.v = c
	return nil
}

func (amount) schemaName() string { return "CreditsInput" }

func (amount) jsonSchema(*schemas) map[string]any {
	return map[string]any{
		"description": "An amount of credits in a request: a decimal string such as \"12.5\" (preferred) or a bare JSON number, parsed " +
			"exactly from its text. Written as JSON writes a number: no sign but a minus, no leading zero, no bare point (\"+1\", " +
			"\"007\" and \".5\" are refused). At most 6 decimals; no exponents; at most " + tollgate.MaxCredits.String() + " in absolute value.",
		"anyOf":    []any{map[string]any{"type": "string", "pattern": `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`}, map[string]any{"type": "number"}},
		"examples": []any{"12.5", "1"},
	}
}

var canonicalAmount = regexp.MustCompile(`^"-?(0|[1-9][0-9]*)(\.[0-9]+)?"$`)

type amountErr struct {
	raw string
	err error
}

func (e *amountErr) Error() string {
	switch {
	case errors.Is(e.err, tollgate.ErrAmountPrecision):
		return fmt.Sprintf("%s has more than 6 decimal places; credits are counted in millionths", e.raw)
	case errors.Is(e.err, tollgate.ErrAmountRange):
		return fmt.Sprintf("%s is out of range (at most %s)", e.raw, tollgate.MaxCredits)
	}
	return fmt.Sprintf("%s is not a decimal amount such as \"12.5\" (digits, no sign but a minus, no leading zero, no bare point)", e.raw)
}

// credits checks a required positive amount field.
func credits(name string, a amount) (tollgate.Credits, error) {
	if !a.set {
		return 0, tollgate.FieldError(name, "is required, e.g. \"1.5\"")
	}
	if a.err != nil {
		return 0, tollgate.FieldError(name, "%v", a.err)
	}
	if a.v <= 0 {
		return 0, tollgate.FieldError(name, "must be more than zero, got %s", a.raw)
	}
	if a.v > tollgate.MaxCredits {
		return 0, tollgate.FieldError(name, "must be at most %s", tollgate.MaxCredits)
	}
	return a.v, nil
}

func parseTime(name, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if y := t.UTC().Year(); err != nil || y < 0 || y > 9999 { // JSON cannot write other years
		return nil, tollgate.FieldError(name, "must be an RFC 3339 time such as 2026-12-31T23:59:59Z")
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t, nil
}
