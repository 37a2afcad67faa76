package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"tollgate"
	"tollgate/ledger"
	"tollgate/store"
	"tollgate/store/sqlite"
)

// TestVerifyNamesViolations corrupts a grant behind the ledger's back and
// checks that verify names it and fails.
func TestVerifyNamesViolations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(s, ledger.Options{})
	if _, err := l.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAccount(ctx, ledger.AccountParams{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	g, err := l.Grant(ctx, ledger.GrantParams{AccountID: "a", Credits: tollgate.WholeCredits(5)})
	if err != nil {
		t.Fatal(err)
	}
	l.Stop()

	run := func() (string, error) {
		var out bytes.Buffer
		cmd := verifyCmd()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--database-url", "sqlite:" + path})
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "0 violations") {
		t.Fatalf("clean database: %v\n%s", err, out)
	}
	// Two credits appear from nowhere.
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g.ID, Remaining: tollgate.WholeCredits(7)}}})
	})
	if err == nil {
		t.Fatal("the store accepted a remainder above the grant's amount")
	}
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Writes{GrantUpdates: []store.GrantUpdate{{ID: g.ID, Remaining: tollgate.WholeCredits(3)}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if err == nil {
		t.Fatalf("verify passed a corrupt database:\n%s", out)
	}
	if want := "grant " + g.ID + ": remaining is 3 but the journal says 5"; !strings.Contains(out, want) {
		t.Fatalf("verify output lacks %q:\n%s", want, out)
	}
}
