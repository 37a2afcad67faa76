CREATE TABLE webhook_endpoints (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    types      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- The outbox: events are written with the change they report.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    account_id TEXT NOT NULL DEFAULT '',
    payload    BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE deliveries (
    event_id     TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    status       TEXT NOT NULL, -- pending, delivered, failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending';
