package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/spf13/cobra"

	"tollgate"
	"tollgate/ledger"
)

// config is every setting of every subcommand, read in one place: the
// environment (TOLLGATE_*) first, then flags, which win. check refuses bad
// values before anything is opened.
type config struct {
	Addr        string `env:"ADDR" envDefault:"127.0.0.1:8080"`
	DataDir     string `env:"DATA_DIR" envDefault:"./data"`
	DatabaseURL string `env:"DATABASE_URL"`
	AdminKey    string `env:"ADMIN_KEY"`
	PublicURL   string `env:"PUBLIC_URL"`
	Catalog     string `env:"CATALOG"`
	NoticeDays  int    `env:"NOTICE_DAYS" envDefault:"14"`
	// TrustedProxies lists the networks whose forwarded host and scheme
	// are believed, comma-separated.
	TrustedProxies string `env:"TRUSTED_PROXIES"`
	// AllowPrivateWebhooks lets webhook endpoints reach private addresses.
	AllowPrivateWebhooks bool         `env:"WEBHOOKS_ALLOW_PRIVATE"`
	MaxConns             int          `env:"MAX_CONNS"` // open connections at most; 0: the default
	Demo                 bool         `env:"DEMO"`      // demo mode asked for
	Stripe               stripeConfig `envPrefix:"STRIPE_"`
	// ReplicaURL is where serve streams the SQLite database (Litestream):
	// file:///dir or s3://bucket/path; empty: no replica.
	ReplicaURL string `env:"REPLICA_URL"`
	// SQLiteMaxMB caps the SQLite database's size, in MB (10^6 bytes); 0:
	// no cap but the disk's.
	SQLiteMaxMB int64 `env:"SQLITE_MAX_MB"`
	// VerifyEvery is how often serve runs verify in the background; 0
	// turns it off.
	VerifyEvery time.Duration `env:"VERIFY_EVERY" envDefault:"1h"`
	// Drain is how long serve, told to stop, answers /readyz with 503
	// before it stops taking requests: time for a load balancer to notice.
	Drain time.Duration `env:"DRAIN" envDefault:"0s"`
	// LocalRenderTime is how long the local renderer takes per video.
	LocalRenderTime time.Duration `env:"LOCAL_RENDER_TIME" envDefault:"3s"`
	// RoyaltyTakeBPS is the platform's take of each cameo fee, in basis
	// points (2000: 20%).
	RoyaltyTakeBPS int `env:"ROYALTY_TAKE_BPS" envDefault:"2000"`
	// LikenessToOpenAI lets videos showing a real person's likeness go to
	// the provider named openai.
	LikenessToOpenAI bool `env:"LIKENESS_TO_OPENAI" envDefault:"false"`
	// CameoFeeNotice is how far ahead a raise of a cameo's fee applies.
	CameoFeeNotice time.Duration `env:"CAMEO_FEE_NOTICE" envDefault:"336h"`
	// VideoRetention is how long a completed video's content is kept.
	VideoRetention time.Duration `env:"VIDEO_RETENTION" envDefault:"168h"`
	// VideoPollEvery is how often a running video is polled at its provider.
	VideoPollEvery time.Duration `env:"VIDEO_POLL_EVERY" envDefault:"2s"`
	// OpenAI is OpenAI's videos API, or an upstream that speaks it; on
	// when its key is set.
	OpenAIKey     string `env:"OPENAI_API_KEY"`
	OpenAIBaseURL string `env:"OPENAI_BASE_URL"`
	// OpenAIUpstreams are more OpenAI-compatible upstreams:
	// "name=https://host/v1,other=https://...", each with its key in
	// TOLLGATE_OPENAI_UPSTREAM_KEY_<NAME> (upper case, - as _).
	OpenAIUpstreams string `env:"OPENAI_UPSTREAMS"`
	// OpenAIWebhookSecret verifies the openai provider's webhooks (an
	// upstream's: TOLLGATE_OPENAI_UPSTREAM_WEBHOOK_SECRET_<NAME>).
	OpenAIWebhookSecret string `env:"OPENAI_WEBHOOK_SECRET"`
	// Runway is Runway's API; on when its key is set.
	RunwayKey     string `env:"RUNWAY_API_KEY"`
	RunwayBaseURL string `env:"RUNWAY_BASE_URL"`
	// Luma is Luma's Dream Machine API; on when its key is set. With
	// TOLLGATE_PUBLIC_URL, Luma calls back and reconciliation is exact.
	LumaKey     string `env:"LUMA_API_KEY"`
	LumaBaseURL string `env:"LUMA_BASE_URL"`
	// Replicate is Replicate's predictions API; on when its token is set.
	// With TOLLGATE_PUBLIC_URL, Replicate sends webhooks (verified with
	// TOLLGATE_REPLICATE_WEBHOOK_SECRET, else the secret its API gives) and
	// reconciliation is exact.
	ReplicateToken         string `env:"REPLICATE_API_TOKEN"`
	ReplicateBaseURL       string `env:"REPLICATE_BASE_URL"`
	ReplicateWebhookSecret string `env:"REPLICATE_WEBHOOK_SECRET"`
	// Veo is Google's Veo through the Gemini API (provider veo); on when
	// its key is set.
	GeminiKey     string `env:"GEMINI_API_KEY"`
	GeminiBaseURL string `env:"GEMINI_BASE_URL"`
	// fal is fal's queue API (Kling, Pika, MiniMax, Veo as fal models); on
	// when its key is set. With TOLLGATE_PUBLIC_URL, fal sends webhooks,
	// verified with the keys of TOLLGATE_FAL_JWKS_URL.
	FalKey      string `env:"FAL_KEY"`
	FalQueueURL string `env:"FAL_QUEUE_URL"`
	FalAPIURL   string `env:"FAL_API_URL"`
	FalJWKSURL  string `env:"FAL_JWKS_URL"`
	// VideoLease is how long a claimed job step may run before another
	// instance takes it over (an instance that died holds its jobs that
	// long, on PostgreSQL).
	VideoLease time.Duration `env:"VIDEO_LEASE" envDefault:"2m"`
	// VideoRetryRefused sends a video a provider refused on content
	// policy to the next candidate instead of failing it.
	VideoRetryRefused bool `env:"VIDEO_RETRY_REFUSED"`
	// CatalogReload is how often the catalog file is looked at for
	// changes; 0 only on SIGHUP.
	CatalogReload time.Duration `env:"CATALOG_RELOAD" envDefault:"10s"`

	// Committers is how many batches the ledger commits at once on
	// PostgreSQL (SQLite has one writer); 0: the store's default.
	Committers int `env:"COMMITTERS"`
	// AccountReads is how many reads of one account run at once in this
	// process; 0: ledger.DefaultAccountReads.
	AccountReads int `env:"ACCOUNT_READS"`

	noVideoRunner bool // bench --videos: jobs are made, not run

	envErr  error          // what reading the environment refused
	proxies []netip.Prefix // TrustedProxies, parsed by check
	admins  []string       // AdminKey, split by check
}

// stripeConfig is how serve reaches Stripe; empty sells through the
// development checkout (on loopback or in demo mode) or not at all.
type stripeConfig struct {
	SecretKey     string `env:"SECRET_KEY"`
	WebhookSecret string `env:"WEBHOOK_SECRET"`
	APIURL        string `env:"API_URL"` // Stripe's API; set for stripe-mock
	// Tax turns on Stripe Tax (automatic tax) on every checkout.
	Tax bool `env:"TAX"`
	// TaxInclusive lists the currencies whose prices include tax (eur,idr).
	TaxInclusive []string `env:"TAX_INCLUSIVE" envSeparator:","`
	// Invoices: Stripe makes an invoice for each pack bought.
	Invoices bool `env:"INVOICES"`
	// Grace is how long a subscription whose renewal is unpaid keeps its
	// plan.
	Grace time.Duration `env:"SUBSCRIPTION_GRACE" envDefault:"168h"`
}

// newConfig reads the environment. A value it cannot parse is kept in the
// config and refused by check, so that the command fails saying which.
func newConfig() *config {
	c := &config{}
	c.envErr = envError(env.ParseWithOptions(c, env.Options{Prefix: envPrefix}))
	return c
}

const envPrefix = "TOLLGATE_"

// envError names the variables the environment got wrong and what they
// hold, rather than the fields they fill.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			errs = append(errs, e)
			continue
		}
		name := envPrefix + envName(reflect.TypeFor[config](), pe.Name)
		want := "a whole number"
		switch {
		case pe.Type == reflect.TypeFor[time.Duration]():
			want = "a duration such as 72h or 30m"
		case pe.Type.Kind() == reflect.Bool:
			want = "true or false (1 or 0)"
		}
		errs = append(errs, fmt.Errorf("%s is %q; it must be %s", name, os.Getenv(name), want))
	}
	return errors.Join(errs...)
}

// envName is the variable (without TOLLGATE_) of config field field of t,
// looked for in t and in the structs it nests under an envPrefix.
func envName(t reflect.Type, field string) string {
	if f, ok := t.FieldByName(field); ok && f.Tag.Get("env") != "" {
		return f.Tag.Get("env")
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if p := f.Tag.Get("envPrefix"); p != "" && f.Type.Kind() == reflect.Struct {
			if n := envName(f.Type, field); n != "" {
				return p + n
			}
		}
	}
	return ""
}

// bind adds the flags every command that opens a database takes.
func (c *config) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the SQLite file and stored videos (TOLLGATE_DATA_DIR)")
	f.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "sqlite:PATH, a file path, or postgres://... (TOLLGATE_DATABASE_URL; default sqlite:$DATA_DIR/tollgate.db)")
}

// check refuses a bad configuration, saying what to set.
func (c *config) check() error {
	if c.envErr != nil {
		return c.envErr
	}
	if c.VideoLease < 0 || (c.VideoLease > 0 && c.VideoLease < time.Second) || c.LocalRenderTime < 0 || c.VideoPollEvery < 0 ||
		(c.VideoPollEvery > 0 && c.VideoPollEvery < 10*time.Millisecond) || c.VideoRetention < 0 || (c.VideoRetention > 0 && c.VideoRetention < time.Minute) {
		return fmt.Errorf("video settings out of range: TOLLGATE_VIDEO_LEASE at least 1s (is %s), TOLLGATE_LOCAL_RENDER_TIME not negative (is %s), "+
			"TOLLGATE_VIDEO_POLL_EVERY at least 10ms (is %s), TOLLGATE_VIDEO_RETENTION at least 1m (is %s)", c.VideoLease, c.LocalRenderTime, c.VideoPollEvery, c.VideoRetention)
	}
	if c.RoyaltyTakeBPS < 0 || c.RoyaltyTakeBPS > tollgate.MaxTakeBPS || c.CameoFeeNotice < 0 {
		return fmt.Errorf("TOLLGATE_ROYALTY_TAKE_BPS must be from 0 to 10000 basis points (is %d) and TOLLGATE_CAMEO_FEE_NOTICE not negative (is %s)",
			c.RoyaltyTakeBPS, c.CameoFeeNotice)
	}
	for env, sec := range map[string]string{"TOLLGATE_OPENAI_WEBHOOK_SECRET": c.OpenAIWebhookSecret, "TOLLGATE_REPLICATE_WEBHOOK_SECRET": c.ReplicateWebhookSecret} {
		if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_")); sec != "" && (err != nil || len(key) < 16 || !strings.HasPrefix(sec, "whsec_")) {
			return fmt.Errorf("%s is not a webhook secret: give it as the provider shows it, whsec_ and at least 16 bytes in base64", env)
		}
	}
	if c.Committers < 0 || c.Committers > 64 {
		return fmt.Errorf("TOLLGATE_COMMITTERS is %d; give 0 (the store's default) to 64", c.Committers)
	}
	if c.AccountReads < 0 || c.AccountReads > 1024 {
		return fmt.Errorf("TOLLGATE_ACCOUNT_READS is %d; give 0 (the default, %d) to 1024", c.AccountReads, ledger.DefaultAccountReads)
	}
	for env, v := range map[string]string{"TOLLGATE_OPENAI_BASE_URL": c.OpenAIBaseURL, "TOLLGATE_RUNWAY_BASE_URL": c.RunwayBaseURL, "TOLLGATE_LUMA_BASE_URL": c.LumaBaseURL,
		"TOLLGATE_REPLICATE_BASE_URL": c.ReplicateBaseURL, "TOLLGATE_GEMINI_BASE_URL": c.GeminiBaseURL,
		"TOLLGATE_FAL_QUEUE_URL": c.FalQueueURL, "TOLLGATE_FAL_API_URL": c.FalAPIURL, "TOLLGATE_FAL_JWKS_URL": c.FalJWKSURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return fmt.Errorf("%s %q is not an absolute http or https URL", env, v)
		}
	}
	if _, err := upstreams(c); err != nil {
		return err
	}
	if c.NoticeDays < 0 {
		return fmt.Errorf("TOLLGATE_NOTICE_DAYS (--notice-days) is %d; it must be 0 or more days", c.NoticeDays)
	}
	if c.VerifyEvery < 0 || (c.VerifyEvery > 0 && c.VerifyEvery < time.Minute) {
		return fmt.Errorf("TOLLGATE_VERIFY_EVERY (--verify-every) is %s; give 0 (off) or at least 1m", c.VerifyEvery)
	}
	if c.SQLiteMaxMB < 0 {
		return fmt.Errorf("TOLLGATE_SQLITE_MAX_MB (--sqlite-max-mb) is %d; give 0 (no cap) or a size in MB", c.SQLiteMaxMB)
	}
	if c.Drain < 0 || c.Drain > 5*time.Minute {
		return fmt.Errorf("TOLLGATE_DRAIN (--drain) is %s; give 0 to 5m", c.Drain)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("TOLLGATE_MAX_CONNS (--max-conns) is %d; it must be 0 (the default) or more", c.MaxConns)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("TOLLGATE_PUBLIC_URL (--public-url) %q is not an absolute http or https URL such as https://tollgate.example.com", c.PublicURL)
		}
	}
	s := c.Stripe
	if (s.SecretKey == "") != (s.WebhookSecret == "") {
		return errors.New("set both TOLLGATE_STRIPE_SECRET_KEY and TOLLGATE_STRIPE_WEBHOOK_SECRET for Stripe, or neither for the development checkout")
	}
	if s.SecretKey == "" && s.APIURL != "" {
		return errors.New("TOLLGATE_STRIPE_API_URL is set without TOLLGATE_STRIPE_SECRET_KEY: set the key too, or unset the URL")
	}
	if s.APIURL != "" {
		if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("TOLLGATE_STRIPE_API_URL %q is not an absolute http or https URL", s.APIURL)
		}
	}
	for _, cur := range s.TaxInclusive {
		if !tollgate.ValidCurrency(cur) {
			return fmt.Errorf("TOLLGATE_STRIPE_TAX_INCLUSIVE lists %q: give lowercase ISO 4217 codes separated by commas, such as eur,idr", cur)
		}
	}
	if len(s.TaxInclusive) > 0 && !s.Tax {
		return errors.New("TOLLGATE_STRIPE_TAX_INCLUSIVE is set without TOLLGATE_STRIPE_TAX=true: tax-inclusive prices need Stripe Tax to compute the tax they include")
	}
	if s.Grace < 0 || s.Grace > 90*24*time.Hour {
		return fmt.Errorf("TOLLGATE_STRIPE_SUBSCRIPTION_GRACE must be from 0 to 2160h (90 days), is %s", s.Grace)
	}
	if s.SecretKey != "" && c.Demo {
		return errors.New("demo mode (TOLLGATE_DEMO, --demo) cannot be on with Stripe configured: its development checkout grants credits without payment")
	}
	if s.SecretKey != "" && c.PublicURL == "" {
		return errors.New("with Stripe, set TOLLGATE_PUBLIC_URL to the absolute URL buyers reach this server at (e.g. https://tollgate.example.com): Stripe sends them back there after paying")
	}
	var err error
	if c.proxies, err = parseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if c.admins, err = adminKeys(c.AdminKey); err != nil {
		return err
	}
	return nil
}

// databaseURL is the database the configuration names.
func (c *config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return "sqlite:" + filepath.Join(c.DataDir, "tollgate.db")
}

// dbError says where to look when the database cannot be opened.
func dbError(err error) error { return fmt.Errorf("%w (check TOLLGATE_DATABASE_URL)", err) }
