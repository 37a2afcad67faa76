-- Times are timestamptz (microseconds, UTC). Credits are micro-credits.
-- Ids and the other text columns that results are ordered by use the "C"
-- collation: byte order, as in SQLite and Go, whatever the database's locale.
CREATE TABLE accounts (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    plan       text NOT NULL,
    timezone   text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL DEFAULT '',
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE plan_versions (
    plan         text COLLATE "C" NOT NULL,
    version      integer NOT NULL,
    effective_at timestamptz NOT NULL,
    allowances   text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (plan, version)
);

CREATE TABLE grants (
    id           text COLLATE "C" PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL,
    source       text NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    remaining    bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    products     text NOT NULL DEFAULT '',
    priority     integer NOT NULL DEFAULT 0,
    effective_at timestamptz NOT NULL,
    expires_at   timestamptz,
    expired_at   timestamptz,
    external_ref text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL
);
CREATE INDEX grants_account ON grants (account_id);
CREATE UNIQUE INDEX grants_external_ref ON grants (account_id, external_ref) WHERE external_ref <> '';
CREATE INDEX grants_due ON grants (expires_at) WHERE expired_at IS NULL AND expires_at IS NOT NULL;

CREATE TABLE holds (
    id          text COLLATE "C" PRIMARY KEY,
    account_id  text COLLATE "C" NOT NULL,
    product     text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    captured    bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status      text NOT NULL,
    allocations text NOT NULL,
    metadata    text NOT NULL DEFAULT '',
    quote_id    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    settled_at  timestamptz
);
CREATE INDEX holds_pending ON holds (account_id, expires_at) WHERE status = 'pending';

CREATE TABLE entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id     text COLLATE "C" NOT NULL,
    kind       text NOT NULL,
    account_id text COLLATE "C" NOT NULL,
    book       text COLLATE "C" NOT NULL,
    grant_id   text COLLATE "C" NOT NULL DEFAULT '',
    hold_id    text COLLATE "C" NOT NULL DEFAULT '',
    amount     bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX entries_account ON entries (account_id, id);

CREATE TABLE idempotency (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
