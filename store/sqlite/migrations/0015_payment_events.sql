-- Every event a payment provider sends, once verified, with what was done:
-- the operator lists those that matched no order. A repeat updates its row.
CREATE TABLE payment_events (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    matched     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX payment_events_unmatched ON payment_events (id) WHERE matched = 0;
