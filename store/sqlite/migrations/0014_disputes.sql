-- A dispute of an order's payment freezes the order's grant until it
-- closes: won frees it, lost takes its credits back as a refund would.
ALTER TABLE grants ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN dispute_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN dispute_status TEXT NOT NULL DEFAULT '';
