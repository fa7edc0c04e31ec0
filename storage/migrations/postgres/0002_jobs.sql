-- Background jobs (the media pipeline). A job is leased by one worker at a
-- time; a lease that runs out (its process died) makes the job runnable
-- again.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    evidence_id  TEXT NOT NULL REFERENCES evidence(id),
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after    BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs(state, run_after);

-- What the pipeline derived from an evidence item (poster, proxy,
-- filmstrip index, page count…), as JSON.
ALTER TABLE evidence ADD COLUMN derived TEXT;
