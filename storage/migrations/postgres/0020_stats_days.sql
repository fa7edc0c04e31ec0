-- The supervision figures' tallies of closed office days (storage/stats_days.go):
-- the counts and raw durations of one office day in one zone, as JSON,
-- counted from the audit chain once the day is over (the chain is
-- append-only, so a closed day's tallies never change). Deleting rows is
-- always safe: they are counted again when next asked for.
CREATE TABLE stats_days (
    office      TEXT NOT NULL,
    zone        TEXT NOT NULL,
    day         TEXT NOT NULL,
    tallies     TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (office, zone, day)
);
