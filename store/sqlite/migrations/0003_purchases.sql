CREATE TABLE packs (
    id             TEXT PRIMARY KEY,
    credits        INTEGER NOT NULL CHECK (credits > 0),
    price_amount   INTEGER NOT NULL CHECK (price_amount > 0),
    currency       TEXT NOT NULL,
    valid_for_days INTEGER NOT NULL CHECK (valid_for_days > 0),
    products       TEXT NOT NULL DEFAULT '',
    active         INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    pack_id        TEXT NOT NULL,
    credits        INTEGER NOT NULL CHECK (credits > 0),
    price_amount   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    valid_for_days INTEGER NOT NULL,
    products       TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    provider       TEXT NOT NULL,
    provider_ref   TEXT NOT NULL DEFAULT '',
    refunded_credits INTEGER NOT NULL DEFAULT 0,
    grant_id       TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    completed_at   INTEGER,
    refunded_at    INTEGER
);
CREATE INDEX orders_account ON orders (account_id);
CREATE UNIQUE INDEX orders_provider_ref ON orders (provider, provider_ref) WHERE provider_ref <> '';

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
