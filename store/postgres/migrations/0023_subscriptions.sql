-- compat: expand
-- What an order's buyer paid, as the payment provider reported it:
-- tax_behavior is how the order's price related to tax when it was made
-- ('' none computed, inclusive, exclusive); paid_net + paid_tax =
-- paid_gross, minor units of paid_currency, all NULL (and the currency
-- '') until the provider reports the payment; receipt_url and invoice_url
-- are the provider's pages of it, '' until it has them.
ALTER TABLE orders ADD COLUMN tax_behavior text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN paid_currency text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN paid_net bigint;
ALTER TABLE orders ADD COLUMN paid_tax bigint;
ALTER TABLE orders ADD COLUMN paid_gross bigint;
ALTER TABLE orders ADD COLUMN receipt_url text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN invoice_url text NOT NULL DEFAULT '';

-- What a plan costs per interval (month, year): prices as packs keep
-- theirs ("usd:900,eur:850", minor units, the first the default), or the
-- Stripe Price (price_...) a checkout uses, '' for none.
CREATE TABLE plan_prices (
    plan         text COLLATE "C" NOT NULL,
    interval     text COLLATE "C" NOT NULL,
    prices       text NOT NULL,
    stripe_price text COLLATE "C" NOT NULL,
    active       boolean NOT NULL,
    created_at   timestamptz NOT NULL,
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
    id                   text COLLATE "C" PRIMARY KEY,
    account_id           text COLLATE "C" NOT NULL,
    provider             text NOT NULL,
    customer             text COLLATE "C" NOT NULL,
    plan                 text NOT NULL,
    interval             text NOT NULL,
    currency             text NOT NULL,
    status               text NOT NULL,
    cancel_at_period_end boolean NOT NULL,
    period_start         timestamptz NOT NULL,
    period_end           timestamptz NOT NULL,
    paid_through         timestamptz,
    grace_until          timestamptz,
    fallback_plan        text NOT NULL,
    entitled             boolean NOT NULL,
    ended_at             timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    state_at             timestamptz NOT NULL
);
CREATE INDEX subscriptions_account ON subscriptions (account_id, id);
CREATE INDEX subscriptions_open ON subscriptions (id) WHERE ended_at IS NULL;

-- A subscription's invoices (id is the provider's in_...): reason is
-- Stripe's billing_reason; net + tax = gross, minor units of currency;
-- receipt_url, invoice_url (the hosted page) and pdf_url, '' when the
-- provider has none.
CREATE TABLE invoices (
    id              text COLLATE "C" PRIMARY KEY,
    subscription_id text COLLATE "C" NOT NULL,
    account_id      text COLLATE "C" NOT NULL,
    reason          text NOT NULL,
    status          text NOT NULL,
    currency        text NOT NULL,
    net             bigint NOT NULL,
    tax             bigint NOT NULL,
    gross           bigint NOT NULL,
    receipt_url     text NOT NULL,
    invoice_url     text NOT NULL,
    pdf_url         text NOT NULL,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX invoices_subscription ON invoices (subscription_id, created_at, id);
