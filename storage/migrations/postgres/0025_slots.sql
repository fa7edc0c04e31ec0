-- Document slots: an evidence item may be filed under one of the case's
-- permit type version's materials (its Chinese name). A file removed from
-- a draft is only marked: originals may be WORM-locked in the store.
ALTER TABLE evidence ADD COLUMN slot TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN removed_at BIGINT;
ALTER TABLE evidence ADD COLUMN removed_by TEXT NOT NULL DEFAULT '';
-- A permit type version whose materials must each be in a slot (or owed
-- under a signed commitment) before the case can be submitted.
ALTER TABLE permit_types ADD COLUMN slots_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE permit_type_versions ADD COLUMN slots_required INTEGER NOT NULL DEFAULT 0;
