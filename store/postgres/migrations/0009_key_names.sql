-- Keys are listed by a name their creator gives, the first characters of
-- their secret (enough to recognise one, too few to use it) and when they
-- were last used.
ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN prefix text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_account ON api_keys (account_id);
