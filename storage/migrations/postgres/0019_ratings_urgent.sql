-- 好差评: the applicant's rating of a case's final decision, once per
-- decision; the officers of that decision are kept with it for their own
-- aggregate (which never names the rater).
CREATE TABLE ratings (
    id           TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES cases(id),
    decision_id  TEXT NOT NULL UNIQUE REFERENCES decisions(id),
    rater_id     TEXT NOT NULL REFERENCES users(id),
    office       TEXT NOT NULL,
    inspector_id TEXT REFERENCES users(id),
    reviewer_id  TEXT REFERENCES users(id),
    level        INTEGER NOT NULL,
    comment      TEXT NOT NULL DEFAULT '',
    rated_at     BIGINT NOT NULL
);
CREATE INDEX ratings_case ON ratings(case_id);
CREATE INDEX ratings_inspector ON ratings(inspector_id);
CREATE INDEX ratings_reviewer ON ratings(reviewer_id);

-- 整改: the follow-up a rating of 不满意 or worse opens for the office's
-- supervisors, due by due_at, closed with an outcome the applicant sees.
CREATE TABLE followups (
    id        TEXT PRIMARY KEY,
    rating_id TEXT NOT NULL UNIQUE REFERENCES ratings(id),
    case_id   TEXT NOT NULL REFERENCES cases(id),
    office    TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    due_at    BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT REFERENCES users(id),
    outcome   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX followups_office ON followups(office, closed_at, due_at);

-- 特事特办: a case's urgent mark. urgent_until (the target time) orders
-- the queue while the case is with the office, NULL otherwise: the queue's
-- first key is the target shifted down by 2^62 (before every due time),
-- else the due time (storage/case_find.go, SortDue).
ALTER TABLE cases ADD COLUMN urgent_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN urgent_hours INTEGER;
ALTER TABLE cases ADD COLUMN urgent_set_at BIGINT;
ALTER TABLE cases ADD COLUMN urgent_until BIGINT;
DROP INDEX cases_queue;
CREATE INDEX cases_queue ON cases ((COALESCE(urgent_until - 4611686018427387904, due_at, 9223372036854775807)), (-created_at), id);
