CREATE TABLE packs (
    id             text COLLATE "C" PRIMARY KEY,
    credits        bigint NOT NULL CHECK (credits > 0),
    price_amount   bigint NOT NULL CHECK (price_amount > 0),
    currency       text NOT NULL,
    valid_for_days integer NOT NULL CHECK (valid_for_days > 0),
    products       text NOT NULL DEFAULT '',
    active         boolean NOT NULL,
    created_at     timestamptz NOT NULL
);

CREATE TABLE orders (
    id             text COLLATE "C" PRIMARY KEY,
    account_id     text COLLATE "C" NOT NULL,
    pack_id        text NOT NULL,
    credits        bigint NOT NULL CHECK (credits > 0),
    price_amount   bigint NOT NULL,
    currency       text NOT NULL,
    valid_for_days integer NOT NULL,
    products       text NOT NULL DEFAULT '',
    status         text NOT NULL,
    provider       text NOT NULL,
    provider_ref   text NOT NULL DEFAULT '',
    refunded_credits bigint NOT NULL DEFAULT 0,
    grant_id       text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    refunded_at    timestamptz
);
CREATE INDEX orders_account ON orders (account_id);
CREATE UNIQUE INDEX orders_provider_ref ON orders (provider, provider_ref) WHERE provider_ref <> '';

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
