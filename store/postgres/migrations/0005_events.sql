CREATE TABLE webhook_endpoints (
    id         text COLLATE "C" PRIMARY KEY,
    url        text NOT NULL,
    secret     text NOT NULL,
    types      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);

-- The outbox: events are written with the change they report.
CREATE TABLE events (
    id         text COLLATE "C" PRIMARY KEY,
    type       text NOT NULL,
    account_id text NOT NULL DEFAULT '',
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE deliveries (
    event_id     text NOT NULL,
    endpoint_id  text NOT NULL,
    status       text NOT NULL, -- pending, delivered, failed
    attempts     integer NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL,
    last_error   text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending';
