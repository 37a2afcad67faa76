package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tollgate"
)

// op is one operation of the API: how it is served, and what the
// document at /openapi.json says of it. Typed operations (handle, serve)
// take their parameters, body and answer from the handler's types; plain
// ones (page) describe theirs in raw.
type op struct {
	pattern     string // "POST /v1/holds"
	id          string // operationId
	tag         string
	summary     string
	description string
	who         access
	public      bool // no key
	status      int  // of a success; 200 when zero
	answer      string
	// also are other statuses its answer may come with, the same schema.
	also map[int]string
	// errors are the codes it may answer besides those every operation of
	// its kind may (see problemCodes).
	errors []tollgate.Code

	in, out reflect.Type // the handler's input and answer
	raw     *rawOp
	// surface is how it speaks HTTP; nil for Tollgate's own API.
	surface *surface
}

// rawOp is what the document says of a plain handler: its parameters, body
// and answers, written out.
type rawOp struct {
	params    []any
	body      map[string]any
	responses map[string]any
}

func (o *op) method() string { m, _, _ := strings.Cut(o.pattern, " "); return m }
func (o *op) path() string   { _, p, _ := strings.Cut(o.pattern, " "); return p }

func (o *op) successStatus() int {
	if o.status == 0 {
		return http.StatusOK
	}
	return o.status
}

// idempotent reports whether the operation takes an Idempotency-Key:
// every authenticated operation that writes does.
func (o *op) idempotent() bool { return !o.public && o.method() != http.MethodGet }

// handle serves an authenticated operation. The handler gets its input
// bound and checked (path and query parameters, the body through the
// strict decoder) and returns its answer, written as JSON with the
// operation's status.
func handle[In, Out any](s *Server, o op, h func(r *http.Request, c *call, in *In) (Out, error)) {
	b := s.add(&o, reflect.TypeFor[In](), reflect.TypeFor[Out]())
	s.routes = append(s.routes, o.pattern)
	status := o.successStatus()
	s.muxFor(o.pattern).Handle(o.pattern, s.wrap(&o, func(w http.ResponseWriter, r *http.Request, c *call) error {
		c.status = status
		if o.idempotent() {
			if err := c.readIdempotencyKey(r); err != nil {
				return err
			}
		}
		var in In
		if err := b.bind(r, c.body, &in); err != nil {
			return err
		}
		out, err := h(r, c, &in)
		if err != nil {
			return err
		}
		for k, v := range c.header {
			w.Header()[k] = v
		}
		return answer(w, status, out)
	}))
}

// serve serves an operation that needs no key.
func serve[In, Out any](s *Server, o op, h func(r *http.Request, in *In) (Out, error)) {
	o.public = true
	b := s.add(&o, reflect.TypeFor[In](), reflect.TypeFor[Out]())
	s.public = append(s.public, o.pattern)
	status := o.successStatus()
	sf := o.surfaceOf()
	s.mux.HandleFunc(o.pattern, func(w http.ResponseWriter, r *http.Request) {
		var in In
		var out Out
		err := b.bind(r, nil, &in)
		if err == nil {
			out, err = h(r, &in)
		}
		if err == nil {
			err = answer(w, status, out)
		}
		if err != nil {
			s.fail(sf, w, r, err)
		}
	})
}

// plain serves a plain handler, public: pages, redirects and webhooks, whose
// parameters and answers o.raw describes.
func plain(s *Server, o op, h http.HandlerFunc) {
	o.public = true
	if o.raw == nil {
		panic("httpapi: a plain operation needs raw, its description: " + o.pattern)
	}
	s.ops = append(s.ops, &o)
	s.public = append(s.public, o.pattern)
	s.mux.HandleFunc(o.pattern, h)
}

func (s *Server) add(o *op, in, out reflect.Type) *binder {
	o.in, o.out = in, out
	b := newBinder(o)
	s.ops = append(s.ops, o)
	return b
}

// answerer is an answer that writes itself (CSV, say) instead of as JSON.
type answerer interface {
	writeAnswer(w http.ResponseWriter, status int) error
}

func answer(w http.ResponseWriter, status int, out any) error {
	if a, ok := out.(answerer); ok {
		return a.writeAnswer(w, status)
	}
	return writeJSON(w, status, out)
}

// A binder fills a handler's input from a request. The input is a struct
// whose fields are tagged path:"name", query:"name" or header:"Name", and maybe a field
// Body (tag body:"optional" when it may be left out), decoded strictly. A
// parameter of the pattern the input does not declare, or a query
// parameter it does not know, is refused: the document lists exactly what
// the handler reads.
type binder struct {
	pattern string
	surface *surface
	path    []param
	query   []param
	header  []param // strings only
	body    []int   // index of Body, nil without one
	// bodyOptional: an empty body is read as {}.
	bodyOptional bool
	bodyType     reflect.Type
}

// param is a path or query parameter of an input.
type param struct {
	name  string
	index []int
	field reflect.StructField
	// min and max bound a whole number; def is its value when absent.
	min, max, def int64
	hasDef        bool
}

var patternParams = regexp.MustCompile(`\{([a-z_]+)\}`)

func newBinder(o *op) *binder {
	b := &binder{pattern: o.pattern, surface: o.surfaceOf()}
	if o.in.Kind() != reflect.Struct {
		panic(fmt.Sprintf("httpapi: the input of %s is %s, not a struct", o.pattern, o.in))
	}
	for _, f := range reflect.VisibleFields(o.in) {
		if f.Anonymous {
			continue
		}
		switch {
		case f.Tag.Get("path") != "":
			b.path = append(b.path, newParam(o, f, f.Tag.Get("path")))
		case f.Tag.Get("query") != "":
			b.query = append(b.query, newParam(o, f, f.Tag.Get("query")))
		case f.Tag.Get("header") != "":
			if f.Type.Kind() != reflect.String {
				panic(fmt.Sprintf("httpapi: header %s of %s must be a string", f.Tag.Get("header"), o.pattern))
			}
			b.header = append(b.header, newParam(o, f, f.Tag.Get("header")))
		case f.Name == "Body":
			b.body, b.bodyType = f.Index, f.Type
			b.bodyOptional = f.Tag.Get("body") == "optional"
		default:
			panic(fmt.Sprintf("httpapi: field %s of the input of %s is not a parameter or the Body", f.Name, o.pattern))
		}
	}
	var declared []string
	for _, p := range b.path {
		declared = append(declared, p.name)
	}
	var inPattern []string
	for _, m := range patternParams.FindAllStringSubmatch(o.pattern, -1) {
		inPattern = append(inPattern, m[1])
	}
	slices.Sort(declared)
	slices.Sort(inPattern)
	if !slices.Equal(declared, inPattern) {
		panic(fmt.Sprintf("httpapi: %s has path parameters %v, its input declares %v", o.pattern, inPattern, declared))
	}
	return b
}

func newParam(o *op, f reflect.StructField, name string) param {
	p := param{name: name, index: f.Index, field: f, min: -1 << 63, max: 1<<63 - 1}
	switch f.Type.Kind() {
	case reflect.String:
	case reflect.Int, reflect.Int64:
		if v := f.Tag.Get("minimum"); v != "" {
			p.min, _ = strconv.ParseInt(v, 10, 64)
		}
		if v := f.Tag.Get("maximum"); v != "" {
			p.max, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := f.Tag.Lookup("default"); ok {
			p.def, _ = strconv.ParseInt(v, 10, 64)
			p.hasDef = true
		}
	default:
		panic(fmt.Sprintf("httpapi: parameter %s of %s is a %s; parameters are strings or whole numbers", name, o.pattern, f.Type))
	}
	return p
}

// bind fills in from r and its body.
func (b *binder) bind(r *http.Request, body []byte, in any) error {
	v := reflect.ValueOf(in).Elem()
	for _, p := range b.path {
		v.FieldByIndex(p.index).SetString(r.PathValue(p.name))
	}
	for _, p := range b.header {
		v.FieldByIndex(p.index).SetString(r.Header.Get(p.name))
	}
	q := r.URL.Query()
	for name, vals := range q {
		if !slices.ContainsFunc(b.query, func(p param) bool { return p.name == name }) {
			return &tollgate.Error{Code: tollgate.CodeUnknownField, Field: name,
				Message: fmt.Sprintf("unknown query parameter %q; %s", name, b.known())}
		}
		if len(vals) > 1 {
			return tollgate.FieldError(name, "is given %d times; give it once", len(vals))
		}
	}
	for _, p := range b.query {
		f := v.FieldByIndex(p.index)
		s, ok := q[p.name]
		if f.Kind() == reflect.String {
			if ok {
				f.SetString(s[0])
			}
			continue
		}
		n := p.def
		if ok && s[0] != "" {
			var err error
			if n, err = strconv.ParseInt(s[0], 10, 64); err != nil || n < p.min || n > p.max {
				return tollgate.FieldError(p.name, "must be a whole number from %d to %d", p.min, p.max)
			}
		} else if !p.hasDef {
			continue
		}
		f.SetInt(n)
	}
	if b.body != nil {
		return b.surface.decode(r, body, v.FieldByIndex(b.body).Addr().Interface(), b.bodyOptional)
	}
	return nil
}

func (b *binder) known() string {
	if len(b.query) == 0 {
		return "this endpoint takes none"
	}
	var names []string
	for _, p := range b.query {
		names = append(names, p.name)
	}
	return "this endpoint takes " + strings.Join(names, ", ")
}

// Inputs the operations share.

// accountPath is the {id} of /v1/accounts/{id}/...
type accountPath struct {
	ID string `path:"id" doc:"Account id. With an account key, only its own account (another is 404)."`
}

// pageQuery pages through a list by id.
type pageQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page."`
}

// createdQuery bounds a list by creation time, [created_after, created_before).
type createdQuery struct {
	CreatedAfter  string `query:"created_after" format:"date-time" doc:"Only what was made at or after this RFC 3339 time."`
	CreatedBefore string `query:"created_before" format:"date-time" doc:"Only what was made before this RFC 3339 time."`
}

// bounds returns the times, zero where absent.
func (q createdQuery) bounds() (after, before time.Time, err error) {
	for _, b := range []struct {
		name, v string
		t       *time.Time
	}{{"created_after", q.CreatedAfter, &after}, {"created_before", q.CreatedBefore, &before}} {
		t, err := parseTime(b.name, b.v)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		if t != nil {
			*b.t = *t
		}
	}
	return after, before, nil
}

// emptyRequest is the body of an action that takes nothing: empty, or {}.
type emptyRequest struct{}

func (emptyRequest) doc() string { return "Nothing: send no body, or {}." }
