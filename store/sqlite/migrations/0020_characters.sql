-- compat: expand
-- Characters: likenesses made from an uploaded clip at a provider, for an
-- account's videos. The columns are what is looked up (by id, an
-- account's count); the rest is the document doc, JSON.
CREATE TABLE characters (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX characters_account ON characters (account_id, id);
