-- Herald's schema starts here; later migrations add the domain tables.
-- Instance-level facts (e.g. when this database was created).
CREATE TABLE herald_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

INSERT INTO herald_meta (key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
