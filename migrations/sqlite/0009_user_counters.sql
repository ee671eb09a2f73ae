-- Each user's event counters and unread count in a narrow table of their
-- own. On `users` (with names and a password hash, about 20 rows a page)
-- every publish rewrote a wide row, and a broadcast to 10,000 users dirtied
-- every page of the table, twice per user (the unread trigger, then the
-- sequence bump). Here about 200 users share a page.
CREATE TABLE user_counters (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    event_seq    INTEGER NOT NULL DEFAULT 0,
    pruned_seq   INTEGER NOT NULL DEFAULT 0,
    unread_count INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO user_counters (user_id, event_seq, pruned_seq, unread_count)
    SELECT id, event_seq, pruned_seq, unread_count FROM users;

-- Every user has a row from the moment the user exists.
CREATE TRIGGER users_counters AFTER INSERT ON users
BEGIN
    INSERT INTO user_counters (user_id) VALUES (NEW.id);
END;

-- The unread triggers of 0006, now keeping the count here.
DROP TRIGGER notifications_unread_insert;
DROP TRIGGER notifications_unread_delete;
DROP TRIGGER notifications_unread_update;

CREATE TRIGGER notifications_unread_insert AFTER INSERT ON notifications
WHEN NEW.read_at IS NULL
BEGIN
    UPDATE user_counters SET unread_count = unread_count + 1 WHERE user_id = NEW.user_id;
END;

CREATE TRIGGER notifications_unread_delete AFTER DELETE ON notifications
WHEN OLD.read_at IS NULL
BEGIN
    UPDATE user_counters SET unread_count = unread_count - 1 WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER notifications_unread_update AFTER UPDATE OF read_at, user_id ON notifications
WHEN (OLD.read_at IS NULL) != (NEW.read_at IS NULL) OR OLD.user_id != NEW.user_id
BEGIN
    UPDATE user_counters SET unread_count = unread_count - 1
        WHERE user_id = OLD.user_id AND OLD.read_at IS NULL;
    UPDATE user_counters SET unread_count = unread_count + 1
        WHERE user_id = NEW.user_id AND NEW.read_at IS NULL;
END;

ALTER TABLE users DROP COLUMN unread_count;
ALTER TABLE users DROP COLUMN event_seq;
ALTER TABLE users DROP COLUMN pruned_seq;
