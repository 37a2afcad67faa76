-- compat: expand
-- A pack's price in other currencies than its default (price_amount,
-- currency): "eur:380,idr:6500000", minor units as Stripe counts them;
-- empty when it is sold in one currency.
ALTER TABLE packs ADD COLUMN prices TEXT NOT NULL DEFAULT '';

-- The currency an account buys in, when it chose one ('' otherwise: its
-- requests' language decides).
ALTER TABLE accounts ADD COLUMN currency TEXT NOT NULL DEFAULT '';
