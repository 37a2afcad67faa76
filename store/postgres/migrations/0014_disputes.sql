-- A dispute of an order's payment freezes the order's grant until it
-- closes: won frees it, lost takes its credits back as a refund would.
ALTER TABLE grants ADD COLUMN frozen boolean NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN dispute_id text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN dispute_status text NOT NULL DEFAULT '';
-- When an account's time zone changes, the local day in progress keeps its
-- allowance and its end, recorded here; the new zone's days start from it.
ALTER TABLE accounts ADD COLUMN timezone_from timestamptz;
-- When its plan changes, an account keeps the greater allowance of the two
-- plans until the end of the local day in progress.
ALTER TABLE accounts ADD COLUMN plan_before text NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN plan_from timestamptz;
