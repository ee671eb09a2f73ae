-- Direct and group conversations, their members and read markers, messages
-- and attachments. Every message is also written to each member's event
-- log (events), in the same transaction.

-- When the user's last event stream closed (presence "last seen").
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    title            TEXT,
    created_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- "<smaller id>:<larger id>" for direct conversations: one per pair.
    direct_key       TEXT UNIQUE,
    last_message_id  INTEGER,
    last_activity_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE conversation_members (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The newest message this member has read (0: none).
    read_up_to      INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX conversation_members_by_user ON conversation_members (user_id, conversation_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body            TEXT    NOT NULL,
    client_id       TEXT,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
-- A retried send with the same client_id finds the first message.
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;

CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    uploader_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL until a message carries it.
    message_id      INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    mime            TEXT    NOT NULL,
    -- The generated file name under <data_dir>/uploads.
    stored_name     TEXT    NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX attachments_by_message ON attachments (message_id);
