package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestConfigRefusesBadValues: a setting the environment gets wrong stops
// every command before it opens anything, naming the setting; a good one
// passes, and flags win over the environment.
func TestConfigRefusesBadValues(t *testing.T) {
	admin := strings.Repeat("a", MinAdminKey)
	cases := []struct {
		name string
		env  map[string]string
		want string // "" for no error
	}{
		{"defaults", nil, ""},
		{"everything set", map[string]string{"TOLLGATE_NOTICE_DAYS": "30", "TOLLGATE_MAX_CONNS": "100", "TOLLGATE_DEMO": "1",
			"TOLLGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1", "TOLLGATE_ADMIN_KEY": admin + "," + admin + "b",
			"TOLLGATE_PUBLIC_URL": "https://tollgate.example.com"}, ""},
		{"stripe", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x",
			"TOLLGATE_STRIPE_API_URL": "http://127.0.0.1:12111", "TOLLGATE_PUBLIC_URL": "https://tollgate.example.com"}, ""},
		{"stripe tax", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x",
			"TOLLGATE_PUBLIC_URL": "https://tollgate.example.com", "TOLLGATE_STRIPE_TAX": "true", "TOLLGATE_STRIPE_TAX_INCLUSIVE": "eur,idr",
			"TOLLGATE_STRIPE_INVOICES": "true", "TOLLGATE_STRIPE_SUBSCRIPTION_GRACE": "72h"}, ""},
		{"tax inclusive without tax", map[string]string{"TOLLGATE_STRIPE_TAX_INCLUSIVE": "eur"}, "TOLLGATE_STRIPE_TAX=true"},
		{"tax inclusive not a currency", map[string]string{"TOLLGATE_STRIPE_TAX": "true", "TOLLGATE_STRIPE_TAX_INCLUSIVE": "EUR"}, "TOLLGATE_STRIPE_TAX_INCLUSIVE"},
		{"grace too long", map[string]string{"TOLLGATE_STRIPE_SUBSCRIPTION_GRACE": "2400h"}, "TOLLGATE_STRIPE_SUBSCRIPTION_GRACE"},
		{"grace not a duration", map[string]string{"TOLLGATE_STRIPE_SUBSCRIPTION_GRACE": "a week"}, "TOLLGATE_STRIPE_SUBSCRIPTION_GRACE"},
		{"notice not a number", map[string]string{"TOLLGATE_NOTICE_DAYS": "two weeks"}, "TOLLGATE_NOTICE_DAYS"},
		{"negative notice", map[string]string{"TOLLGATE_NOTICE_DAYS": "-1"}, "TOLLGATE_NOTICE_DAYS"},
		{"max conns not a number", map[string]string{"TOLLGATE_MAX_CONNS": "lots"}, "TOLLGATE_MAX_CONNS"},
		{"verify too often", map[string]string{"TOLLGATE_VERIFY_EVERY": "10s"}, "TOLLGATE_VERIFY_EVERY"},
		{"verify not a duration", map[string]string{"TOLLGATE_VERIFY_EVERY": "hourly"}, "TOLLGATE_VERIFY_EVERY"},
		{"drain too long", map[string]string{"TOLLGATE_DRAIN": "1h"}, "TOLLGATE_DRAIN"},
		{"negative sqlite cap", map[string]string{"TOLLGATE_SQLITE_MAX_MB": "-5"}, "TOLLGATE_SQLITE_MAX_MB"},
		{"negative max conns", map[string]string{"TOLLGATE_MAX_CONNS": "-5"}, "TOLLGATE_MAX_CONNS"},
		{"demo not a boolean", map[string]string{"TOLLGATE_DEMO": "maybe"}, "TOLLGATE_DEMO"},
		{"private webhooks not a boolean", map[string]string{"TOLLGATE_WEBHOOKS_ALLOW_PRIVATE": "yes please"}, "TOLLGATE_WEBHOOKS_ALLOW_PRIVATE"},
		{"public URL not absolute", map[string]string{"TOLLGATE_PUBLIC_URL": "tollgate.example.com"}, "TOLLGATE_PUBLIC_URL"},
		{"public URL not http", map[string]string{"TOLLGATE_PUBLIC_URL": "ftp://tollgate.example.com"}, "TOLLGATE_PUBLIC_URL"},
		{"bad proxy", map[string]string{"TOLLGATE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "TOLLGATE_TRUSTED_PROXIES"},
		{"lease too short", map[string]string{"TOLLGATE_VIDEO_LEASE": "10ms"}, "TOLLGATE_VIDEO_LEASE"},
		{"too many committers", map[string]string{"TOLLGATE_COMMITTERS": "500"}, "TOLLGATE_COMMITTERS"},
		{"negative account reads", map[string]string{"TOLLGATE_ACCOUNT_READS": "-1"}, "TOLLGATE_ACCOUNT_READS"},
		{"negative render time", map[string]string{"TOLLGATE_LOCAL_RENDER_TIME": "-1s"}, "TOLLGATE_LOCAL_RENDER_TIME"},
		{"retention too short", map[string]string{"TOLLGATE_VIDEO_RETENTION": "5s"}, "TOLLGATE_VIDEO_RETENTION"},
		{"upstream without a key", map[string]string{"TOLLGATE_OPENAI_UPSTREAMS": "agg=https://agg.example/v1"}, "TOLLGATE_OPENAI_UPSTREAM_KEY_AGG"},
		{"providers on", map[string]string{"TOLLGATE_RUNWAY_API_KEY": "key_x", "TOLLGATE_LUMA_API_KEY": "luma-x", "TOLLGATE_REPLICATE_API_TOKEN": "r8_x", "TOLLGATE_GEMINI_API_KEY": "AIza-x", "TOLLGATE_FAL_KEY": "id:secret",
			"TOLLGATE_REPLICATE_WEBHOOK_SECRET": "whsec_cmVwbGljYXRlLXRlc3Qtc2VjcmV0LWtleQ==", "TOLLGATE_PUBLIC_URL": "https://t.example"}, ""},
		{"upstream named as an adapter", map[string]string{"TOLLGATE_RUNWAY_API_KEY": "key_x", "TOLLGATE_OPENAI_UPSTREAMS": "runway=https://r.example/v1",
			"TOLLGATE_OPENAI_UPSTREAM_KEY_RUNWAY": "k"}, "rename that upstream"},
		{"provider URL not a URL", map[string]string{"TOLLGATE_LUMA_API_KEY": "luma-x", "TOLLGATE_LUMA_BASE_URL": "api.lumalabs.ai"}, "TOLLGATE_LUMA_BASE_URL"},
		{"replicate secret not a secret", map[string]string{"TOLLGATE_REPLICATE_API_TOKEN": "r8_x", "TOLLGATE_REPLICATE_WEBHOOK_SECRET": "hunter2"}, "TOLLGATE_REPLICATE_WEBHOOK_SECRET"},
		{"short admin key", map[string]string{"TOLLGATE_ADMIN_KEY": "secret"}, "TOLLGATE_ADMIN_KEY"},
		{"stripe key alone", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_PUBLIC_URL": "https://t.example"}, "TOLLGATE_STRIPE_WEBHOOK_SECRET"},
		{"stripe secret alone", map[string]string{"TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x"}, "TOLLGATE_STRIPE_SECRET_KEY"},
		{"stripe URL alone", map[string]string{"TOLLGATE_STRIPE_API_URL": "http://127.0.0.1:12111"}, "TOLLGATE_STRIPE_API_URL"},
		{"stripe URL not a URL", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x",
			"TOLLGATE_STRIPE_API_URL": "127.0.0.1:12111", "TOLLGATE_PUBLIC_URL": "https://t.example"}, "TOLLGATE_STRIPE_API_URL"},
		{"stripe without public URL", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x"}, "TOLLGATE_PUBLIC_URL"},
		{"stripe in demo mode", map[string]string{"TOLLGATE_STRIPE_SECRET_KEY": "sk_test_x", "TOLLGATE_STRIPE_WEBHOOK_SECRET": "whsec_x",
			"TOLLGATE_PUBLIC_URL": "https://t.example", "TOLLGATE_DEMO": "true"}, "TOLLGATE_DEMO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := newConfig().check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}

	t.Run("flags win", func(t *testing.T) {
		t.Setenv("TOLLGATE_ADDR", "127.0.0.1:9000")
		t.Setenv("TOLLGATE_NOTICE_DAYS", "30")
		cmd := serveCmd()
		cmd.RunE = func(*cobra.Command, []string) error { return nil }
		if err := cmd.ParseFlags([]string{"--notice-days", "7"}); err != nil {
			t.Fatal(err)
		}
		addr, _ := cmd.Flags().GetString("addr")
		days, _ := cmd.Flags().GetInt("notice-days")
		if addr != "127.0.0.1:9000" || days != 7 {
			t.Fatalf("got addr %s and %d notice days, want 127.0.0.1:9000 from the environment and 7 from the flag", addr, days)
		}
	})
}
