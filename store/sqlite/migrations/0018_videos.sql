-- Video jobs. The columns are what is looked up (an account's videos by id,
-- the jobs due to the runner) and what a write checks (version); the rest
-- of the job is the document doc, JSON.
CREATE TABLE videos (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    next_at    INTEGER,
    deleted_at INTEGER,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX videos_account ON videos (account_id, id);
CREATE INDEX videos_due ON videos (next_at) WHERE next_at IS NOT NULL;

-- A webhook endpoint an account key registers gets its account's events
-- only; an admin's ('') gets every account's.
ALTER TABLE webhook_endpoints ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id);
