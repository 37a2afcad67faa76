// Command tollgate runs Tollgate: serve runs the API, migrate applies the
// schema, verify recomputes every balance from the journal, and bench
// measures the running system. It is the only place that wires stores, the
// ledger and the HTTP API together.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"tollgate/httpapi"
	"tollgate/store/dial"

	"github.com/spf13/cobra"
)

// gcPercent is the garbage collector's target when GOGC is not set: the
// heap may grow four times past what is live before a collection, instead
// of Go's once. The server's live heap is small; collecting a quarter as
// often gave 16% more holds a second on SQLite and 6% on PostgreSQL, for
// 24 to 44 MB more resident memory (docs/PERFORMANCE.md). GOGC and
// GOMEMLIMIT still rule when set.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
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
	root.AddCommand(serveCmd(), migrateCmd(), verifyCmd(), benchCmd(), openapiCmd(), backupCmd(), restoreCmd(), copyCmd())
	return root
}

func openapiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "openapi",
		Short: "Print the API's OpenAPI 3.1 document, as served at /openapi.json (for generating clients)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := &printer{w: cmd.OutOrStdout()}
			out.printf("%s\n", httpapi.OpenAPI())
			return out.done(nil)
		},
	}
}

func migrateCmd() *cobra.Command {
	c := newConfig()
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema (serve does it too); --dry-run lists what would run",
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := c.check(); err != nil {
				return err
			}
			out := &printer{w: cmd.OutOrStdout()}
			if dryRun {
				s, err := dial.OpenOnly(cmd.Context(), c.databaseURL())
				if err != nil {
					return dbError(err)
				}
				defer closeStore(s, &err)
				st, err := s.Schema(cmd.Context())
				if err != nil {
					return err
				}
				out.printf("%s database: %d migrations applied, %d to apply\n", s.Kind(), len(st.Applied), len(st.Pending))
				for _, v := range st.Pending {
					out.printf("would apply %s\n", v)
				}
				if err := st.Compatible(); err != nil {
					return out.done(err)
				}
				return out.done(nil)
			}
			s, err := dial.Open(cmd.Context(), c.databaseURL())
			if err != nil {
				return dbError(err)
			}
			defer closeStore(s, &err)
			out.printf("%s database is up to date\n", s.Kind())
			return out.done(nil)
		},
	}
	c.bind(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the migrations that would run, and change nothing")
	return cmd
}

// printer writes a command's report to its output. A report is many
// lines, and a write that fails (a closed pipe, a full disk) is as likely
// to fail the next ones: printer keeps the first error, for the command to
// check once, when it is done.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if _, err := fmt.Fprintf(p.w, format, args...); err != nil && p.err == nil {
		p.err = err
	}
}

// done returns err, with the first write error, if any, joined to it.
func (p *printer) done(err error) error {
	if p.err != nil {
		return errors.Join(err, fmt.Errorf("write output: %w", p.err))
	}
	return err
}

// closeStore closes s, a store a command opened, and joins the error of
// Close, if any, to *err: to be deferred by a function whose error result
// is named err. Closing may flush what the command wrote.
func closeStore(s io.Closer, err *error) {
	if cerr := s.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("close database: %w", cerr))
	}
}
