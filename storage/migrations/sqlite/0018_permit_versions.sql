-- The permit catalogue is edited by admins (docs/CATALOGUE.md). Each edit
-- publishes a new version of the type; permit_types keeps the current one
-- (what new cases get) and permit_type_versions every version ever
-- published, so that a case keeps the checklist it was reviewed against.
CREATE TABLE permit_type_versions (
    code               TEXT NOT NULL REFERENCES permit_types(code),
    version            INTEGER NOT NULL,
    name_zh            TEXT NOT NULL,
    name_en            TEXT NOT NULL,
    commitment_allowed INTEGER NOT NULL,
    supplement_days    INTEGER NOT NULL,
    target_days        INTEGER NOT NULL,
    checklist          TEXT NOT NULL,
    materials          TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    created_by         TEXT REFERENCES users(id),
    PRIMARY KEY (code, version)
);
ALTER TABLE permit_types ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- A retired type takes no new cases; its old cases go on as before.
ALTER TABLE permit_types ADD COLUMN retired_at BIGINT;
-- The catalogue as it stood is version 1 of every type.
INSERT INTO permit_type_versions (code, version, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials, created_at, created_by)
    SELECT code, 1, name_zh, name_en, commitment_allowed, supplement_days, target_days, checklist, materials, CAST(strftime('%s','now') AS INTEGER) * 1000, NULL FROM permit_types;
-- The version of its type a case was opened (and last submitted) with.
ALTER TABLE cases ADD COLUMN permit_version INTEGER NOT NULL DEFAULT 1;
