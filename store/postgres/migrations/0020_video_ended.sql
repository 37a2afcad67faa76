-- compat: expand
-- When a video job ended (completed or failed), for reports over a period
-- (margin): set by the update that ends it. Jobs that ended before this
-- migration get it from their document.
ALTER TABLE videos ADD COLUMN ended_at timestamptz;
UPDATE videos SET ended_at = (doc::jsonb ->> 'CompletedAt')::timestamptz
 WHERE status IN ('completed', 'failed') AND doc::jsonb ->> 'CompletedAt' IS NOT NULL;
CREATE INDEX videos_ended ON videos (ended_at, id) WHERE ended_at IS NOT NULL;
