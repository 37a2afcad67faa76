CREATE TABLE price_rules (
    id           TEXT NOT NULL,
    product      TEXT NOT NULL,
    meter        TEXT NOT NULL,
    tier         TEXT NOT NULL DEFAULT '',
    resolution   TEXT NOT NULL DEFAULT '',
    per          INTEGER NOT NULL CHECK (per > 0),
    credits      INTEGER NOT NULL CHECK (credits >= 0),
    effective_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (id, effective_at)
);
