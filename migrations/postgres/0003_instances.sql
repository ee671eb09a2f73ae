-- The instances sharing this database, for the status page's cluster view:
-- each renews its row every few seconds with its own figures. An instance
-- not heard from for a while is gone; its row is deleted after an hour.
CREATE TABLE instances (
    node         TEXT   PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    connections  BIGINT NOT NULL,
    online_users BIGINT NOT NULL
);
