-- Up to three buttons per notification: a JSON array of
-- {"label", "url", "method"?, "body"?}; NULL when there are none.
ALTER TABLE notifications ADD COLUMN actions TEXT;
