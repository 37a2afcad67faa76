-- compat: expand
-- Databases made by earlier releases whose migration 0012 was changed
-- afterwards: before it, they lack accounts.pending_holds (added, counted,
-- by the Go step of this migration, repairs.go); 0012 to 0014 index
-- pending holds by account alone, not by account and expiry.
DROP INDEX IF EXISTS holds_pending_account;
CREATE INDEX holds_pending_account ON holds (account_id, expires_at) WHERE status = 'pending';
