package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestOpenAPICommand prints the document a server serves, whole.
func TestOpenAPICommand(t *testing.T) {
	t.Parallel()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"openapi"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("the output is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths["/v1/holds"] == nil {
		t.Errorf("got openapi %q with %d paths, want 3.1.0 with /v1/holds", doc.OpenAPI, len(doc.Paths))
	}
}
