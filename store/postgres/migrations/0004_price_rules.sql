CREATE TABLE price_rules (
    id           text COLLATE "C" NOT NULL,
    product      text NOT NULL,
    meter        text NOT NULL,
    tier         text NOT NULL DEFAULT '',
    resolution   text NOT NULL DEFAULT '',
    per          bigint NOT NULL CHECK (per > 0),
    credits      bigint NOT NULL CHECK (credits >= 0),
    effective_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (id, effective_at)
);
