-- The office's own administration (docs/ADMIN.md).
-- units: an office's units (分中心); an officer belongs to at most one
--   (users.unit_id) and a case is routed to at most one (cases.unit_id).
-- users.disabled_at: when an admin disabled the account (NULL: enabled);
--   a disabled user cannot log in and has no sessions.
-- office_settings: what an admin changed of the office's name, time zone
--   and default retention; '' or 0 leaves the command-line flag in force.
CREATE TABLE units (
    id         TEXT PRIMARY KEY,
    office     TEXT NOT NULL,
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX units_office_name_zh ON units(office, name_zh);
ALTER TABLE users ADD COLUMN unit_id TEXT REFERENCES units(id);
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE cases ADD COLUMN unit_id TEXT REFERENCES units(id);
CREATE INDEX users_unit ON users(unit_id);
CREATE INDEX cases_unit ON cases(unit_id);
CREATE TABLE office_settings (
    office         TEXT PRIMARY KEY,
    name_zh        TEXT NOT NULL DEFAULT '',
    name_en        TEXT NOT NULL DEFAULT '',
    timezone       TEXT NOT NULL DEFAULT '',
    retention_days INTEGER NOT NULL DEFAULT 0,
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL REFERENCES users(id)
);
