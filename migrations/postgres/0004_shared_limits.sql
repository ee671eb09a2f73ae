-- What several instances must agree on to limit one client: rate limits
-- and streams per user. These rows are worth nothing after a crash (a rate
-- limit starts afresh, presence is renewed within seconds), so the tables
-- are UNLOGGED: no WAL, no fsync, on a path taken by every publish.

ALTER TABLE presence SET UNLOGGED;
-- How many of the user's streams the instance holds, written when it
-- changes: the per-user connection cap counts the other instances' too.
ALTER TABLE presence ADD COLUMN streams INTEGER NOT NULL DEFAULT 1;
-- A row no longer expires by itself: it lives as long as its instance's
-- row in `instances` is renewed. Renewing every user's row every few
-- seconds cost a write per online user per heartbeat (200,000 rows a
-- second at a million users); now an instance writes only what changed.
ALTER TABLE presence DROP COLUMN expires_at;

-- Token buckets (publishing, conversations, membership changes) kept as a
-- "theoretical arrival time" (GCRA): the bucket is full when tat <= now.
CREATE UNLOGGED TABLE rate_buckets (
    key TEXT   PRIMARY KEY,
    tat BIGINT NOT NULL
);

-- Sliding windows ("at most N in any minute": chat, registrations): the
-- times of the recent actions, at most N of them.
CREATE UNLOGGED TABLE rate_windows (
    key        TEXT     PRIMARY KEY,
    times      BIGINT[] NOT NULL,
    expires_at BIGINT   NOT NULL
);

-- Takes `cost` microseconds of a bucket that holds `burst` microseconds
-- of actions. Answers 0 when allowed, or how many microseconds to wait.
-- Times are the database's clock, shared by every instance.
CREATE FUNCTION herald_take_bucket(k TEXT, cost BIGINT, burst BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    now_us BIGINT := (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
    current_tat BIGINT;
BEGIN
    IF cost > burst THEN
        RETURN burst;
    END IF;
    INSERT INTO rate_buckets AS b (key, tat) VALUES (k, now_us + cost)
    ON CONFLICT (key) DO UPDATE SET tat = GREATEST(b.tat, now_us) + cost
        WHERE GREATEST(b.tat, now_us) + cost - now_us <= burst
    RETURNING b.tat INTO current_tat;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT b.tat INTO current_tat FROM rate_buckets b WHERE b.key = k;
    RETURN GREATEST(GREATEST(current_tat, now_us) + cost - now_us - burst, 1);
END
$$;

-- Takes one action of a window allowing `lim` in any `window_us`. Answers
-- 0 when allowed, or how many microseconds until the oldest leaves it.
CREATE FUNCTION herald_take_window(k TEXT, lim BIGINT, window_us BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    now_us BIGINT := (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
    oldest BIGINT;
BEGIN
    INSERT INTO rate_windows AS w (key, times, expires_at)
    VALUES (k, ARRAY[now_us], now_us + window_us)
    ON CONFLICT (key) DO UPDATE
        SET times = ARRAY(SELECT t FROM unnest(w.times) t WHERE t > now_us - window_us ORDER BY t)
                    || now_us,
            expires_at = now_us + window_us
        WHERE (SELECT count(*) FROM unnest(w.times) t WHERE t > now_us - window_us) < lim;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT min(t) INTO oldest FROM rate_windows w, unnest(w.times) t
    WHERE w.key = k AND t > now_us - window_us;
    RETURN GREATEST(oldest + window_us - now_us, 1);
END
$$;
