-- compat: expand
-- Databases made by releases whose migration 0012 was changed afterwards
-- lack accounts.pending_holds: add it and count each account's pending holds.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'accounts' AND column_name = 'pending_holds') THEN
        ALTER TABLE accounts ADD COLUMN pending_holds integer NOT NULL DEFAULT 0;
        UPDATE accounts SET pending_holds = (SELECT count(*) FROM holds
            WHERE holds.account_id = accounts.id AND holds.status = 'pending');
    END IF;
END
$$;
