-- Every event a payment provider sends, once verified, with what was done:
-- the operator lists those that matched no order. A repeat updates its row.
CREATE TABLE payment_events (
    id          text COLLATE "C" PRIMARY KEY,
    provider    text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    object_id   text NOT NULL,
    order_id    text NOT NULL,
    matched     boolean NOT NULL,
    outcome     text NOT NULL,
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX payment_events_unmatched ON payment_events (id) WHERE NOT matched;
