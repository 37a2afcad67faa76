-- Every ledger batch writes its id in its own transaction, so that when the
-- answer to its COMMIT is lost the ledger can tell whether it took effect:
-- on the last journal row it writes, or, when it writes no journal entries,
-- here. Ids start with the batch's time in microseconds (id >> 8), so old
-- ones are purged by id.
CREATE TABLE batches (
    id INTEGER PRIMARY KEY
);
ALTER TABLE journal ADD COLUMN batch INTEGER;

-- Credits a refund has claimed that pending holds still hold: they go to the
-- refunds book, not back to the grant, when the holds return them.
ALTER TABLE grants ADD COLUMN refund_owed INTEGER NOT NULL DEFAULT 0 CHECK (refund_owed >= 0);
