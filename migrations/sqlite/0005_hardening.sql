-- Hardening: failed sign-ins shown to the owner, the server's own secrets,
-- client_id scoped to its conversation, hidden presence.

-- Wrong passwords tried against the account since its last sign-in; shown
-- to the owner (and reset) when they next sign in.
ALTER TABLE users ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
-- The user chose not to show whether they are online.
ALTER TABLE users ADD COLUMN hide_presence INTEGER NOT NULL DEFAULT 0;

-- Keys the server generates once and keeps (the device-cookie key).
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- A client_id is unique per sender within a conversation, not across them.
DROP INDEX messages_by_client_id;
CREATE UNIQUE INDEX messages_by_client_id
    ON messages (conversation_id, sender_id, client_id) WHERE client_id IS NOT NULL;

-- Failures stored under names no account can have (before names were
-- checked) are dropped.
DELETE FROM login_failures WHERE length(scope) > 80;

-- Presence is shown only to members of conversations a user has written in.
CREATE INDEX messages_by_sender ON messages (sender_id, conversation_id);
