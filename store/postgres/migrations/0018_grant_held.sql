-- What pending holds hold on each grant, kept by the ledger as holds are
-- made and closed, so that a balance or a refund reads the grants instead
-- of every pending hold. Filled here from the pending holds' allocations
-- ("grant:amount" joined by ";"). Binaries that do not keep it must not
-- write holds: this is not an expand-only migration.
ALTER TABLE grants ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
UPDATE grants g SET held = s.amount
FROM (
    SELECT split_part(a, ':', 1) AS grant_id, sum(split_part(a, ':', 2)::bigint)::bigint AS amount
    FROM holds, unnest(string_to_array(allocations, ';')) AS a
    WHERE status = 'pending' AND allocations <> ''
    GROUP BY 1
) s
WHERE g.id = s.grant_id COLLATE "C";
