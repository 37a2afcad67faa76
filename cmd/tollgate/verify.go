package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"tollgate/ledger"
	"tollgate/store/dial"
)

func verifyCmd() *cobra.Command {
	c := newConfig()
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute every balance from the journal and check every invariant",
		Long: `verify reads one snapshot of the database and checks that every journal
transaction sums to zero, that every grant's remainder and held credits equal
what the journal says, that no grant is negative or over its amount, and that
every hold's allocations add up and it captured no more than it held. It
names each violation and exits non-zero if there is any.`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := c.check(); err != nil {
				return err
			}
			s, err := dial.Open(cmd.Context(), c.databaseURL())
			if err != nil {
				return dbError(err)
			}
			defer closeStore(s, &err)
			l := ledger.New(s, ledger.Options{})
			r, err := l.Verify(cmd.Context())
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			return printReport(cmd, r)
		},
	}
	c.bind(cmd)
	return cmd
}

func printReport(cmd *cobra.Command, r ledger.Report) error {
	out := &printer{w: cmd.OutOrStdout()}
	for _, v := range r.Violations {
		out.printf("VIOLATION %s\n", v)
	}
	out.printf("verify: %d accounts, %d grants, %d holds checked; %d violations\n",
		r.Accounts, r.Grants, r.Holds, len(r.Violations))
	if len(r.Violations) > 0 {
		return out.done(fmt.Errorf("verify found %d violations", len(r.Violations)))
	}
	return out.done(nil)
}
