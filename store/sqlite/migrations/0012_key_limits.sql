-- Keys can be limited to some scopes ("read", "write") and products, can
-- expire, and can lower their plan's limits ("rps,concurrent,pending");
-- plans set limits for their accounts' keys. "" is every scope, every
-- product and the defaults. A hold remembers the key that made it, so a
-- key's pending holds can be counted. An account counts its pending holds.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN products TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN limits TEXT NOT NULL DEFAULT '';
ALTER TABLE plan_versions ADD COLUMN limits TEXT NOT NULL DEFAULT '';
ALTER TABLE holds ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
-- Pending holds are counted per account, and read per account by the cache.
CREATE INDEX holds_pending_account ON holds (account_id, expires_at) WHERE status = 'pending';
ALTER TABLE accounts ADD COLUMN pending_holds INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET pending_holds = (SELECT count(*) FROM holds
    WHERE holds.account_id = accounts.id AND holds.status = 'pending');
