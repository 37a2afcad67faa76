// Command tollgate runs Tollgate: serve runs the API, migrate applies the
// schema, verify recomputes every balance from the journal, and bench
// measures the running system. It is the only place that wires stores, the
// ledger and the HTTP API together.
package main

import (
	"fmt"
	"os"
	"tollgate/store/dial"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "Sell, meter and route AI generation with a credit ledger",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(serveCmd(), migrateCmd(), verifyCmd(), benchCmd())
	return root
}

func migrateCmd() *cobra.Command {
	c := newConfig()
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema (serve does it too)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.check(); err != nil {
				return err
			}
			s, err := dial.Open(cmd.Context(), c.databaseURL())
			if err != nil {
				return dbError(err)
			}
			defer s.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s database is up to date\n", s.Kind())
			return nil
		},
	}
	c.bind(cmd)
	return cmd
}
