package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
)

// hangingStore is a store whose next hang write transactions wait for their
// context to end before doing anything: a database that stopped answering.
type hangingStore struct {
	store.Store
	hang atomic.Int64
}

func (s *hangingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	if s.hang.Add(-1) >= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Store.Write(ctx, fn)
}

func openLedger(t *testing.T, wrap func(store.Store) store.Store, opt ledger.Options) *ledger.Ledger {
	t.Helper()
	ctx := context.Background()
	s := openSQLite(t)
	if wrap != nil {
		s = wrap(s)
	}
	l := ledger.New(s, opt)
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBatchDeadline: a batch whose database hangs fails at its deadline and
// is applied again; the caller gets the answer of the attempt that worked,
// and the write is there once.
func TestBatchDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hs := &hangingStore{}
	l := openLedger(t, func(s store.Store) store.Store { hs.Store = s; return hs }, ledger.Options{BatchTimeout: 100 * time.Millisecond})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	hs.hang.Store(2) // the next two batches hang
	start := time.Now()
	g, err := l.Grant(ctx, ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(5), Source: tollgate.SourceAdmin})
	if err != nil {
		t.Fatalf("grant after two hung batches: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("the grant took %v: the hung batches did not wait for their deadline", took)
	}
	gs, err := l.Grants(ctx, ledger.GrantListParams{AccountID: "a", Source: tollgate.SourceAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("got grants %+v, want only %s", gs, g.ID)
	}
}

// TestStartContext: the context given to Start stops the ledger when it
// ends, as Stop does; later writes are refused as unavailable.
func TestStartContext(t *testing.T) {
	t.Parallel()
	l := openLedger(t, nil, ledger.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAccount(context.Background(), ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := l.Grant(context.Background(), ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(1), Source: tollgate.SourceAdmin})
		if tollgate.ErrorCode(err) == tollgate.CodeUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after Start's context ended, a grant got %v; want unavailable", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Stop() // safe after the context stopped it
}
