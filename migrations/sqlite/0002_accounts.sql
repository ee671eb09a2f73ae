-- Accounts, sessions, API tokens and login throttling.
-- Times are Unix milliseconds (INTEGER) so expiry checks are plain comparisons.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a session id is stored: a leaked database holds no
-- usable cookie.
CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_by   INTEGER NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- One row per failed login, keyed by "user:<name>" and "ip:<address>";
-- counted over a sliding hour and pruned as they age out.
CREATE TABLE login_failures (
    id     INTEGER PRIMARY KEY,
    scope  TEXT    NOT NULL,
    at     INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_by_scope ON login_failures (scope, at);
