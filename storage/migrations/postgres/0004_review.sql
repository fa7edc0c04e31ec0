-- The append-only audit chain: each event's hash is SHA-256 over the
-- previous event's hash and the event's canonical JSON.
CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,
    case_id   TEXT,
    actor_id  TEXT,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL DEFAULT '',
    data      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_case ON audit_events(case_id, seq);

-- Annotations on evidence: at a moment or over a range of a video (in
-- milliseconds and frames), on a PDF page, or on an image; deletes are
-- soft. Every edit keeps the previous version in annotation_versions.
CREATE TABLE annotations (
    id             TEXT PRIMARY KEY,
    case_id        TEXT NOT NULL REFERENCES cases(id),
    evidence_id    TEXT NOT NULL REFERENCES evidence(id),
    author_id      TEXT NOT NULL REFERENCES users(id),
    body           TEXT NOT NULL,
    start_ms       BIGINT,
    end_ms         BIGINT,
    start_frame    BIGINT,
    end_frame      BIGINT,
    page           BIGINT,
    shape          TEXT,
    checklist_item TEXT NOT NULL DEFAULT '',
    severity       TEXT NOT NULL,
    position       BIGINT NOT NULL,
    resolved_at    BIGINT,
    resolved_by    TEXT,
    deleted_at     BIGINT,
    deleted_by     TEXT,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
-- position is start_ms, page or 0: the order a reviewer reads them in.
CREATE INDEX annotations_order ON annotations(case_id, evidence_id, position, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX annotations_evidence ON annotations(evidence_id, position, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE annotation_versions (
    annotation_id TEXT NOT NULL REFERENCES annotations(id),
    version       BIGINT NOT NULL,
    content       TEXT NOT NULL,
    edited_by     TEXT NOT NULL,
    edited_at     BIGINT NOT NULL,
    PRIMARY KEY (annotation_id, version)
);

CREATE TABLE annotation_replies (
    id            TEXT PRIMARY KEY,
    annotation_id TEXT NOT NULL REFERENCES annotations(id),
    author_id     TEXT NOT NULL REFERENCES users(id),
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX replies_annotation ON annotation_replies(annotation_id, created_at);

-- One finding per checklist item of a case.
CREATE TABLE findings (
    case_id        TEXT NOT NULL REFERENCES cases(id),
    checklist_item TEXT NOT NULL,
    result         TEXT NOT NULL,
    note           TEXT NOT NULL,
    annotation_ids TEXT NOT NULL,
    author_id      TEXT NOT NULL REFERENCES users(id),
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (case_id, checklist_item)
);

-- Decisions, one per round: the inspector proposes, the reviewer
-- countersigns or returns it.
CREATE TABLE decisions (
    id               TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL REFERENCES cases(id),
    outcome          TEXT NOT NULL,
    summary          TEXT NOT NULL,
    inspector_id     TEXT NOT NULL REFERENCES users(id),
    decided_at       BIGINT NOT NULL,
    reviewer_id      TEXT REFERENCES users(id),
    countersigned_at BIGINT,
    agree            INTEGER,
    comment          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX decisions_case ON decisions(case_id, decided_at);

-- Materials the applicant still owes (supplement requests, or a
-- commitment-based approval).
CREATE TABLE owed_items (
    id           TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES cases(id),
    text         TEXT NOT NULL,
    due_at       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    fulfilled_at BIGINT
);
CREATE INDEX owed_case ON owed_items(case_id);
