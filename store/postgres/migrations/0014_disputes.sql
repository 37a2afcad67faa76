-- A dispute of an order's payment freezes the order's grant until it
-- closes: won frees it, lost takes its credits back as a refund would.
ALTER TABLE grants ADD COLUMN frozen boolean NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN dispute_id text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN dispute_status text NOT NULL DEFAULT '';
