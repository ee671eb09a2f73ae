-- Web Push: the devices that receive a user's notifications while no Herald
-- page of theirs is open, and the user's switch for it.

-- One row per browser push subscription (RFC 8030). The endpoint is the
-- device: subscribing it again, as anyone, updates this row.
CREATE TABLE push_subscriptions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint     TEXT    NOT NULL UNIQUE,
    -- The browser's P-256 key and auth secret (base64url), RFC 8291.
    p256dh       TEXT    NOT NULL,
    auth         TEXT    NOT NULL,
    -- What the user sees in their device list ("Chrome on Android").
    label        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_push_at INTEGER,
    -- Pushes refused in a row, and the latest reason.
    failures     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;

CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);

-- Push on (the default) or off for all of the user's devices.
ALTER TABLE preferences ADD COLUMN push INTEGER NOT NULL DEFAULT 1;
