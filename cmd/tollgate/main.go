// Command tollgate runs Tollgate: serve runs the API, migrate applies the
// schema, verify recomputes every balance from the journal, and bench
// measures the running system. It is the only place that wires stores, the
// ledger and the HTTP API together.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"tollgate/store/dial"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}

// config is what every subcommand reads from flags or the environment.
type config struct {
	addr       string
	dataDir    string
	dbURL      string
	adminKey   string
	publicURL  string
	catalog    string
	noticeDays int
	// trustedProxies lists the networks whose forwarded host and scheme
	// are believed, comma-separated.
	trustedProxies string
	// allowPrivateWebhooks lets webhook endpoints reach private addresses.
	allowPrivateWebhooks bool
	maxConns             int  // open connections at most; 0: the default
	demo                 bool // demo mode asked for (TOLLGATE_DEMO, --demo)
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *config) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", env("TOLLGATE_DATA_DIR", "./data"), "directory for the SQLite file and stored videos (TOLLGATE_DATA_DIR)")
	f.StringVar(&c.dbURL, "database-url", env("TOLLGATE_DATABASE_URL", ""), "sqlite:PATH, a file path, or postgres://... (TOLLGATE_DATABASE_URL; default sqlite:$DATA_DIR/tollgate.db)")
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

// databaseURL is the database the configuration names.
func (c *config) databaseURL() string {
	if c.dbURL != "" {
		return c.dbURL
	}
	return "sqlite:" + filepath.Join(c.dataDir, "tollgate.db")
}

// dbError says where to look when the database cannot be opened.
func dbError(err error) error { return fmt.Errorf("%w (check TOLLGATE_DATABASE_URL)", err) }

func migrateCmd() *cobra.Command {
	c := &config{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema (serve does it too)",
		RunE: func(cmd *cobra.Command, args []string) error {
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
