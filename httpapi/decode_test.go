package httpapi

import (
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
