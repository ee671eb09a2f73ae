-- Who is connected where, when several instances share the database: one
-- row per user and instance holding at least one of the user's streams,
-- kept alive by that instance's heartbeat. A row past expires_at belongs
-- to an instance that stopped without saying so; whichever instance
-- deletes it first announces the user offline, if no other row is left.
CREATE TABLE presence (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, node)
);

CREATE INDEX presence_by_expiry ON presence (expires_at);
