-- credits.low fires when an account's spendable credits fall below this;
-- zero turns it off.
ALTER TABLE accounts ADD COLUMN low_balance INTEGER NOT NULL DEFAULT 0;
