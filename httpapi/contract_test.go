package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"tollgate"
)

// This file checks that /openapi.json is a valid OpenAPI 3.1 document and
// that it cannot drift from the handlers: the document is made from their
// types (TestDocumentFollowsTheTypes), every answer the other tests get is
// checked against it (env.do), every request they send that succeeds
// is too, and no handler reads a request but through its input.

func TestOpenAPIIsValid31(t *testing.T) {
	t.Parallel()
	doc, err := libopenapi.NewDocument(servedDoc())
	if err != nil {
		t.Fatalf("the document does not parse: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("got OpenAPI %s, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("no validator for the document: %v", errs)
	}
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("%s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			t.Errorf("  %s", f.Reason)
		}
	}
	if !ok && len(verrs) == 0 {
		t.Error("the document is not valid OpenAPI 3.1, and the validator gave no reason")
	}
}

// TestValidatorRefusesABadDocument shows the check above can fail.
func TestValidatorRefusesABadDocument(t *testing.T) {
	t.Parallel()
	bad := `{"openapi":"3.1.0","info":{"title":"x"},"paths":{"/a":{"get":{"responses":{"200":{"description":1}}}}}}`
	doc, err := libopenapi.NewDocument([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := validator.NewValidator(doc)
	if ok, _ := v.ValidateDocument(); ok {
		t.Error("a document without info.version and with a numeric description passed")
	}
}

// TestDocumentFollowsTheTypes changes a handler's types and finds the
// change in the document: parameters, body members, their constraints and
// the answer.
func TestDocumentFollowsTheTypes(t *testing.T) {
	t.Parallel()
	type widgetRequest struct {
		Name  string           `json:"name" required:"true" maxLength:"10" doc:"The widget's name."`
		Size  *int             `json:"size" minimum:"1"`
		Price tollgate.Credits `json:"price"`
	}
	type widgetView struct {
		ID   string     `json:"id"`
		Note string     `json:"note,omitempty"`
		Tags []string   `json:"tags" nullable:"true"`
		At   *time64Alt `json:"at"`
	}
	s := New(Config{})
	handle(s, op{pattern: "POST /v1/widgets/{id}", id: "makeWidget", tag: "meta", summary: "Make a widget", status: http.StatusCreated},
		func(r *http.Request, c *call, in *struct {
			ID   string `path:"id" doc:"The widget id."`
			Mode string `query:"mode" enum:"fast,slow"`
			Body widgetRequest
		}) (widgetView, error) {
			return widgetView{}, nil
		})
	var doc map[string]any
	b, err := marshal(s.document())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	o, _ := lookupPath(doc, "paths", "/v1/widgets/{id}", "post").(map[string]any)
	if o == nil {
		t.Fatal("the new operation is not in the document")
	}
	var params []string
	for _, p := range o["parameters"].([]any) {
		p := p.(map[string]any)
		if name, ok := p["name"].(string); ok {
			params = append(params, p["in"].(string)+":"+name)
		}
	}
	slices.Sort(params)
	if want := []string{"path:id", "query:mode"}; !slices.Equal(params, want) {
		t.Errorf("got parameters %v, want %v", params, want)
	}
	req := lookupPath(doc, "components", "schemas", "WidgetRequest").(map[string]any)
	if got := lookupPath(req, "properties", "name", "maxLength"); got != float64(10) {
		t.Errorf("got name maxLength %v, want 10", got)
	}
	if got := req["required"]; !slices.Equal(asSlice(got), []any{"name"}) {
		t.Errorf("got required %v, want [name]", got)
	}
	if got := lookupPath(req, "properties", "price", "$ref"); got != "#/components/schemas/Credits" {
		t.Errorf("got price %v, want a Credits reference", got)
	}
	if got := lookupPath(req, "additionalProperties"); got != false {
		t.Errorf("got additionalProperties %v, want false (the decoder refuses unknown members)", got)
	}
	view := lookupPath(doc, "components", "schemas", "Widget").(map[string]any)
	if got := view["required"]; !slices.Equal(asSlice(got), []any{"id", "tags", "at"}) {
		t.Errorf("got answer required %v, want [id tags at] (all but omitempty)", got)
	}
	if got := lookupPath(view, "properties", "tags", "type"); !slices.Equal(asSlice(got), []any{"array", "null"}) {
		t.Errorf("got tags type %v, want [array null]", got)
	}
	if _, ok := lookupPath(o, "responses", "201").(map[string]any); !ok {
		t.Error("got no 201 answer")
	}
	for _, status := range []string{"400", "401", "403", "404", "409", "413", "415", "422", "500", "503"} {
		if _, ok := lookupPath(o, "responses", status).(map[string]any); !ok {
			t.Errorf("got no %s problem, which this operation can answer", status)
		}
	}
}

// time64Alt is a type with a schema of its own, as a handler's answer may
// hold.
type time64Alt struct{}

func (time64Alt) jsonSchema(*schemas) map[string]any {
	return map[string]any{"type": "integer", "description": "Unix seconds."}
}

func lookupPath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestInputMustDeclareThePath refuses an operation whose input does not
// declare a path parameter of its pattern: the document would not list it.
func TestInputMustDeclareThePath(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("an input without the pattern's {id} was accepted")
		}
	}()
	s := New(Config{})
	handle(s, op{pattern: "GET /v1/widgets/{id}", id: "getWidget", tag: "meta", summary: "Get a widget"},
		func(r *http.Request, c *call, in *struct{}) (healthView, error) { return healthView{}, nil })
}

// TestUnknownQueryParameters: a parameter the operation does not take is
// refused, naming those it takes, and so is one given twice.
func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	r := e.call(t, request{Method: "GET", Path: "/v1/accounts?limit=5&colour=red", Key: adminKey}, http.StatusBadRequest, nil)
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != tollgate.CodeUnknownField || p.Field != "colour" || !strings.Contains(p.Detail, "limit, cursor") {
		t.Errorf("got %+v, want unknown_field on colour naming limit and cursor", p)
	}
	r = e.call(t, request{Method: "GET", Path: "/v1/accounts?limit=5&limit=6", Key: adminKey}, http.StatusUnprocessableEntity, nil)
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != tollgate.CodeInvalidField || p.Field != "limit" {
		t.Errorf("got %+v, want invalid_field on limit", p)
	}
	e.call(t, request{Method: "GET", Path: "/v1/accounts?limit=0", Key: adminKey}, http.StatusUnprocessableEntity, nil)
	e.call(t, request{Method: "GET", Path: "/v1/accounts?limit=100", Key: adminKey}, http.StatusOK, nil)
	e.call(t, request{Method: "GET", Path: "/v1/prices?x=1"}, http.StatusBadRequest, nil)
}

// TestHandlersReadOnlyTheirInput: a handler that read a query parameter,
// a form value or a header itself would take input the document does not
// list. Only the binder, authentication and the plain handlers (pages and
// webhooks, whose parameters are written out) may.
func TestHandlersReadOnlyTheirInput(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{
		"bind": true, "readIdempotencyKey": true, "authenticate": true, "readBody": true, "baseURL": true, "trustedPeer": true,
		"devCheckout": true, "returnPage": true, "startCheckout": true, "stripeWebhook": true, "providerWebhook": true, "ServeHTTP": true, "noRoute": true,
		// The OpenAI-compatible surface reads its bodies (by media type) and
		// answers its errors (by Idempotency-Key) as readBody does.
		"readOpenAIBody": true, "decodeOpenAI": true, "adjustOpenAI": true, "canonicalForm": true,
		// A 402's offers are priced in the currency Accept-Language asks
		// for, on whichever operation answers it (content negotiation).
		"offerCurrencies": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || allowed[fn.Name.Name] {
				continue
			}
			checked++
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if what := readsRequest(n); what != "" {
					t.Errorf("%s: %s reads the request's %s itself; declare it in the handler's input", fset.Position(n.Pos()), fn.Name.Name, what)
				}
				return true
			})
		}
	}
	if checked < 40 {
		t.Fatalf("checked %d functions: run from the package directory", checked)
	}
}

// readsRequest names what n reads of a request named r, or is "": its
// query (x.URL.Query), form, cookies or a header (r.Header.Get).
func readsRequest(n ast.Node) string {
	sel, ok := n.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	isR := func(x ast.Expr) bool { id, ok := x.(*ast.Ident); return ok && id.Name == "r" }
	switch sel.Sel.Name {
	case "Query":
		if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "URL" {
			return "query"
		}
	case "FormValue", "PostFormValue", "ParseForm", "ParseMultipartForm", "Form", "PostForm", "MultipartForm", "Cookie", "Cookies":
		if isR(sel.X) {
			return sel.Sel.Name
		}
	case "Get", "Values":
		if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "Header" && isR(x.X) {
			return "header"
		}
	}
	return ""
}

// TestContractCheckCatchesDrift answers with a body the document does not
// describe and a status it does not list, and expects the check every test
// runs to refuse both.
func TestContractCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteHeader(http.StatusOK)
	_, _ = rec.WriteString(`{"status":"ok","extra":1}`)
	ft := &fakeTB{TB: t}
	checkAgainstDoc(ft, response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes(), Pattern: "GET /healthz"})
	if len(ft.errs) == 0 {
		t.Error("a /healthz answer with an undocumented member passed")
	}
	ft = &fakeTB{TB: t}
	checkAgainstDoc(ft, response{Status: http.StatusTeapot, Header: rec.Header(), Body: []byte(`{}`), Pattern: "GET /healthz"})
	if len(ft.errs) == 0 {
		t.Error("an undocumented status passed")
	}
	ft = &fakeTB{TB: t}
	checkRequestAgainstDoc(ft, "POST /v1/holds", `{"product":"video","credits":"1","colour":"red"}`)
	if len(ft.errs) == 0 {
		t.Error("a request with an undocumented member passed")
	}
}

// fakeTB records errors instead of failing.
type fakeTB struct {
	testing.TB
	errs []string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Errorf(format string, a ...any) { f.errs = append(f.errs, format) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.errs = append(f.errs, format) }

// envelope is a surface as another API's would be: form or JSON bodies,
// and errors as {"error": {"message", "type", "code"}}, as OpenAI's.
var envelope = &surface{
	read: func(s *Server, w http.ResponseWriter, r *http.Request) ([]byte, error) {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	},
	decode: func(r *http.Request, body []byte, v any, optional bool) error {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return tollgate.Errorf(tollgate.CodeMalformedJSON, "the form does not parse: %v", err)
			}
			m := map[string]string{}
			for k := range form {
				m[k] = form.Get(k)
			}
			if body, err = json.Marshal(m); err != nil {
				return err
			}
		}
		return decode(body, v, optional)
	},
	bodyTypes: []string{"application/json", "application/x-www-form-urlencoded"},
	render: func(s *Server, r *http.Request, e *tollgate.Error, status int) (string, []byte) {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": e.Message, "type": "invalid_request_error", "code": e.Code}})
		return "application/json", b
	},
	errorResponse: func(status int, codes []tollgate.Code) map[string]any {
		return map[string]any{"description": "An error.", "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"type": "object", "required": []any{"error"}}}}}
	},
}

// TestSecondSurface serves an operation in another API's words: its
// bodies, its error envelope, and the document describing both, beside
// Tollgate's own operations.
func TestSecondSurface(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	type thingRequest struct {
		Name string `json:"name" required:"true"`
	}
	handle(e.api, op{pattern: "POST /v1/things", id: "makeThing", tag: "meta", summary: "Make a thing", status: http.StatusCreated, surface: envelope},
		func(r *http.Request, c *call, in *struct{ Body thingRequest }) (healthView, error) {
			if in.Body.Name == "" {
				return healthView{}, tollgate.FieldError("name", "is required")
			}
			return healthView{Status: in.Body.Name}, nil
		})
	send := func(key, ct, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/v1/things", strings.NewReader(body))
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		return w
	}
	w := send(adminKey, "application/x-www-form-urlencoded", "name=lamp")
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"lamp"`) {
		t.Errorf("form body: got %d %s, want 201 with the name", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name, key, ct, body string
		status              int
		code                tollgate.Code
	}{
		{"no key", "", "application/json", `{"name":"lamp"}`, http.StatusUnauthorized, tollgate.CodeUnauthorized},
		{"unknown member", adminKey, "application/json", `{"name":"lamp","colour":"red"}`, http.StatusBadRequest, tollgate.CodeUnknownField},
		{"handler error", adminKey, "application/x-www-form-urlencoded", "name=", http.StatusUnprocessableEntity, tollgate.CodeInvalidField},
	} {
		w := send(tc.key, tc.ct, tc.body)
		var env struct {
			Error struct {
				Message string        `json:"message"`
				Code    tollgate.Code `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != tc.status || env.Error.Code != tc.code || env.Error.Message == "" {
			t.Errorf("%s: got %d %s, want %d with {error: {code: %s}}", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: got Content-Type %q, want the envelope's application/json", tc.name, ct)
		}
	}
	doc := e.api.document()
	o := lookupPath(doc, "paths", "/v1/things", "post").(map[string]any)
	if _, ok := lookupPath(o, "requestBody", "content", "application/x-www-form-urlencoded").(map[string]any); !ok {
		t.Error("the document does not list the form body")
	}
	if got := lookupPath(o, "responses", "401", "content", "application/json", "schema", "required"); !slices.Equal(asSlice(got), []any{"error"}) {
		t.Errorf("got a 401 documented as %v, want the envelope", lookupPath(o, "responses", "401"))
	}
	if _, ok := lookupPath(doc, "paths", "/v1/holds", "post", "responses", "401", "content", "application/problem+json").(map[string]any); !ok {
		t.Error("Tollgate's own operations lost their problems")
	}
}
