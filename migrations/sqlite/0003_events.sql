-- The durable per-user event log, notifications, preferences and publish
-- idempotency.

-- Per-user sequence: bumped inside the transaction that writes an event, so
-- sequence numbers are gap-free and in commit order. pruned_seq is the
-- highest sequence removed by retention: resuming from below it is a reset.
ALTER TABLE users ADD COLUMN event_seq  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pruned_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL, -- the event name, equal to the payload's "type"
    payload    TEXT    NOT NULL, -- the Event as JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;

CREATE INDEX events_by_age ON events (created_at);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category   TEXT    NOT NULL CHECK (category IN ('job', 'message', 'comment', 'payment', 'social', 'system')),
    priority   TEXT    NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    url        TEXT,
    key        TEXT,
    actor_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    data       TEXT, -- JSON object
    read_at    INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_by_key ON notifications (user_id, key) WHERE key IS NOT NULL;

CREATE TABLE preferences (
    user_id               INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    muted_categories      TEXT    NOT NULL DEFAULT '[]',
    sound                 INTEGER NOT NULL DEFAULT 0,
    browser_notifications INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The first answer to a publish with an Idempotency-Key, replayed to retries.
CREATE TABLE idempotency_keys (
    publisher  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (publisher, key)
) STRICT, WITHOUT ROWID;
