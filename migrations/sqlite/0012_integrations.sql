-- Host applications embedding Herald: users provisioned by the host app's
-- own id, integrations (a signing secret for connection tokens and the
-- origins allowed to call Herald from a browser), and the latest value of
-- each live topic.

-- NULL for people who registered on Herald itself. A provisioned user has
-- an empty password_hash until a password is set: no password verifies
-- against it.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_by_external_id ON users (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE integrations (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    -- The HMAC-SHA256 key of its connection tokens. Kept as is: Herald must
    -- compute the signature, so a hash would not do.
    secret     BLOB    NOT NULL,
    -- JSON array of origins ("https://shop.example").
    origins    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Latest values, not history: one row per topic, replaced by each publish.
CREATE TABLE topic_values (
    topic      TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX topic_values_by_expiry ON topic_values (expires_at);
