-- Times are BIGINT Unix milliseconds (UTC) and booleans INTEGER 0/1, as in
-- PostgreSQL's translation of this migration (migrations/postgres/0001_init.sql).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    org           TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE permit_types (
    code               TEXT PRIMARY KEY,
    position           INTEGER NOT NULL,
    name_zh            TEXT NOT NULL,
    name_en            TEXT NOT NULL,
    commitment_allowed INTEGER NOT NULL,
    supplement_days    INTEGER NOT NULL,
    target_days        INTEGER NOT NULL,
    checklist          TEXT NOT NULL,
    materials          TEXT NOT NULL
);

CREATE TABLE case_counters (
    prefix TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   BIGINT NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE cases (
    id            TEXT PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    office        TEXT NOT NULL,
    permit_type   TEXT NOT NULL REFERENCES permit_types(code),
    status        TEXT NOT NULL,
    applicant_id  TEXT NOT NULL REFERENCES users(id),
    applicant_org TEXT NOT NULL,
    inspector_id  TEXT REFERENCES users(id),
    reviewer_id   TEXT REFERENCES users(id),
    site_name     TEXT NOT NULL,
    site_address  TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    submitted_at  BIGINT,
    due_at        BIGINT
);
CREATE INDEX cases_office_status ON cases(office, status);
CREATE INDEX cases_applicant_org ON cases(applicant_org);
CREATE INDEX cases_inspector ON cases(inspector_id);
CREATE INDEX cases_reviewer ON cases(reviewer_id);

CREATE TABLE evidence (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    kind          TEXT NOT NULL,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    object_key    TEXT NOT NULL,
    uploaded_by   TEXT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    media         TEXT
);
CREATE INDEX evidence_case ON evidence(case_id, created_at);

-- An upload in progress. Every byte below upload_offset is either in a part
-- listed in upload_parts or in a spool file of the part that holds it, and
-- hash_state is SHA-256 over exactly those bytes.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    evidence_id   TEXT NOT NULL,
    filename      TEXT NOT NULL,
    filetype      TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    length        BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    part_size     BIGINT NOT NULL,
    kind          TEXT NOT NULL DEFAULT '',
    content_type  TEXT NOT NULL DEFAULT '',
    object_key    TEXT NOT NULL,
    multipart_id  TEXT NOT NULL DEFAULT '',
    hash_state    BLOB,
    state         TEXT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX uploads_state_expires ON uploads(state, expires_at);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(id),
    number    INTEGER NOT NULL,
    etag      TEXT NOT NULL,
    size      BIGINT NOT NULL,
    PRIMARY KEY (upload_id, number)
);
