// Command tollgate runs Tollgate: serve runs the API, migrate applies the
// schema, verify recomputes every balance from the journal, and bench
// measures the running system. It is the only place that wires stores, the
// ledger and the HTTP API together.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"tollgate/store"
	"tollgate/store/postgres"
	"tollgate/store/sqlite"
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

// openStore opens (and migrates) the store the configuration names.
func openStore(ctx context.Context, c *config, log *slog.Logger) (store.Store, error) {
	u := c.dbURL
	if u == "" {
		u = "sqlite:" + filepath.Join(c.dataDir, "tollgate.db")
	}
	var s store.Store
	var err error
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		s, err = postgres.Open(ctx, u)
	default:
		path := strings.TrimPrefix(u, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		s, err = sqlite.Open(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w (check TOLLGATE_DATABASE_URL)", err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if log != nil {
		log.Info("database ready", "store", s.Kind(), "url", redact(u))
	}
	return s, nil
}

// redact hides a password in a database URL.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.Index(u[i+3:], "@"); at >= 0 {
			cred := u[i+3 : i+3+at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				return u[:i+3] + user + ":***" + u[i+3+at:]
			}
		}
	}
	return u
}

func migrateCmd() *cobra.Command {
	c := &config{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema (serve does it too)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd.Context(), c, nil)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s database is up to date\n", s.Kind())
			return nil
		},
	}
	c.bind(cmd)
	return cmd
}
