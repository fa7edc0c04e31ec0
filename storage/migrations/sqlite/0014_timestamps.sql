-- RFC 3161 time-stamp tokens (issue 13): what each covers, and the token
-- once a time-stamping authority has signed it. A row is written pending in
-- the transaction of what it covers (an original's upload, a recording, a
-- decision or countersign) and filled in by a job, so a TSA outage never
-- blocks that transaction.
--   kind        evidence | recording (digest = the file's SHA-256) or
--               audit_head (digest = the hash of audit event audit_seq)
--   digest      hex SHA-256 the token's message imprint must equal
--   state       pending | done | failed
CREATE TABLE timestamps (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    case_id     TEXT REFERENCES cases(id),
    evidence_id TEXT REFERENCES evidence(id),
    audit_seq   BIGINT,
    digest      TEXT NOT NULL,
    state       TEXT NOT NULL,
    token       BLOB,
    gen_time    BIGINT,
    tsa_url     TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX timestamps_case ON timestamps(case_id, state);

-- A job now runs for an evidence item (the media pipeline) or for a
-- time-stamp. SQLite cannot drop a NOT NULL, so the table is rebuilt, with
-- its columns in PostgreSQL's order (timestamp_id last).
CREATE TABLE jobs_new (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    evidence_id  TEXT REFERENCES evidence(id),
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after    BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    timestamp_id TEXT REFERENCES timestamps(id)
);
INSERT INTO jobs_new (id, kind, evidence_id, state, attempts, max_attempts, run_after, lease_owner, lease_until, last_error, created_at, updated_at)
    SELECT id, kind, evidence_id, state, attempts, max_attempts, run_after, lease_owner, lease_until, last_error, created_at, updated_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_runnable ON jobs(state, run_after);
