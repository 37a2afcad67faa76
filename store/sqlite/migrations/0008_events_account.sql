-- The last event of a type for an account: credits.low is sent at most
-- once an hour per account.
CREATE INDEX events_account_type ON events (account_id, type, created_at);
