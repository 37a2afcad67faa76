-- What pending holds hold on each grant, kept by the ledger as holds are
-- made and closed, so that a balance or a refund reads the grants instead
-- of every pending hold. Filled here from the pending holds' allocations
-- ("grant:amount" joined by ";"). Binaries that do not keep it must not
-- write holds: this is not an expand-only migration.
ALTER TABLE grants ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);
WITH RECURSIVE parts(rest, item) AS (
    SELECT allocations || ';', NULL FROM holds WHERE status = 'pending' AND allocations <> ''
    UNION ALL
    SELECT substr(rest, instr(rest, ';') + 1), substr(rest, 1, instr(rest, ';') - 1) FROM parts WHERE rest <> ''
), sums(grant_id, amount) AS MATERIALIZED (
    SELECT substr(item, 1, instr(item, ':') - 1), sum(CAST(substr(item, instr(item, ':') + 1) AS INTEGER))
    FROM parts WHERE item IS NOT NULL GROUP BY 1
)
UPDATE grants SET held = sums.amount FROM sums WHERE grants.id = sums.grant_id;
