-- A token's own publish limit (notifications per minute); NULL means the
-- server's `publish_rate_per_minute`.
ALTER TABLE api_tokens ADD COLUMN publish_rate_per_minute INTEGER
    CHECK (publish_rate_per_minute IS NULL OR publish_rate_per_minute > 0);
