-- A batch's id, on its last journal row, is unique and found by an index:
-- BatchStatus can tell any batch's fate (not only one whose COMMIT failed
-- in this process), and an id taken is refused as the batches table
-- refuses it. One entry per batch; BatchPurge clears old ones.
CREATE UNIQUE INDEX journal_batch ON journal (batch) WHERE batch IS NOT NULL;
