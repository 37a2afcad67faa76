package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
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
		"devCheckout": true, "returnPage": true, "startCheckout": true, "stripeWebhook": true, "ServeHTTP": true, "noRoute": true,
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
