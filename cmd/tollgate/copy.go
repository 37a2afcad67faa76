package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tollgate/ledger"
	"tollgate/store/dial"
	"tollgate/store/postgres"
	"tollgate/store/sqlite"
	"tollgate/store/transfer"
)

func copyCmd() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy --from sqlite:PATH --to postgres://...",
		Short: "Move a stopped SQLite installation into an empty PostgreSQL database, and compare both",
		Long: `copy reads every table of a SQLite database that no serve is running on and
writes it into an empty PostgreSQL database (migrated first), in one
transaction: a copy that fails leaves it empty. Then it compares the two:
rows per table, verify on each, and every account's balance. Point serve at
the PostgreSQL database (TOLLGATE_DATABASE_URL) once it says they match; keep
the SQLite file until then.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return errors.New("give --from sqlite:PATH and --to postgres://USER@HOST/DB")
			}
			return copyToPostgres(cmd.Context(), from, to, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the SQLite database: sqlite:PATH or a path")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database: postgres://...")
	return cmd
}

func copyToPostgres(ctx context.Context, from, to string, w io.Writer) (err error) {
	if dial.IsPostgres(from) || !dial.IsPostgres(to) {
		return errors.New("copy goes from SQLite (--from sqlite:PATH) to PostgreSQL (--to postgres://...)")
	}
	path := strings.TrimPrefix(strings.TrimPrefix(from, "sqlite:"), "//")
	if busy, err := sqlite.InUse(path); err != nil {
		return err
	} else if busy {
		return fmt.Errorf("%s is in use by a running tollgate serve: stop it first, so that nothing is written during the copy", path)
	}
	if _, err := sqlite.Check(ctx, path); err != nil {
		return err
	}
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, src.Close()) }()
	if err := src.LockExclusive(); err != nil { // no serve may start on it meanwhile
		return err
	}
	dst, err := postgres.Open(ctx, to)
	if err != nil {
		return dbError(err)
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	if err := dst.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate the PostgreSQL database: %w", err)
	}
	plan, err := transfer.Plan(ctx, src, dst)
	if err != nil {
		return err
	}
	out := &printer{w: w}
	start := time.Now()
	plan, err = transfer.Copy(ctx, src, dst, plan, func(t transfer.Table) {
		out.printf("copied %-18s %10d rows  (%s)\n", t.Name, t.Copied, time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return out.done(err)
	}
	out.printf("copy: %d tables in %s; rows match on both sides\n", len(plan), time.Since(start).Round(time.Millisecond))

	// Compare what the ledger makes of each side.
	a, b := ledger.New(src, ledger.Options{}), ledger.New(dst, ledger.Options{})
	for name, l := range map[string]*ledger.Ledger{"sqlite": a, "postgres": b} {
		r, err := l.Verify(ctx)
		if err != nil {
			return out.done(fmt.Errorf("verify %s: %w", name, err))
		}
		if len(r.Violations) > 0 {
			return out.done(fmt.Errorf("verify %s found %d violations, the first: %s", name, len(r.Violations), r.Violations[0]))
		}
	}
	n, err := compareBalances(ctx, a, b)
	if err != nil {
		return out.done(err)
	}
	out.printf("copy: verify clean on both; %d accounts' balances equal. Point TOLLGATE_DATABASE_URL at the PostgreSQL database and start serve\n", n)
	return out.done(nil)
}

// compareBalances compares every account's balance as both ledgers see it.
func compareBalances(ctx context.Context, a, b *ledger.Ledger) (int, error) {
	n, cursor := 0, ""
	for {
		as, err := a.Accounts(ctx, cursor, 500)
		if err != nil {
			return n, err
		}
		for _, acct := range as {
			x, err := a.Balance(ctx, acct.ID)
			if err != nil {
				return n, err
			}
			y, err := b.Balance(ctx, acct.ID)
			if err != nil {
				return n, fmt.Errorf("account %s is not in PostgreSQL: %w", acct.ID, err)
			}
			if x.Available != y.Available || x.Held != y.Held || x.Frozen != y.Frozen {
				return n, fmt.Errorf("account %s: SQLite has %s available, %s held, %s frozen; PostgreSQL %s, %s, %s",
					acct.ID, x.Available, x.Held, x.Frozen, y.Available, y.Held, y.Frozen)
			}
			n++
		}
		if len(as) < 500 {
			return n, nil
		}
		cursor = as[len(as)-1].ID
	}
}
