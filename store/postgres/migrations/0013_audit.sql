-- The audit log: every admin and owner action, append-only. A trigger
-- refuses changing or deleting a row, whoever asks.
CREATE TABLE audit_log (
    id         text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    actor_key  text COLLATE "C" NOT NULL,
    actor_kind text NOT NULL,
    account_id text COLLATE "C" NOT NULL,
    action     text COLLATE "C" NOT NULL,
    target     text NOT NULL,
    request_id text NOT NULL,
    detail     text NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
