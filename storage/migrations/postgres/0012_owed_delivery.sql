-- 承诺办 followed through: the applicant's signed commitment, each owed
-- item's delivered upload and the inspector's acceptance or return, and
-- the moment an approved case owed nothing any more.
CREATE TABLE commitments (
    case_id      TEXT PRIMARY KEY REFERENCES cases(id),
    items        TEXT NOT NULL,
    statement_zh TEXT NOT NULL,
    statement_en TEXT NOT NULL,
    signer_name  TEXT NOT NULL,
    signer_id    TEXT NOT NULL REFERENCES users(id),
    signed_at    BIGINT NOT NULL
);
ALTER TABLE owed_items ADD COLUMN evidence_id TEXT;
ALTER TABLE owed_items ADD COLUMN delivered_at BIGINT;
ALTER TABLE owed_items ADD COLUMN returned_at BIGINT;
ALTER TABLE owed_items ADD COLUMN return_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN owed_closed_at BIGINT;
CREATE INDEX owed_open_due ON owed_items(due_at) WHERE fulfilled_at IS NULL;
