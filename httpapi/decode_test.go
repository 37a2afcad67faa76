package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"tollgate"
)

// TestDecodeStrict: what encoding/json would let through, decode refuses
// on purpose, with the code a client can act on.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	type req struct {
		Credits  amount            `json:"credits"`
		Metadata map[string]string `json:"metadata"`
		List     []string          `json:"list"`
	}
	for _, c := range []struct {
		body string
		code tollgate.Code
	}{
		{`{"\u0063redits":"1"}`, ""},                        // an escape spelling the exact name is that name
		{`{"\u0043redits":"1"}`, tollgate.CodeUnknownField}, // "Credits": case folded by encoding/json
		{`{"credits":"1","credits":"2"}`, tollgate.CodeMalformedJSON},
		{`{"metadata":{"a":"1","a":"2"}}`, tollgate.CodeMalformedJSON},
		{`{"list":[{"a":1},"a"],"metadata":{"a":"x"}}`, tollgate.CodeInvalidField}, // an object in a list of strings
		{`{"list":["a","a"]}`, ""},                                                 // an array may repeat values
		{"{\"metadata\":{\"a\":\"\xff\"}}", tollgate.CodeMalformedJSON},
		{`{"credits":"+1"}`, ""}, {`{"credits":".5"}`, ""}, {`{"credits":"007"}`, ""}, // refused by credits(), below
		{`{"credits":"0.5"}`, ""}, {`{"credits":-1}`, ""},
	} {
		var r req
		err := decode([]byte(c.body), &r, false)
		if got := tollgate.ErrorCode(err); got != c.code {
			t.Errorf("%s: got %v (code %q), want code %q", c.body, err, got, c.code)
		}
	}
	for _, raw := range []string{`"+1"`, `".5"`, `"007"`, `"-.5"`, `"1."`, `"00.5"`} {
		var a amount
		if err := a.UnmarshalJSON([]byte(raw)); err != nil { // a bad amount is kept in a.err, for credits to report
			t.Fatalf("amount %s: UnmarshalJSON: %v", raw, err)
		}
		if _, err := credits("credits", a); tollgate.ErrorCode(err) != tollgate.CodeInvalidField {
			t.Errorf("amount %s: got %v, want invalid_field", raw, err)
		}
	}
	for _, raw := range []string{`"0.5"`, `"12"`, `"0"`, `1.5`, `"1000000000"`} {
		var a amount
		if err := a.UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatalf("amount %s: UnmarshalJSON: %v", raw, err)
		}
		if a.err != nil {
			t.Errorf("amount %s: got %v, want it accepted", raw, a.err)
		}
	}
}

// noDuplicatesByTokens is the plain way to find a member given twice,
// through encoding/json's tokens: the reference noDuplicates' scanner is
// checked against.
func noDuplicatesByTokens(body []byte) (dup string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type object struct {
		seen   map[string]bool
		expect bool
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		inObject := top != nil && top.seen != nil
		if inObject && top.expect {
			if name, ok := tok.(string); ok {
				if top.seen[name] {
					return name, true
				}
				top.seen[name], top.expect = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if inObject {
				top.expect = true
			}
			stack = append(stack, &object{seen: map[string]bool{}, expect: true})
		case json.Delim('['):
			if inObject {
				top.expect = true
			}
			stack = append(stack, &object{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if inObject {
				top.expect = true
			}
		}
	}
}

// manyMembers is an object of n members named m0, m1...; with dup, the
// last repeats the first.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		name := fmt.Sprintf("m%d", i)
		if dup && i == n-1 {
			name = "m0"
		}
		fmt.Fprintf(&b, "%q:{\"x\":[1,\"y\",{\"m0\":true}]}", name)
	}
	return b.String() + "}"
}

// FuzzNoDuplicates: on any body that is valid JSON, noDuplicates finds a
// member given twice exactly when encoding/json's tokens show one, and
// names the same member.
func FuzzNoDuplicates(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":2}]}`, `{"\u0061":1,"a":2}`,
		`{"a\"b":1,"a\"b":2}`, `[{"a":1,"a":1}]`, `{"a":"}","a":"{"}`, `{"a":1,"b":{"a":2},"c":[1,2,{"a":3,"c":4}]}`,
		`{"k":null,"l":true,"k":false}`, `{"a":-1.5e3,"a":1}`, `{"":1,"":2}`, manyMembers(20, false), manyMembers(40, true)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := noDuplicates(body)
		if !json.Valid(body) {
			return // malformed: Decode reports it, whatever noDuplicates says
		}
		name, dup := noDuplicatesByTokens(body)
		var te *tollgate.Error
		switch {
		case dup && (!errors.As(err, &te) || te.Field != name):
			t.Fatalf("%q: member %q is given twice; noDuplicates says %v", body, name, err)
		case !dup && err != nil:
			t.Fatalf("%q: no member is given twice; noDuplicates says %v", body, err)
		}
	})
}

// TestNoDuplicatesAllocates: a request body without escapes and with few
// members per object is checked without allocating.
func TestNoDuplicatesAllocates(t *testing.T) {
	body := []byte(`{"account_id":"acct_1","product":"video","credits":"1","metadata":{"job":"a","scene":"b"},"ttl_seconds":60}`)
	if n := testing.AllocsPerRun(100, func() {
		if err := noDuplicates(body); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("noDuplicates allocated %.0f times a body; want none", n)
	}
	for _, c := range []struct {
		body string
		dup  bool
	}{{manyMembers(17, false), false}, {manyMembers(300, true), true}, {manyMembers(18, true), true}} {
		if err := noDuplicates([]byte(c.body)); (err != nil) != c.dup {
			t.Errorf("%d-byte body, duplicate %v: got %v", len(c.body), c.dup, err)
		}
	}
}
