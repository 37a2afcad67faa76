package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"tollgate/store/record"

	"tollgate"
)

// TestProblemForDatabaseFailures: a database that cannot be reached is a
// 503 unavailable saying nothing changed, a commit whose answer was lost a
// 503 outcome_unknown; both say when to retry.
func TestProblemForDatabaseFailures(t *testing.T) {
	t.Parallel()
	s := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cases := []struct {
		err        error
		code       tollgate.Code
		retryAfter string
	}{
		{fmt.Errorf("read: %w: %w", record.ErrUnavailable, errors.New("connection refused")), tollgate.CodeUnavailable, "1"},
		{fmt.Errorf("commit: %w: %w", record.ErrCommitUnknown, errors.New("EOF")), tollgate.CodeOutcomeUnknown, "2"},
		{tollgate.Errorf(tollgate.CodeOutcomeUnknown, "not known"), tollgate.CodeOutcomeUnknown, "2"},
		{errors.New("boom"), tollgate.CodeInternal, ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		s.problem(w, httptest.NewRequest("POST", "/v1/holds", nil), c.err)
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		want := statusOf[c.code]
		if w.Code != want || p.Code != c.code || w.Header().Get("Retry-After") != c.retryAfter {
			t.Errorf("%v: got %d %s Retry-After %q, want %d %s Retry-After %q", c.err, w.Code, p.Code, w.Header().Get("Retry-After"), want, c.code, c.retryAfter)
		}
		if c.code != tollgate.CodeInternal && p.Detail == "" {
			t.Errorf("%v: the problem says nothing about what to do", c.err)
		}
	}
}
