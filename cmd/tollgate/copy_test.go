package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tollgate"
	"tollgate/gateway"
	"tollgate/ledger"
	"tollgate/provider/local"
	"tollgate/store/record"
	"tollgate/store/sqlite"
)

// filledInstallation runs a SQLite installation through the API until
// every table has rows, then stops it; it returns the database's path.
func filledInstallation(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	c := newConfig()
	c.DataDir, c.Addr, c.VerifyEvery, c.AllowPrivateWebhooks = t.TempDir(), "127.0.0.1:0", 0, true
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, key, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		st, m, err := try(inst.URL, key, method, path, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: got %d %v %v, want %d", method, path, st, m, err, want)
		}
		return m
	}
	must(201, "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://127.0.0.1:9/hook"})
	must(201, "POST", "/v1/plans/pro/versions", map[string]any{"daily_allowances": map[string]string{"video": "100"}})
	must(201, "POST", "/v1/prices/rules", map[string]any{"id": "video-extra", "product": "video", "meter": "seconds", "per": 1, "credits": "0.2", "force": true})
	must(201, "POST", "/v1/packs", map[string]any{"id": "pack_big", "credits": "100", "price": map[string]any{"amount": 3000, "currency": "usd"}, "valid_for_days": 365})
	for _, id := range []string{"ada", "bob"} {
		must(201, "POST", "/v1/accounts", map[string]any{"id": id, "name": id})
		must(201, "POST", "/v1/accounts/"+id+"/keys", map[string]any{"name": "ci"})
		must(201, "POST", "/v1/accounts/"+id+"/grants", map[string]any{"credits": "50", "source": "promo", "valid_for_days": 30})
	}
	if st, m, err := tryKey(inst.URL, key, "hold-1", "POST", "/v1/holds", map[string]any{"account_id": "ada", "product": "video", "credits": "12.5"}); err != nil || st != 201 {
		t.Fatalf("hold: %d %v %v", st, m, err)
	} else {
		must(200, "POST", "/v1/holds/"+m["id"].(string)+"/capture", map[string]any{"credits": "10"})
	}
	must(201, "POST", "/v1/holds", map[string]any{"account_id": "bob", "product": "video", "credits": "3"}) // left pending
	must(201, "POST", "/v1/quotes", map[string]any{"account_id": "ada", "product": "video", "seconds": 5})
	co := must(201, "POST", "/v1/checkout", map[string]any{"account_id": "bob", "pack_id": "pack_big"})
	order := co["order"].(map[string]any)["id"].(string)
	resp, err := http.PostForm(inst.URL+"/checkout/dev/"+order, url.Values{})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("complete the order: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	err = inst.ledger.WriteRecords(ctx, func(tx record.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := tx.PaymentEventPut(ctx, tollgate.PaymentEvent{ID: "pev_1", Provider: "stripe", EventID: "evt_1", Type: "charge.refunded",
			ObjectID: "ch_1", Outcome: "no order: a charge Tollgate did not sell", CreatedAt: now, ReceivedAt: now}); err != nil {
			return err
		}
		// A plan's price, a subscription to it with its first invoice, and
		// an order paid with tax (the dev order above has none).
		if err := tx.PlanPricePut(ctx, tollgate.PlanPrice{Plan: "pro", Interval: tollgate.IntervalMonth,
			Prices: []tollgate.Money{{Amount: 900, Currency: "usd"}, {Amount: 850, Currency: "eur"}}, Active: true, CreatedAt: now}); err != nil {
			return err
		}
		paid := tollgate.Paid{Currency: "usd", Net: 900, Tax: 81, Gross: 981, ReceiptURL: "https://pay.example/r/1", InvoiceURL: "https://pay.example/i/1"}
		if err := tx.SubscriptionPut(ctx, tollgate.Subscription{ID: "sub_1", AccountID: "ada", Provider: "stripe", Customer: "cus_ada",
			Plan: "pro", Interval: tollgate.IntervalMonth, Currency: "usd", Status: tollgate.SubscriptionActive, PeriodStart: now,
			PeriodEnd: now.AddDate(0, 1, 0), PaidThrough: &now, FallbackPlan: "free", CreatedAt: now, UpdatedAt: now, StateAt: now}); err != nil {
			return err
		}
		if err := tx.InvoicePut(ctx, tollgate.Invoice{ID: "in_1", SubscriptionID: "sub_1", AccountID: "ada", Reason: "subscription_create",
			Status: "paid", Paid: paid, PeriodStart: now, PeriodEnd: now.AddDate(0, 1, 0), CreatedAt: now}); err != nil {
			return err
		}
		return tx.OrderInsert(ctx, tollgate.Order{ID: "ord_paid", AccountID: "ada", PackID: "pack_big", Credits: tollgate.WholeCredits(100),
			Price: tollgate.Money{Amount: 900, Currency: "usd"}, ValidForDays: 365, Status: tollgate.OrderPending, Provider: "stripe",
			ProviderRef: "cs_paid", TaxBehavior: tollgate.TaxExclusive, Paid: &paid, CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	next := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
	if _, err := inst.ledger.CreateVideo(ctx, ledger.HoldParams{AccountID: "ada", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(1)},
		tollgate.Video{ID: tollgate.NewID("video"), AccountID: "ada", Kind: tollgate.VideoCreate, Status: tollgate.VideoQueued, Model: "sora-2",
			Prompt: "a lighthouse", Seconds: 4, Size: "1280x720", Step: tollgate.StepRoute, NextAt: &next, CreatedAt: next}); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.videos.NewCharacter(ctx, gateway.CharacterParams{AccountID: "ada", Name: "Captain Lux", Video: local.Clip}); err != nil {
		t.Fatal(err)
	}
	// A cameo of bob's that ada may use, and a video of ada's that shows
	// it, completed: an approval, a use and an earning.
	fox := must(201, "POST", "/v1/cameos", map[string]any{"account_id": "bob", "name": "Bob the Fox", "policy": "approved", "fee": "1"})["id"].(string)
	must(200, "POST", "/v1/cameos/"+fox+"/approvals", map[string]any{"account_id": "ada"})
	shows, err := inst.ledger.CreateVideo(ctx, ledger.HoldParams{AccountID: "ada", Product: tollgate.ProductVideo, Credits: tollgate.WholeCredits(2)},
		tollgate.Video{ID: tollgate.NewID("video"), AccountID: "ada", Kind: tollgate.VideoCreate, Status: tollgate.VideoQueued, Model: "sora-2",
			Prompt: "a fox", Seconds: 4, Size: "1280x720", Step: tollgate.StepRoute, NextAt: &next, CreatedAt: next, Characters: []string{fox},
			Fees: []tollgate.Fee{{Kind: tollgate.FeeCameo, Subject: fox, OwnerID: "bob", Credits: tollgate.WholeCredits(1), TakeBPS: 2000}}})
	if err != nil {
		t.Fatal(err)
	}
	shows.Status, shows.Step, shows.NextAt = tollgate.VideoCompleted, tollgate.StepDone, nil
	charge := tollgate.WholeCredits(2)
	if _, err := inst.ledger.SettleVideo(ctx, shows, &charge); err != nil {
		t.Fatal(err)
	}
	// Published, on the leaderboard, and bob's earnings partly paid out.
	must(200, "POST", "/v1/videos/"+shows.ID+"/publish", map[string]any{"remix_fee": "0.5"})
	must(200, "POST", "/v1/leaderboards/opt_in", map[string]any{"account_id": "bob", "opt_in": true})
	must(201, "POST", "/v1/payout_rates", map[string]any{"currency": "usd", "minor_per_credit": 30})
	must(200, "POST", "/v1/payouts/destination", map[string]any{"account_id": "bob", "stripe_account": "acct_bob"})
	must(201, "POST", "/v1/payouts", map[string]any{"account_id": "bob", "credits": "0.5"})
	if err := inst.close(log); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(c.DataDir, "tollgate.db")
}

// TestCopyToPostgres moves a SQLite installation with rows in every table
// into an empty PostgreSQL database: every table's rows arrive, verify is
// clean on both sides, balances are equal, and serve runs on the copy.
func TestCopyToPostgres(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TOLLGATE_TEST_DATABASE_URL not set: skipping the copy to PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	path := filledInstallation(t)
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := src.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		n, err := src.CountRows(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && table != "batches" { // batches are purged once their commit is known
			t.Errorf("table %s is empty: the test must fill every table, or copy is not tested on it", table)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	_, to := emptySchema(t, base, "tollgate_copy")

	var out bytes.Buffer
	if err := copyToPostgres(ctx, "sqlite:"+path, to, &out); err != nil {
		t.Fatalf("copy: %v\n%s", err, out.String())
	}
	for _, want := range []string{"copied journal", "rows match on both sides", "verify clean on both", "2 accounts' balances equal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
	// A second copy into the same database is refused: it is not empty.
	if err := copyToPostgres(ctx, "sqlite:"+path, to, io.Discard); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a copy into a filled database: got %v", err)
	}
	// A table copy does not know (a migration added it) fails the copy.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE video_jobs (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := copyToPostgres(ctx, "sqlite:"+path, to, io.Discard); err == nil || !strings.Contains(err.Error(), "copy does not know") {
		t.Errorf("a table copy does not know: got %v", err)
	}
	// serve runs on the copy, and the journal's ids go on from the copied ones.
	c := newConfig()
	c.DatabaseURL, c.Addr, c.VerifyEvery = to, "127.0.0.1:0", 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, _, err := start(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := inst.close(log); err != nil {
			t.Error(err)
		}
	}()
	b, err := inst.ledger.Balance(ctx, "bob")
	// 50 granted, 100 bought, 30 of today's allowance, 3 held, and 0.8
	// earned from ada's use of his cameo (1 less the 20% take), 0.5 of
	// it paid out.
	if err != nil || b.Available.String() != "177.3" || b.Held.String() != "3" {
		t.Errorf("bob on PostgreSQL: got %s available, %s held (%v); want 177.3 and 3", b.Available, b.Held, err)
	}
	// Columns SQLite keeps as integers arrive as PostgreSQL's types: what
	// an order paid (NULL until paid), a subscription's times and flags.
	err = inst.ledger.ReadRecords(ctx, func(tx record.Tx) error {
		o, err := tx.OrderByID(ctx, "ord_paid")
		if err != nil {
			return err
		}
		if o.TaxBehavior != tollgate.TaxExclusive || o.Paid == nil || o.Paid.Gross != 981 || o.Paid.Tax != 81 || o.Paid.InvoiceURL == "" {
			t.Errorf("the paid order on PostgreSQL: got %s %+v, want exclusive, 981 of which 81 tax, with links", o.TaxBehavior, o.Paid)
		}
		dev, err := tx.OrderList(ctx, record.OrderListParams{AccountID: "bob"})
		if err != nil || len(dev) != 1 || dev[0].Paid != nil {
			t.Errorf("bob's dev order on PostgreSQL: got %+v (%v), want one, not paid through a provider", dev, err)
		}
		sub, err := tx.SubscriptionByID(ctx, "sub_1")
		if err != nil {
			return err
		}
		if sub.PaidThrough == nil || sub.GraceUntil != nil || sub.EndedAt != nil || sub.Entitled || !sub.PeriodEnd.After(sub.PeriodStart) {
			t.Errorf("the subscription on PostgreSQL: got %+v", sub)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.ledger.Grant(ctx, grantParams("ada", 1)); err != nil {
		t.Fatalf("a write on the copy: %v", err)
	}
}

func grantParams(acct string, credits int64) ledger.GrantParams {
	return ledger.GrantParams{AccountID: acct, Credits: tollgate.WholeCredits(credits)}
}
