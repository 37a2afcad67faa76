-- An order keeps its checkout session (provider_ref) and, once paid, the
-- payment's own reference (payment_ref, a Stripe PaymentIntent), by which
-- refunds and disputes find it. A payment that does not match the order it
-- names grants nothing and is described in payment_problem.
ALTER TABLE orders ADD COLUMN payment_ref text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN payment_problem text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX orders_payment_ref ON orders (provider, payment_ref) WHERE payment_ref <> '';
