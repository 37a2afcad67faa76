-- Endpoints can be disabled, and their secret rotated: the old one keeps
-- signing beside the new until old_secret_until.
ALTER TABLE webhook_endpoints ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN old_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN old_secret_until INTEGER;
