-- compat: expand
-- What an order's buyer paid, as the payment provider reported it:
-- tax_behavior is how the order's price related to tax when it was made
-- ('' none computed, inclusive, exclusive); paid_net + paid_tax =
-- paid_gross, minor units of paid_currency, all NULL (and the currency
-- '') until the provider reports the payment; receipt_url and invoice_url
-- are the provider's pages of it, '' until it has them.
ALTER TABLE orders ADD COLUMN tax_behavior TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN paid_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN paid_net INTEGER;
ALTER TABLE orders ADD COLUMN paid_tax INTEGER;
ALTER TABLE orders ADD COLUMN paid_gross INTEGER;
ALTER TABLE orders ADD COLUMN receipt_url TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN invoice_url TEXT NOT NULL DEFAULT '';

-- What a plan costs per interval (month, year): prices as packs keep
-- theirs ("usd:900,eur:850", minor units, the first the default), or the
-- Stripe Price (price_...) a checkout uses, '' for none.
CREATE TABLE plan_prices (
    plan         TEXT NOT NULL,
    interval     TEXT NOT NULL,
    prices       TEXT NOT NULL,
    stripe_price TEXT NOT NULL,
    active       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (plan, interval)
);

-- Subscriptions, mirrored from the payment provider (id is its sub_...).
-- paid_through: the end of the last period a paid invoice covered;
-- grace_until: while a renewal is unpaid, when the account leaves the
-- plan; fallback_plan: the plan it returns to then. entitled: the account
-- is on plan through this subscription; ended_at: when that stopped, NULL
-- while it is open. state_at: when the state was read from the provider
-- (an older read is never applied over a newer one).
CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL,
    provider             TEXT NOT NULL,
    customer             TEXT NOT NULL,
    plan                 TEXT NOT NULL,
    interval             TEXT NOT NULL,
    currency             TEXT NOT NULL,
    status               TEXT NOT NULL,
    cancel_at_period_end INTEGER NOT NULL,
    period_start         INTEGER NOT NULL,
    period_end           INTEGER NOT NULL,
    paid_through         INTEGER,
    grace_until          INTEGER,
    fallback_plan        TEXT NOT NULL,
    entitled             INTEGER NOT NULL,
    ended_at             INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    state_at             INTEGER NOT NULL
);
CREATE INDEX subscriptions_account ON subscriptions (account_id, id);
CREATE INDEX subscriptions_open ON subscriptions (id) WHERE ended_at IS NULL;

-- A subscription's invoices (id is the provider's in_...): reason is
-- Stripe's billing_reason; net + tax = gross, minor units of currency;
-- receipt_url, invoice_url (the hosted page) and pdf_url, '' when the
-- provider has none.
CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    net             INTEGER NOT NULL,
    tax             INTEGER NOT NULL,
    gross           INTEGER NOT NULL,
    receipt_url     TEXT NOT NULL,
    invoice_url     TEXT NOT NULL,
    pdf_url         TEXT NOT NULL,
    period_start    INTEGER NOT NULL,
    period_end      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX invoices_subscription ON invoices (subscription_id, created_at, id);
