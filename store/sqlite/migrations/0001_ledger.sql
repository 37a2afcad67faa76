-- Times are microseconds since the Unix epoch, UTC. Credits are micro-credits.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE plan_versions (
    plan         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    allowances   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (plan, version)
);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    source       TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remaining    INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    products     TEXT NOT NULL DEFAULT '',
    priority     INTEGER NOT NULL DEFAULT 0,
    effective_at INTEGER NOT NULL,
    expires_at   INTEGER,
    expired_at   INTEGER,
    external_ref TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
);
CREATE INDEX grants_account ON grants (account_id);
CREATE UNIQUE INDEX grants_external_ref ON grants (account_id, external_ref) WHERE external_ref <> '';
CREATE INDEX grants_due ON grants (expires_at) WHERE expired_at IS NULL AND expires_at IS NOT NULL;

CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    product     TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    captured    INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status      TEXT NOT NULL,
    allocations TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '',
    quote_id    TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    settled_at  INTEGER
);
CREATE INDEX holds_pending ON holds (expires_at) WHERE status = 'pending';

-- The journal: one row per transaction (per account), its entries packed in
-- lines as "book|grant|hold|amount" joined by ";". One row and one index
-- entry per transaction instead of one per entry keeps the write path short.
-- Entry ids are id * 1024 + the line's index.
CREATE TABLE journal (
    id         INTEGER PRIMARY KEY,
    txn_id     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    account_id TEXT NOT NULL,
    lines      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX journal_account ON journal (account_id, id);

CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
