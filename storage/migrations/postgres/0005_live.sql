-- Live inspections: one row per session. The publish token is stored only
-- as its SHA-256; evidence_id is the recording once the session has ended.
CREATE TABLE live_sessions (
    id               TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL REFERENCES cases(id),
    created_by       TEXT NOT NULL REFERENCES users(id),
    status           TEXT NOT NULL,
    scheduled_at     BIGINT,
    token_hash       TEXT NOT NULL,
    token_expires_at BIGINT NOT NULL,
    started_at       BIGINT,
    ended_at         BIGINT,
    end_reason       TEXT NOT NULL DEFAULT '',
    evidence_id      TEXT REFERENCES evidence(id),
    created_at       BIGINT NOT NULL
);
CREATE INDEX live_sessions_case ON live_sessions(case_id, created_at);
CREATE UNIQUE INDEX live_sessions_one_open ON live_sessions(case_id) WHERE status = 'open';

-- Annotations made while watching live, at a position in the recording;
-- they become ordinary annotations on the recording evidence when the
-- pipeline has made it ready (annotation_id is then set).
CREATE TABLE live_annotations (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES live_sessions(id),
    author_id      TEXT NOT NULL REFERENCES users(id),
    body           TEXT NOT NULL,
    shape          TEXT,
    checklist_item TEXT NOT NULL DEFAULT '',
    severity       TEXT NOT NULL,
    recording_ms   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    annotation_id  TEXT REFERENCES annotations(id)
);
CREATE INDEX live_annotations_session ON live_annotations(session_id, recording_ms);
