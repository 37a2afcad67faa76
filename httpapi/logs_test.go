package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"tollgate/ledger"
)

// TestLogsCarryRequestID: a record logged with a request's context names
// the request (its X-Request-Id), through With too; one logged outside a
// request names none.
func TestLogsCarryRequestID(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log := slog.New(requestIDs{slog.NewTextHandler(&b, nil)})
	ctx := ledger.WithActor(context.Background(), ledger.Actor{Kind: ledger.ActorSystem, RequestID: "req_42"})
	log.ErrorContext(ctx, "failed")
	log.With("k", "v").WarnContext(ctx, "refused")
	log.Info("background")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "request_id=req_42") || !strings.Contains(lines[1], "request_id=req_42") ||
		!strings.Contains(lines[1], "k=v") || strings.Contains(lines[2], "request_id") {
		t.Errorf("logs:\n%s", b.String())
	}
}
