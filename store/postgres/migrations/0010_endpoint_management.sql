-- Endpoints can be disabled, and their secret rotated: the old one keeps
-- signing beside the new until old_secret_until.
ALTER TABLE webhook_endpoints ADD COLUMN disabled boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_endpoints ADD COLUMN old_secret text NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN old_secret_until timestamptz;
