CREATE TABLE quotes (
    id         text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL,
    product    text NOT NULL,
    credits    bigint NOT NULL CHECK (credits > 0),
    details    bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- A quote pays for one job.
CREATE UNIQUE INDEX holds_quote ON holds (quote_id) WHERE quote_id <> '';
