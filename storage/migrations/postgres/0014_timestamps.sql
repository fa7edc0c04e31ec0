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
    token       BYTEA,
    gen_time    BIGINT,
    tsa_url     TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX timestamps_case ON timestamps(case_id, state);

-- A job now runs for an evidence item (the media pipeline) or for a
-- time-stamp.
ALTER TABLE jobs ALTER COLUMN evidence_id DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN timestamp_id TEXT REFERENCES timestamps(id);
