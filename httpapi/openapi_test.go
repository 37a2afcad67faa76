package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tollgate"
)

func TestOpenAPIDocumentParses(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(servedDoc(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("got openapi %v, want 3.1.0", got)
	}
	for _, k := range []string{"info", "paths", "components"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Errorf("got no %q object", k)
		}
	}
	scheme, err := lookup(openapi(t), "#/components/securitySchemes/bearerAuth")
	if err != nil {
		t.Fatal(err)
	}
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("got security scheme %v, want http bearer", scheme)
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := lookup(openapi(t), ref); err != nil {
					t.Errorf("%v", err)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}

// documented returns every "METHOD /path" of the document.
func documented(t *testing.T) []string {
	t.Helper()
	var out []string
	for path, item := range openapi(t)["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	routes := append(s.PublicRoutes(), s.Routes()...)
	doc := documented(t)
	for _, r := range routes {
		if !slices.Contains(doc, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	if len(routes) != len(doc) {
		t.Errorf("got %d operations in openapi.json, want %d (one per route)", len(doc), len(routes))
	}
}

func TestOpenAPIRoutesAreReal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	public := map[string]bool{}
	for _, r := range e.api.PublicRoutes() {
		public[r] = true
	}
	for _, op := range documented(t) {
		t.Run(op, func(t *testing.T) {
			method, path, _ := strings.Cut(op, " ")
			r := e.do(t, request{Method: method, Path: strings.ReplaceAll(path, "{id}", "x")})
			if r.Pattern != op {
				t.Errorf("got mux pattern %q, want %q", r.Pattern, op)
			}
			if strings.Contains(string(r.Body), "no such endpoint") {
				t.Fatalf("got the catch-all: %s", r.Body)
			}
			switch {
			case public[op] && r.Status == http.StatusUnauthorized:
				t.Errorf("got 401 without a key on a public route")
			case !public[op] && r.Status != http.StatusUnauthorized:
				t.Errorf("got status %d without a key, want 401", r.Status)
			}
		})
	}
}

func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := openapi(t)
	for _, op := range documented(t) {
		t.Run(op, func(t *testing.T) {
			method, path, _ := strings.Cut(op, " ")
			o := doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
			if id, _ := o["operationId"].(string); id == "" {
				t.Errorf("got no operationId")
			}
			params := map[string]map[string]any{}
			for _, p := range asSlice(o["parameters"]) {
				p, err := deref(doc, p.(map[string]any))
				if err != nil {
					t.Fatal(err)
				}
				params[p["in"].(string)+":"+p["name"].(string)] = p
			}
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") {
					name := strings.Trim(seg, "{}")
					if p := params["path:"+name]; p == nil || p["required"] != true {
						t.Errorf("got no required path parameter %q", name)
					}
				}
			}
			// The HTML pages are forms and webhooks come from providers: not the JSON API.
			if method != "POST" || !strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v1/webhooks/") {
				return
			}
			if _, ok := params["header:Idempotency-Key"]; !ok {
				t.Errorf("got no Idempotency-Key header parameter")
			}
			if _, ok := o["requestBody"]; !ok {
				t.Errorf("got no requestBody")
			}
			for status, resp := range o["responses"].(map[string]any) {
				if !strings.HasPrefix(status, "2") {
					continue
				}
				resp, _ := deref(doc, resp.(map[string]any))
				if _, ok := resp["headers"].(map[string]any)["Idempotent-Replayed"]; !ok {
					t.Errorf("response %s: got no Idempotent-Replayed header", status)
				}
			}
			every := []string{"400", "401", "413", "415", "422", "500"}
			if strings.HasPrefix(path, "/v1/videos") { // OpenAI's surface answers what would be a 422 with a 400
				every = []string{"400", "401", "413", "415", "500"}
			}
			for _, s := range every {
				if _, ok := o["responses"].(map[string]any)[s]; !ok {
					t.Errorf("got no %s response, which every POST can answer", s)
				}
			}
		})
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// errorCodes parses the Code constants of the root package's error.go, with
// the status its comment gives.
func errorCodes(t *testing.T) map[tollgate.Code]int {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../error.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[tollgate.Code]int{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("a Code constant is not a string literal: %v", v)
				}
				s, _ := strconv.Unquote(lit.Value)
				status := 0
				if vs.Comment != nil {
					status, _ = strconv.Atoi(strings.TrimSpace(vs.Comment.Text()))
				}
				codes[tollgate.Code(s)] = status
			}
		}
	}
	if len(codes) == 0 {
		t.Fatal("found no Code constants in error.go")
	}
	return codes
}

func TestEveryCodeIsMappedAndDocumented(t *testing.T) {
	t.Parallel()
	codes := errorCodes(t)
	enum, err := lookup(openapi(t), "#/components/schemas/ErrorCode")
	if err != nil {
		t.Fatal(err)
	}
	var inDoc []tollgate.Code
	for _, c := range enum["enum"].([]any) {
		inDoc = append(inDoc, tollgate.Code(c.(string)))
	}
	for c, commented := range codes {
		if !slices.Contains(inDoc, c) {
			t.Errorf("code %s is not in the problem schema's code enum", c)
		}
		status, ok := statusOf[c]
		if !ok {
			t.Errorf("code %s is not in statusOf", c)
		}
		if commented != 0 && status != commented {
			t.Errorf("code %s: got status %d in statusOf, want %d as error.go says", c, status, commented)
		}
		if titles[c] == "" {
			t.Errorf("code %s has no title", c)
		}
	}
	for _, c := range inDoc {
		if _, ok := codes[c]; !ok {
			t.Errorf("the code enum lists %s, which error.go does not define", c)
		}
	}
	for c := range statusOf {
		if _, ok := codes[c]; !ok {
			t.Errorf("statusOf maps %s, which error.go does not define", c)
		}
	}
}

// TestDocumentedCodesMatchStatus checks every problem response of every
// operation: the codes it lists must be those statusOf maps to its status.
func TestDocumentedCodesMatchStatus(t *testing.T) {
	t.Parallel()
	doc := openapi(t)
	for _, op := range documented(t) {
		method, path, _ := strings.Cut(op, " ")
		o := doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
		for status, resp := range o["responses"].(map[string]any) {
			resp, _ := deref(doc, resp.(map[string]any))
			content, _ := resp["content"].(map[string]any)
			if strings.HasPrefix(path, "/v1/videos") { // OpenAI's surface: its envelope
				if !strings.HasPrefix(status, "2") {
					ref, _ := lookupPath(content, "application/json", "schema", "$ref").(string)
					if ref != "#/components/schemas/OpenAIError" {
						t.Errorf("%s %s: got %v, want OpenAI's error envelope", op, status, content)
					}
				}
				continue
			}
			media, ok := content["application/problem+json"].(map[string]any)
			if !ok {
				// /readyz answers a probe's 503 with its own report.
				if !strings.HasPrefix(status, "2") && !strings.HasPrefix(status, "3") && op != "GET /readyz" {
					t.Errorf("%s %s: got no application/problem+json", op, status)
				}
				continue
			}
			var listed []any
			for _, part := range asSlice(media["schema"].(map[string]any)["allOf"]) {
				if props, ok := part.(map[string]any)["properties"].(map[string]any); ok {
					listed = asSlice(props["code"].(map[string]any)["enum"])
				}
			}
			if len(listed) == 0 {
				t.Errorf("%s %s: lists no codes", op, status)
			}
			for _, c := range listed {
				if got := strconv.Itoa(statusOf[tollgate.Code(c.(string))]); got != status {
					t.Errorf("%s %s: lists code %s, whose status is %s", op, status, c, got)
				}
			}
		}
	}
}

func TestServeOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	r := e.call(t, request{Method: "GET", Path: "/openapi.json"}, http.StatusOK, nil)
	if string(r.Body) != string(servedDoc()) {
		t.Errorf("got a body that is not the embedded document")
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
}
