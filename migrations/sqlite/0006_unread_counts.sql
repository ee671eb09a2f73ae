-- Each user's unread notification count, kept by triggers on every change
-- to notifications: a publish reads one row instead of counting the
-- user's unread notifications (which grew with every one of them). Every
-- write path, present and future, keeps it exact without remembering to.
ALTER TABLE users ADD COLUMN unread_count INTEGER NOT NULL DEFAULT 0;
UPDATE users SET unread_count =
    (SELECT COUNT(*) FROM notifications n WHERE n.user_id = users.id AND n.read_at IS NULL);

CREATE TRIGGER notifications_unread_insert AFTER INSERT ON notifications
WHEN NEW.read_at IS NULL
BEGIN
    UPDATE users SET unread_count = unread_count + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER notifications_unread_delete AFTER DELETE ON notifications
WHEN OLD.read_at IS NULL
BEGIN
    UPDATE users SET unread_count = unread_count - 1 WHERE id = OLD.user_id;
END;

CREATE TRIGGER notifications_unread_update AFTER UPDATE OF read_at, user_id ON notifications
WHEN (OLD.read_at IS NULL) != (NEW.read_at IS NULL) OR OLD.user_id != NEW.user_id
BEGIN
    UPDATE users SET unread_count = unread_count - 1
        WHERE id = OLD.user_id AND OLD.read_at IS NULL;
    UPDATE users SET unread_count = unread_count + 1
        WHERE id = NEW.user_id AND NEW.read_at IS NULL;
END;

-- The count was the partial index's main reader; every publish paid for
-- it with one more page written per recipient. Unread-only lists and
-- "mark all read" walk notifications_by_user instead.
DROP INDEX notifications_unread;
