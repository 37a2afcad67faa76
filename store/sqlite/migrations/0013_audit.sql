-- The audit log: every admin and owner action, append-only. Triggers refuse
-- changing or deleting a row, whoever asks.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    actor_key  TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
