package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// This file checks answers against the OpenAPI document with a small JSON
// Schema validator: only the keywords the document uses, and it refuses any
// other, so a document that grows past it fails loudly instead of passing.

// servedDoc is the document a server serves at /openapi.json.
var servedDoc = sync.OnceValue(func() []byte { return New(Config{}).openapi })

var docOnce = sync.OnceValues(func() (map[string]any, error) {
	return decodeJSON(servedDoc())
})

func decodeJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func openapi(tb testing.TB) map[string]any {
	tb.Helper()
	d, err := docOnce()
	if err != nil {
		tb.Fatalf("openapi.json: %v", err)
	}
	return d
}

// lookup follows a local reference such as "#/components/schemas/Hold".
func lookup(doc map[string]any, ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("reference %q is not local", ref)
	}
	var cur any = doc
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reference %q: %q is not an object", ref, p)
		}
		if cur, ok = m[p]; !ok {
			return nil, fmt.Errorf("reference %q: no %q", ref, p)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reference %q is not an object", ref)
	}
	return m, nil
}

// deref follows $ref until an object without one.
func deref(doc map[string]any, m map[string]any) (map[string]any, error) {
	for i := 0; i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		var err error
		if m, err = lookup(doc, ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("reference loop")
}

type schemaChecker struct {
	doc  map[string]any
	errs []string
}

func (c *schemaChecker) fail(at, format string, args ...any) {
	c.errs = append(c.errs, at+": "+fmt.Sprintf(format, args...))
}

var annotations = map[string]bool{"description": true, "examples": true, "default": true, "title": true, "$comment": true}

// check validates the JSON value x (decoded with UseNumber) against schema.
func (c *schemaChecker) check(schema any, x any, at string) {
	switch s := schema.(type) {
	case bool:
		if !s {
			c.fail(at, "no value is allowed here")
		}
		return
	case map[string]any:
		c.checkObject(s, x, at)
	default:
		c.fail(at, "schema is a %T", schema)
	}
}

func (c *schemaChecker) checkObject(s map[string]any, x any, at string) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s[k]
		switch k {
		case "$ref":
			target, err := lookup(c.doc, v.(string))
			if err != nil {
				c.fail(at, "%v", err)
				continue
			}
			c.check(target, x, at)
		case "type":
			var types []string
			switch t := v.(type) {
			case string:
				types = []string{t}
			case []any:
				for _, e := range t {
					types = append(types, e.(string))
				}
			}
			ok := false
			for _, t := range types {
				ok = ok || hasType(x, t)
			}
			if !ok {
				c.fail(at, "got %s, want type %v", show(x), types)
			}
		case "enum":
			ok := false
			for _, e := range v.([]any) {
				ok = ok || sameJSON(e, x)
			}
			if !ok {
				c.fail(at, "got %s, want one of %v", show(x), v)
			}
		case "const":
			if !sameJSON(v, x) {
				c.fail(at, "got %s, want %v", show(x), v)
			}
		case "pattern":
			if str, ok := x.(string); ok {
				re, err := regexp.Compile(v.(string))
				if err != nil {
					c.fail(at, "pattern %q: %v", v, err)
				} else if !re.MatchString(str) {
					c.fail(at, "got %q, want it to match %s", str, v)
				}
			}
		case "format":
			str, ok := x.(string)
			if !ok {
				continue
			}
			switch v {
			case "date-time":
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					c.fail(at, "got %q, want an RFC 3339 time", str)
				}
			case "uri":
				if u, err := url.Parse(str); err != nil || u.Scheme == "" {
					c.fail(at, "got %q, want an absolute URI", str)
				}
			}
		case "minLength", "maxLength":
			if str, ok := x.(string); ok {
				n, _ := v.(json.Number).Int64()
				l := int64(utf8.RuneCountInString(str))
				if (k == "minLength" && l < n) || (k == "maxLength" && l > n) {
					c.fail(at, "got %d characters, want %s %d", l, k, n)
				}
			}
		case "minimum", "maximum":
			if num, ok := x.(json.Number); ok {
				f, _ := num.Float64()
				lim, _ := v.(json.Number).Float64()
				if (k == "minimum" && f < lim) || (k == "maximum" && f > lim) {
					c.fail(at, "got %s, want %s %s", num, k, v)
				}
			}
		case "properties":
			obj, ok := x.(map[string]any)
			if !ok {
				continue
			}
			for name, ps := range v.(map[string]any) {
				if pv, ok := obj[name]; ok {
					c.check(ps, pv, at+"."+name)
				}
			}
		case "required":
			if obj, ok := x.(map[string]any); ok {
				for _, name := range v.([]any) {
					if _, ok := obj[name.(string)]; !ok {
						c.fail(at, "missing required member %q", name)
					}
				}
			}
		case "additionalProperties":
			obj, ok := x.(map[string]any)
			if !ok {
				continue
			}
			props, _ := s["properties"].(map[string]any)
			for name, pv := range obj {
				if _, known := props[name]; !known {
					c.check(v, pv, at+"."+name)
				}
			}
		case "propertyNames":
			if obj, ok := x.(map[string]any); ok {
				for name := range obj {
					c.check(v, name, at+"{"+name+"}")
				}
			}
		case "maxProperties":
			if obj, ok := x.(map[string]any); ok {
				if n, _ := v.(json.Number).Int64(); int64(len(obj)) > n {
					c.fail(at, "got %d members, want at most %d", len(obj), n)
				}
			}
		case "minItems", "maxItems":
			if arr, ok := x.([]any); ok {
				n, _ := v.(json.Number).Int64()
				if l := int64(len(arr)); (k == "minItems" && l < n) || (k == "maxItems" && l > n) {
					c.fail(at, "got %d items, want %s %d", l, k, n)
				}
			}
		case "items":
			if arr, ok := x.([]any); ok {
				for i, e := range arr {
					c.check(v, e, at+"["+strconv.Itoa(i)+"]")
				}
			}
		case "uniqueItems":
			if arr, ok := x.([]any); ok && v == true {
				for i := range arr {
					for j := i + 1; j < len(arr); j++ {
						if sameJSON(arr[i], arr[j]) {
							c.fail(at, "items %d and %d are equal", i, j)
						}
					}
				}
			}
		case "allOf":
			for _, sub := range v.([]any) {
				c.check(sub, x, at)
			}
		case "anyOf", "oneOf":
			n := 0
			for _, sub := range v.([]any) {
				if c.passes(sub, x) {
					n++
				}
			}
			if n == 0 || (k == "oneOf" && n > 1) {
				c.fail(at, "got %s, which matches %d of the %s schemas", show(x), n, k)
			}
		case "if":
			if c.passes(v, x) {
				if then, ok := s["then"]; ok {
					c.check(then, x, at)
				}
			} else if els, ok := s["else"]; ok {
				c.check(els, x, at)
			}
		case "then", "else":
			// with "if"
		default:
			if !annotations[k] {
				c.fail(at, "the test's validator does not know keyword %q", k)
			}
		}
	}
}

func (c *schemaChecker) passes(schema any, x any) bool {
	sub := &schemaChecker{doc: c.doc}
	sub.check(schema, x, "")
	return len(sub.errs) == 0
}

func hasType(x any, t string) bool {
	switch t {
	case "object":
		_, ok := x.(map[string]any)
		return ok
	case "array":
		_, ok := x.([]any)
		return ok
	case "string":
		_, ok := x.(string)
		return ok
	case "boolean":
		_, ok := x.(bool)
		return ok
	case "null":
		return x == nil
	case "number":
		_, ok := x.(json.Number)
		return ok
	case "integer":
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

func sameJSON(a, b any) bool {
	na, aok := a.(json.Number)
	nb, bok := b.(json.Number)
	if aok && bok {
		fa, _ := na.Float64()
		fb, _ := nb.Float64()
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func show(x any) string {
	b, _ := json.Marshal(x)
	return string(b)
}

// validate checks the JSON document body against schema and returns what
// is wrong with it.
func validate(doc map[string]any, schema any, body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return []string{fmt.Sprintf("not JSON: %v", err)}
	}
	c := &schemaChecker{doc: doc}
	c.check(schema, x, "$")
	return c.errs
}

// checkAgainstDoc checks an answer against the OpenAPI document: the
// route's operation must document its status, content type and headers,
// and the body must match the schema.
func checkAgainstDoc(tb testing.TB, r response) {
	tb.Helper()
	doc := openapi(tb)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Pattern == "/" { // no route: a 404, or a 405 for a path with other methods
		if (r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed) || ct != "application/problem+json" {
			tb.Errorf("no route: got %d %s, want a 404 or 405 problem", r.Status, ct)
		}
		if r.Status == http.StatusMethodNotAllowed && r.Header.Get("Allow") == "" {
			tb.Errorf("a 405 without an Allow header")
		}
		for _, e := range validate(doc, map[string]any{"$ref": "#/components/schemas/Problem"}, r.Body) {
			tb.Errorf("catch-all problem %s: %s", r.Body, e)
		}
		return
	}
	method, path, _ := strings.Cut(r.Pattern, " ")
	item, _ := doc["paths"].(map[string]any)[path].(map[string]any)
	opn, _ := item[strings.ToLower(method)].(map[string]any)
	if opn == nil {
		tb.Errorf("%s is not in the OpenAPI document", r.Pattern)
		return
	}
	resp, _ := opn["responses"].(map[string]any)[strconv.Itoa(r.Status)].(map[string]any)
	if resp == nil {
		tb.Errorf("%s answered %d, which the OpenAPI document does not list; body %s", r.Pattern, r.Status, r.Body)
		return
	}
	resp, err := deref(doc, resp)
	if err != nil {
		tb.Fatalf("%s %d: %v", r.Pattern, r.Status, err)
	}
	if r.Header.Get("Idempotent-Replayed") != "" {
		if _, ok := resp["headers"].(map[string]any)["Idempotent-Replayed"]; !ok {
			tb.Errorf("%s %d: the document does not list the Idempotent-Replayed header", r.Pattern, r.Status)
		}
	}
	media, _ := resp["content"].(map[string]any)[ct].(map[string]any)
	if media == nil {
		tb.Errorf("%s %d: content type %q is not documented", r.Pattern, r.Status, ct)
		return
	}
	if !strings.HasSuffix(ct, "json") { // pages and CSV: the content type is the contract
		return
	}
	for _, e := range validate(doc, media["schema"], r.Body) {
		tb.Errorf("%s %d: body %s does not match the document: %s", r.Pattern, r.Status, r.Body, e)
	}
}

func TestSchemaCheckerRejects(t *testing.T) {
	t.Parallel()
	doc := openapi(t)
	tests := []struct {
		name, schema, body string
	}{
		{"credits float", "Credits", `"1.5e3"`},
		{"credits too precise", "Credits", `"1.1234567"`},
		{"credits number", "Credits", `12`},
		{"hold unknown member", "Hold", `{"id":"h","object":"hold","account_id":"a","product":"video","credits":"1","captured":"0","status":"pending","allocations":[],"metadata":{},"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:00:00Z","settled_at":null,"extra":1}`},
		{"hold missing member", "Hold", `{"id":"h","object":"hold"}`},
		{"hold bad status", "Hold", `{"id":"h","object":"hold","account_id":"a","product":"video","credits":"1","captured":"0","status":"done","allocations":[],"metadata":{},"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:00:00Z","settled_at":null}`},
		{"problem unknown code", "Problem", `{"type":"urn:tollgate:problem:nope","title":"x","status":400,"code":"nope"}`},
		{"insufficient without figures", "Problem", `{"type":"urn:tollgate:problem:insufficient_credits","title":"x","status":402,"code":"insufficient_credits"}`},
		{"bad time", "Account", `{"id":"a","object":"account","name":"n","plan":"free","timezone":"UTC","status":"active","created_at":"yesterday"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := validate(doc, map[string]any{"$ref": "#/components/schemas/" + tc.schema}, []byte(tc.body))
			if len(errs) == 0 {
				t.Errorf("got no error for %s as %s, want one", tc.body, tc.schema)
			}
		})
	}
}

// checkRequestAgainstDoc checks a request body the server accepted against
// the operation's documented request schema: the document must not refuse
// what the handler takes.
func checkRequestAgainstDoc(tb testing.TB, pattern, body string) {
	tb.Helper()
	doc := openapi(tb)
	method, path, _ := strings.Cut(pattern, " ")
	item, _ := doc["paths"].(map[string]any)[path].(map[string]any)
	opn, _ := item[strings.ToLower(method)].(map[string]any)
	rb, _ := opn["requestBody"].(map[string]any)
	media, _ := lookupPath(rb, "content", "application/json").(map[string]any)
	if strings.TrimSpace(body) == "" || media == nil {
		return
	}
	if strings.HasPrefix(path, "/v1/webhooks/") {
		return // the provider's events: described as any object
	}
	for _, e := range validate(doc, media["schema"], []byte(body)) {
		tb.Errorf("%s accepted body %s, which the document refuses: %s", pattern, body, e)
	}
}
