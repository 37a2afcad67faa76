// Package sqlq holds the SQL that the SQLite and PostgreSQL stores share:
// the column lists of their tables and the statements both write alike.
// Each is written once, with ? placeholders; a Query carries it as SQLite
// takes it and as PostgreSQL does ($1, $2...). What differs between the
// stores (bulk writes, locks, the journal, time and array types) stays in
// each store.
package sqlq

import "strconv"

// Query is one statement in both dialects.
type Query struct {
	Lite string // SQLite: ? placeholders
	PG   string // PostgreSQL: $1, $2...
}

// q makes a Query from a statement with ? placeholders.
func q(s string) Query { return Query{Lite: s, PG: Dollar(s)} }

// Dollar numbers the ? placeholders of s as PostgreSQL's $1, $2...,
// leaving any ? inside a quoted string literal or identifier alone.
func Dollar(s string) string {
	out := make([]byte, 0, len(s)+8)
	n := 0
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// Column lists, in the order the stores scan them.
const (
	AccountCols      = `id, name, plan, timezone, status, created_at, low_balance, pending_holds, timezone_from, plan_before, plan_from, currency`
	KeyCols          = `id, account_id, name, prefix, hash, created_at, revoked_at, last_used_at, scopes, products, expires_at, limits`
	GrantCols        = `id, account_id, source, amount, remaining, products, priority, effective_at, expires_at, expired_at, external_ref, created_at, refund_owed, frozen, held`
	HoldCols         = `id, account_id, product, amount, captured, status, allocations, metadata, quote_id, created_at, expires_at, settled_at, key_id`
	PackCols         = `id, credits, price_amount, currency, valid_for_days, products, active, created_at, prices`
	OrderCols        = `id, account_id, pack_id, credits, price_amount, currency, valid_for_days, products, status, provider, provider_ref, refunded_credits, grant_id, created_at, completed_at, refunded_at, payment_ref, payment_problem, dispute_id, dispute_status, tax_behavior, paid_currency, paid_net, paid_tax, paid_gross, receipt_url, invoice_url`
	PriceRuleCols    = `id, product, meter, tier, resolution, per, credits, effective_at, created_at`
	EndpointCols     = `id, url, secret, types, created_at, disabled, old_secret, old_secret_until, account_id`
	PaymentEventCols = `id, provider, event_id, type, object_id, order_id, matched, outcome, created_at, received_at`
	AuditCols        = `id, created_at, actor_key, actor_kind, account_id, action, target, request_id, detail`
)

// Statements both stores run as they are.
var (
	OrderSetRef              = q(`UPDATE orders SET provider_ref = ? WHERE id = ? AND provider_ref = ''`)
	OrderSetProblem          = q(`UPDATE orders SET payment_problem = ? WHERE id = ?`)
	SettingGet               = q(`SELECT value FROM settings WHERE key = ?`)
	SettingPut               = q(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`)
	PriceRuleInsert          = q(`INSERT INTO price_rules (` + PriceRuleCols + `) VALUES (?,?,?,?,?,?,?,?,?)`)
	PriceRuleList            = q(`SELECT ` + PriceRuleCols + ` FROM price_rules ORDER BY id, effective_at`)
	QuoteInsert              = q(`INSERT INTO quotes (id, account_id, product, credits, details, created_at, expires_at) VALUES (?,?,?,?,?,?,?)`)
	QuoteByID                = q(`SELECT id, account_id, product, credits, details, created_at, expires_at FROM quotes WHERE id = ?`)
	EndpointByID             = q(`SELECT ` + EndpointCols + ` FROM webhook_endpoints WHERE id = ?`)
	EndpointList             = q(`SELECT ` + EndpointCols + ` FROM webhook_endpoints ORDER BY id`)
	EndpointUpdate           = q(`UPDATE webhook_endpoints SET types = ?, disabled = ?, secret = ?, old_secret = ?, old_secret_until = ? WHERE id = ?`)
	EndpointDeleteDeliveries = q(`DELETE FROM deliveries WHERE endpoint_id = ?`)
	EndpointDelete           = q(`DELETE FROM webhook_endpoints WHERE id = ?`)
	EventLastAt              = q(`SELECT max(created_at) FROM events WHERE account_id = ? AND type = ?`)
	DeliveryClaim            = q(`UPDATE deliveries SET next_at = ? WHERE event_id = ? AND endpoint_id = ? AND status = 'pending' AND next_at = ?`)
	OrderByID                = q(`SELECT ` + OrderCols + ` FROM orders WHERE id = ?`)
	OrderByProviderRef       = q(`SELECT ` + OrderCols + ` FROM orders WHERE provider = ? AND (provider_ref = ? OR payment_ref = ?) LIMIT 1`)
	PackList                 = q(`SELECT ` + PackCols + ` FROM packs ORDER BY id`)
	APIKeyByHash             = q(`SELECT ` + KeyCols + ` FROM api_keys WHERE hash = ?`)
	APIKeyList               = q(`SELECT ` + KeyCols + ` FROM api_keys WHERE account_id = ? ORDER BY id`)
	APIKeyRevoke             = q(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL`)
	APIKeyByIDOfAccount      = q(`SELECT ` + KeyCols + ` FROM api_keys WHERE id = ? AND account_id = ?`)
	APIKeyTouch              = q(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`)
	AccountByID              = q(`SELECT ` + AccountCols + ` FROM accounts WHERE id = ?`)
	AccountList              = q(`SELECT ` + AccountCols + ` FROM accounts WHERE id > ? ORDER BY id LIMIT ?`)
	GrantByRef               = q(`SELECT ` + GrantCols + ` FROM grants WHERE account_id = ? AND external_ref = ?`)
	GrantsDue                = q(`SELECT DISTINCT account_id FROM grants
		WHERE expired_at IS NULL AND expires_at <= ? AND (remaining > 0 OR source = 'allowance') LIMIT ?`)
	GrantsOpenOrHeld = q(`SELECT ` + GrantCols + ` FROM grants WHERE account_id = ?
		AND ((expired_at IS NULL AND (remaining > 0 OR source = 'allowance')) OR held > 0) ORDER BY id`)
	HoldsOverdue            = q(`SELECT ` + HoldCols + ` FROM holds WHERE status = 'pending' AND account_id = ? AND expires_at <= ? ORDER BY id`)
	PlanVersions            = q(`SELECT plan, version, effective_at, allowances, created_at, limits FROM plan_versions ORDER BY plan, version`)
	GrantsExpiringUnnoticed = q(`SELECT ` + GrantCols + ` FROM grants g
		WHERE expired_at IS NULL AND expires_at > ? AND expires_at <= ? AND remaining > 0 AND source <> 'allowance'
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = 'evt_expiring_' || g.id)
		ORDER BY expires_at, id LIMIT ?`)
	HoldsDue = q(`SELECT DISTINCT account_id FROM holds
		WHERE status = 'pending' AND expires_at <= ? LIMIT ?`)
	IdempotencyPurge = q(`DELETE FROM idempotency WHERE created_at < ?`)
	OrderInsert      = q(`INSERT INTO orders (` + OrderCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`)
	AccountUpdate    = q(`UPDATE accounts SET name = ?, plan = ?, timezone = ?, status = ?, low_balance = ?, timezone_from = ?,
		plan_before = ?, plan_from = ?, currency = ? WHERE id = ?`)
	DeliveriesDue = q(`SELECT e.id, e.type, e.account_id, e.payload, e.created_at, d.endpoint_id, w.url, w.secret,
		CASE WHEN w.old_secret_until > ? THEN w.old_secret ELSE '' END, d.attempts, d.next_at
		FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhook_endpoints w ON w.id = d.endpoint_id
		WHERE d.status = 'pending' AND d.next_at <= ? AND NOT w.disabled ORDER BY d.next_at, e.id LIMIT ?`)
	// OrderUpdate takes what the order paid (currency, net, tax, gross,
	// receipt and invoice links) as NULLs to keep what is stored.
	OrderUpdate = q(`UPDATE orders SET status = ?, grant_id = ?, refunded_credits = ?, completed_at = ?, refunded_at = ?,
		payment_ref = CASE WHEN ? <> '' THEN ? ELSE payment_ref END, dispute_id = ?, dispute_status = ?,
		paid_currency = coalesce(?, paid_currency), paid_net = coalesce(?, paid_net), paid_tax = coalesce(?, paid_tax),
		paid_gross = coalesce(?, paid_gross), receipt_url = coalesce(?, receipt_url), invoice_url = coalesce(?, invoice_url)
		WHERE id = ? AND status = ? AND refunded_credits = ?`)
	// OrderSetReceipt keeps a link whose argument is ''.
	OrderSetReceipt = q(`UPDATE orders SET receipt_url = coalesce(nullif(?, ''), receipt_url), invoice_url = coalesce(nullif(?, ''), invoice_url)
		WHERE id = ? AND paid_gross IS NOT NULL`)
	EndpointInsert = q(`INSERT INTO webhook_endpoints (` + EndpointCols + `) VALUES (?,?,?,?,?,?,?,?,?)`)
)

// Video jobs: the columns looked up, and the document.
var (
	VideoInsert = q(`INSERT INTO videos (id, account_id, status, next_at, deleted_at, version, doc) VALUES (?,?,?,?,?,1,?) ON CONFLICT (id) DO NOTHING`)
	VideoByID   = q(`SELECT version, doc FROM videos WHERE id = ?`)
	VideoUpdate = q(`UPDATE videos SET status = ?, next_at = ?, deleted_at = ?, ended_at = ?, version = version + 1, doc = ? WHERE id = ? AND version = ?`)
	// VideosEnded takes the period's start and end, and the (ended_at, id)
	// of the last row of the previous page (the start and "" at first).
	VideosEnded = q(`SELECT version, doc FROM videos WHERE ended_at IS NOT NULL AND ended_at < ? AND (ended_at > ? OR (ended_at = ? AND id > ?)) ORDER BY ended_at, id LIMIT ?`)
	VideosDue   = q(`SELECT version, doc FROM videos WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?`)
	// VideoListAsc and VideoListDesc take the account, whether deleted
	// jobs are listed too, a bound (exclusive:
	// "" and "~" list from the first) and a limit.
	VideoListAsc  = q(`SELECT version, doc FROM videos WHERE account_id = ? AND (deleted_at IS NULL OR ?) AND id > ? ORDER BY id LIMIT ?`)
	VideoListDesc = q(`SELECT version, doc FROM videos WHERE account_id = ? AND (deleted_at IS NULL OR ?) AND id < ? ORDER BY id DESC LIMIT ?`)
)

// Cameos (the characters table): the columns looked up, and the
// document. A deleted cameo keeps its row (statements name it) without its
// handle.
var (
	CameoInsert   = q(`INSERT INTO characters (id, account_id, created_at, handle, doc) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`)
	CameoUpdate   = q(`UPDATE characters SET handle = ?, doc = ? WHERE id = ?`)
	CameoByID     = q(`SELECT doc FROM characters WHERE id = ?`)
	CameoByHandle = q(`SELECT doc FROM characters WHERE handle = ?`)
	CameoCount    = q(`SELECT count(*) FROM characters WHERE account_id = ? AND handle IS NOT NULL`)
	CameoList     = q(`SELECT doc FROM characters WHERE account_id = ? AND id > ? AND handle IS NOT NULL ORDER BY id LIMIT ?`)

	CameoApprove       = q(`INSERT INTO cameo_approvals (cameo_id, account_id, created_at) VALUES (?,?,?) ON CONFLICT DO NOTHING`)
	CameoRevoke        = q(`DELETE FROM cameo_approvals WHERE cameo_id = ? AND account_id = ?`)
	CameoApproved      = q(`SELECT count(*) FROM cameo_approvals WHERE cameo_id = ? AND account_id = ?`)
	CameoApprovalCount = q(`SELECT count(*) FROM cameo_approvals WHERE cameo_id = ?`)
	CameoApprovals     = q(`SELECT account_id FROM cameo_approvals WHERE cameo_id = ? AND account_id > ? ORDER BY account_id LIMIT ?`)

	CameoUsesOn  = q(`SELECT uses FROM cameo_uses WHERE cameo_id = ? AND day = ?`)
	CameoUsesAdd = q(`INSERT INTO cameo_uses (cameo_id, day, uses) VALUES (?,?,?) ON CONFLICT (cameo_id, day) DO UPDATE SET uses = cameo_uses.uses + excluded.uses`)

	PublishedCols   = `video_id, account_id, remix_fee, remixable, published_at`
	PublishedPut    = q(`INSERT INTO published_videos (` + PublishedCols + `) VALUES (?,?,?,?,?) ON CONFLICT (video_id) DO UPDATE SET remix_fee = excluded.remix_fee, remixable = excluded.remixable`)
	PublishedDelete = q(`DELETE FROM published_videos WHERE video_id = ?`)
	PublishedByID   = q(`SELECT ` + PublishedCols + ` FROM published_videos WHERE video_id = ?`)
	PublishedList   = q(`SELECT ` + PublishedCols + ` FROM published_videos WHERE (published_at < ? OR (published_at = ? AND video_id < ?)) ORDER BY published_at DESC, video_id DESC LIMIT ?`)

	CounterAdd = q(`INSERT INTO counters (board, subject, bucket, owner_id, uses, gross, take, net) VALUES (?,?,?,?,?,?,?,?) ` +
		`ON CONFLICT (board, subject, bucket) DO UPDATE SET uses = counters.uses + excluded.uses, gross = counters.gross + excluded.gross, ` +
		`take = counters.take + excluded.take, net = counters.net + excluded.net`)
	CounterAddDaily = q(`INSERT INTO counters_daily (board, subject, bucket, owner_id, uses, gross, take, net) VALUES (?,?,?,?,?,?,?,?) ` +
		`ON CONFLICT (board, subject, bucket) DO UPDATE SET uses = counters_daily.uses + excluded.uses, gross = counters_daily.gross + excluded.gross, ` +
		`take = counters_daily.take + excluded.take, net = counters_daily.net + excluded.net`)
	// counterSpan sums a board over whole UTC days (daily rows) and two
	// edges of 15-minute rows: board, days [?, ?), board, edges [?, ?)
	// and [?, ?).
	counterSpan = `SELECT subject, owner_id, sum(uses) AS u, sum(gross), sum(take), sum(net) AS n FROM (` +
		`SELECT subject, owner_id, uses, gross, take, net FROM counters_daily WHERE board = ? AND bucket >= ? AND bucket < ? UNION ALL ` +
		`SELECT subject, owner_id, uses, gross, take, net FROM counters WHERE board = ? AND ((bucket >= ? AND bucket < ?) OR (bucket >= ? AND bucket < ?))` +
		`) AS c GROUP BY subject, owner_id `
	CounterTopUses = q(counterSpan + `ORDER BY u DESC, n DESC, subject LIMIT ? OFFSET ?`)
	CounterTopNet  = q(counterSpan + `ORDER BY n DESC, u DESC, subject LIMIT ? OFFSET ?`)
	CounterOwner   = q(`SELECT board, subject, bucket, uses, gross, take, net FROM counters WHERE owner_id = ? AND bucket >= ? AND bucket < ? ` +
		`AND board <> 'creator' ORDER BY bucket, board, subject`)
	OptInPut    = q(`INSERT INTO leaderboard_optins (account_id, created_at) VALUES (?,?) ON CONFLICT (account_id) DO NOTHING`)
	OptInDelete = q(`DELETE FROM leaderboard_optins WHERE account_id = ?`)
	OptInGet    = q(`SELECT count(*) FROM leaderboard_optins WHERE account_id = ?`)

	PayoutInsert  = q(`INSERT INTO payouts (id, account_id, status, created_at, doc) VALUES (?,?,?,?,?)`)
	PayoutUpdate  = q(`UPDATE payouts SET status = ?, doc = ? WHERE id = ? AND status = ?`)
	PayoutByID    = q(`SELECT doc FROM payouts WHERE id = ?`)
	PayoutList    = q(`SELECT doc FROM payouts WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`)
	PayoutPending = q(`SELECT doc FROM payouts WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?`)
	PayoutTotals  = q(`SELECT account_id, doc FROM payouts WHERE status <> 'failed' ORDER BY account_id, id`)

	PayoutRateCols = `currency, version, minor_per_credit, minimum, effective_at, created_at`
	PayoutRatePut  = q(`INSERT INTO payout_rates (` + PayoutRateCols + `) SELECT ?, coalesce(max(version), 0) + 1, ?, ?, ?, ? FROM payout_rates WHERE currency = ?`)
	PayoutRateList = q(`SELECT ` + PayoutRateCols + ` FROM payout_rates ORDER BY currency, version`)

	DestinationPut = q(`INSERT INTO payout_destinations (account_id, stripe_account, created_at) VALUES (?,?,?) ON CONFLICT (account_id) DO UPDATE SET stripe_account = excluded.stripe_account`)
	DestinationGet = q(`SELECT stripe_account FROM payout_destinations WHERE account_id = ?`)

	EarningCols   = `id, owner_id, payer_id, kind, subject, video_id, gross, take, net, created_at`
	EarningList   = q(`SELECT ` + EarningCols + ` FROM earnings WHERE owner_id = ? AND created_at >= ? AND created_at < ? AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`)
	EarningTotals = q(`SELECT owner_id, count(*), sum(gross), sum(take), sum(net), sum(CASE WHEN gross = take + net AND take >= 0 AND net >= 0 THEN 0 ELSE 1 END) FROM earnings GROUP BY owner_id ORDER BY owner_id`)
	EarningInsert = q(`INSERT INTO earnings (id, owner_id, payer_id, kind, subject, video_id, gross, take, net, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)`)
)

// Subscriptions: plans' prices, subscriptions and their invoices. A put
// replaces every column but created_at.
var (
	PlanPriceCols = `plan, interval, prices, stripe_price, active, created_at`
	PlanPricePut  = q(`INSERT INTO plan_prices (` + PlanPriceCols + `) VALUES (?,?,?,?,?,?)
		ON CONFLICT (plan, interval) DO UPDATE SET prices = excluded.prices, stripe_price = excluded.stripe_price, active = excluded.active`)
	PlanPriceList = q(`SELECT ` + PlanPriceCols + ` FROM plan_prices ORDER BY plan, interval`)

	SubscriptionCols = `id, account_id, provider, customer, plan, interval, currency, status, cancel_at_period_end, ` +
		`period_start, period_end, paid_through, grace_until, fallback_plan, entitled, ended_at, created_at, updated_at, state_at`
	SubscriptionPut = q(`INSERT INTO subscriptions (` + SubscriptionCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, provider = excluded.provider, customer = excluded.customer,
		plan = excluded.plan, interval = excluded.interval, currency = excluded.currency, status = excluded.status,
		cancel_at_period_end = excluded.cancel_at_period_end, period_start = excluded.period_start, period_end = excluded.period_end,
		paid_through = excluded.paid_through, grace_until = excluded.grace_until, fallback_plan = excluded.fallback_plan,
		entitled = excluded.entitled, ended_at = excluded.ended_at, updated_at = excluded.updated_at, state_at = excluded.state_at`)
	SubscriptionByID = q(`SELECT ` + SubscriptionCols + ` FROM subscriptions WHERE id = ?`)

	InvoiceCols = `id, subscription_id, account_id, reason, status, currency, net, tax, gross, receipt_url, invoice_url, pdf_url, ` +
		`period_start, period_end, created_at`
	InvoicePut = q(`INSERT INTO invoices (` + InvoiceCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET subscription_id = excluded.subscription_id, account_id = excluded.account_id,
		reason = excluded.reason, status = excluded.status, currency = excluded.currency, net = excluded.net, tax = excluded.tax,
		gross = excluded.gross, receipt_url = excluded.receipt_url, invoice_url = excluded.invoice_url, pdf_url = excluded.pdf_url,
		period_start = excluded.period_start, period_end = excluded.period_end`)
	InvoiceList = q(`SELECT ` + InvoiceCols + ` FROM invoices WHERE subscription_id = ? ORDER BY created_at, id`)
)
