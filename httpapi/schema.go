package httpapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// This file turns Go types into the JSON Schemas (draft 2020-12, the
// dialect of OpenAPI 3.1) of the document at /openapi.json. The types that
// handlers decode and answer with are the schemas: there is no second
// description of a body to keep in line.
//
// A struct becomes an object that allows no other member, its members
// named by their json tags. These field tags add to a member's schema:
//
//	doc:"..."        its description
//	enum:"a,b"       the values a string may take
//	const:"x"        the one value a string takes
//	minimum:"1"      maximum:"100"    bounds of a number
//	minLength:"1"    maxLength:"40"   bounds of a string's length
//	maxItems:"16"    bounds of an array's length; uniqueItems:"true"
//	pattern:"^...$"  format:"uri"     as in JSON Schema
//	default:"20"     the value taken when the member is left out (JSON)
//	example:"12.5"   an example (JSON, else a string)
//	nullable:"true"  the member may be null (a pointer always may)
//	required:"true"  in a request, the member must be given
//
// In an answer every member without omitempty is always present, so it is
// required. A method doc() string describes the type itself.
// A type with a method schemaOf() reflect.Type is documented as
// that type; one with a method jsonSchema(*schemas) map[string]any gives its own
// schema, and one with schemaName() string its own component name.

// schemas collects the component schemas of one document.
type schemas struct {
	defs   map[string]any
	byType map[typeUse]string
	// custom gives the schema of types this package cannot add methods to.
	custom map[reflect.Type]func() (string, map[string]any)
}

// typeUse is a type in requests (in) or in answers: the two differ in
// which members are required.
type typeUse struct {
	t  reflect.Type
	in bool
}

// describer is a type that says what it is, for its schema's description.
type describer interface{ doc() string }

type schemaOwner interface{ jsonSchema(*schemas) map[string]any }
type schemaNamer interface{ schemaName() string }

// schemaAlias is an answer written as another type is: stored JSON of a
// view, or a view that can also be written as CSV.
type schemaAlias interface{ schemaOf() reflect.Type }

var (
	ownerType = reflect.TypeFor[schemaOwner]()
	namerType = reflect.TypeFor[schemaNamer]()
	aliasType = reflect.TypeFor[schemaAlias]()
	timeType  = reflect.TypeFor[time.Time]()
)

func newSchemas() *schemas {
	return &schemas{defs: map[string]any{}, byType: map[typeUse]string{}, custom: customSchemas()}
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// of returns the schema of t, a reference for named types; in says
// whether t is read from a request.
func (g *schemas) of(t reflect.Type, in bool) map[string]any {
	if f, ok := g.custom[t]; ok {
		name, s := f()
		if name == "" {
			return s
		}
		g.define(typeUse{t, false}, name, s)
		return ref(name)
	}
	if t.Kind() == reflect.Pointer {
		return nullable(g.of(t.Elem(), in))
	}
	if t.Implements(aliasType) {
		return g.of(reflect.Zero(t).Interface().(schemaAlias).schemaOf(), in)
	}
	if t.Implements(ownerType) {
		name := schemaNameOf(t)
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // placeholder: the schema may refer to itself
			g.define(typeUse{t, false}, name, reflect.Zero(t).Interface().(schemaOwner).jsonSchema(g))
		}
		return ref(name)
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t, in)
		}
		u := typeUse{t, in}
		if name, ok := g.byType[u]; ok {
			return ref(name)
		}
		name := schemaNameOf(t)
		if in && !strings.HasSuffix(name, "Request") {
			name += "Input" // its required members are not an answer's
		}
		g.byType[u] = name
		g.defs[name] = nil
		g.define(u, name, g.object(t, in))
		return ref(name)
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.of(t.Elem(), in)}
	case reflect.Map:
		s := map[string]any{"type": "object", "additionalProperties": g.of(t.Elem(), in)}
		if t.Key() != reflect.TypeFor[string]() {
			s["propertyNames"] = g.of(t.Key(), in)
		}
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Int, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64: // measurements such as durations; never money
		return map[string]any{"type": "number"}
	}
	panic(fmt.Sprintf("httpapi: no JSON Schema for %s", t))
}

// define stores a component, refusing two different schemas under one
// name: two Go types must not share a name in the document.
func (g *schemas) define(u typeUse, name string, s map[string]any) {
	if old, ok := g.defs[name]; ok && old != nil && !reflect.DeepEqual(old, any(s)) {
		panic(fmt.Sprintf("httpapi: two schemas are named %s (%s); give one a schemaName", name, u.t))
	}
	g.defs[name] = s
}

// schemaNameOf names a type's component: its schemaName, else its Go name
// with a capital and without a View suffix; a list of X is XList.
func schemaNameOf(t reflect.Type) string {
	if t.Implements(namerType) {
		return reflect.Zero(t).Interface().(schemaNamer).schemaName()
	}
	if name, ok := otherNames[t]; ok {
		return name
	}
	name := t.Name()
	if base, arg, ok := strings.Cut(name, "["); ok {
		elem := strings.TrimSuffix(arg[strings.LastIndex(arg, ".")+1:], "]")
		name = strings.TrimSuffix(elem, "View") + strings.TrimSuffix(base, "View")
		name = strings.Replace(name, "list", "List", 1)
	}
	name = strings.TrimSuffix(name, "View")
	r := []rune(name)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// object is a struct's schema.
func (g *schemas) object(t reflect.Type, in bool) map[string]any {
	props := map[string]any{}
	var required []string
	s := map[string]any{"type": "object", "additionalProperties": false}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if !in && strings.Contains(opts, "omitempty") && f.Type.Kind() == reflect.Pointer {
				f.Type = f.Type.Elem() // left out, never null
			}
			props[name] = g.member(f, in)
			if in && f.Tag.Get("required") == "true" || !in && !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	if d, ok := reflect.Zero(t).Interface().(describer); ok {
		s["description"] = d.doc()
	}
	s["properties"] = props
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// member is a struct field's schema with what its tags add.
func (g *schemas) member(f reflect.StructField, in bool) map[string]any {
	s := g.of(f.Type, in)
	if _, isRef := s["$ref"]; isRef {
		s = map[string]any{"$ref": s["$ref"]} // a copy: siblings describe this use only
	} else {
		s = clone(s)
	}
	tags := f.Tag
	if v := tags.Get("doc"); v != "" {
		s["description"] = v
	}
	if v := tags.Get("enum"); v != "" {
		var vs []any
		for _, e := range strings.Split(v, ",") {
			vs = append(vs, e)
		}
		if f.Type.Kind() == reflect.Pointer {
			vs = append(vs, nil)
		}
		s["enum"] = vs
	}
	if v := tags.Get("const"); v != "" {
		if f.Type.Kind() == reflect.String {
			s["const"] = v
		} else {
			s["const"] = jsonValue(v)
		}
	}
	if tags.Get("uniqueItems") == "true" {
		s["uniqueItems"] = true
	}
	for _, k := range []string{"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties"} {
		if v := tags.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("httpapi: %s of %s is not a number: %q", k, f.Name, v))
			}
			s[k] = n
		}
	}
	for _, k := range []string{"pattern", "format"} {
		if v := tags.Get(k); v != "" {
			s[k] = v
		}
	}
	if v, ok := tags.Lookup("default"); ok {
		s["default"] = jsonValue(v)
	}
	if v, ok := tags.Lookup("example"); ok {
		s["examples"] = []any{jsonValue(v)}
	}
	if tags.Get("nullable") == "true" {
		s = nullable(s)
	}
	return s
}

// jsonValue reads a tag's value as JSON, else as a string.
func jsonValue(v string) any {
	var x any
	if json.Unmarshal([]byte(v), &x) != nil {
		return v
	}
	return x
}

// nullable adds null to the values s allows.
func nullable(s map[string]any) map[string]any {
	switch t := s["type"].(type) {
	case string:
		s = clone(s)
		s["type"] = []any{t, "null"}
		return s
	case []any:
		return s
	}
	if _, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{map[string]any{"$ref": s["$ref"]}, map[string]any{"type": "null"}}}
	}
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if m, ok := a.(map[string]any); ok && m["type"] == "null" {
				return s
			}
		}
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func clone(s map[string]any) map[string]any {
	c := make(map[string]any, len(s)+2)
	for k, v := range s {
		c[k] = v
	}
	return c
}
