CREATE TABLE quotes (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    product    TEXT NOT NULL,
    credits    INTEGER NOT NULL CHECK (credits > 0),
    details    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- A quote pays for one job.
CREATE UNIQUE INDEX holds_quote ON holds (quote_id) WHERE quote_id <> '';
