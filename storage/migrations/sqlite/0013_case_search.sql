-- Finding any case among a million (storage/case_find.go).
-- cases_queue and cases_newest: the keyset orders of the case list, as
--   expression indexes whose text is the ORDER BY's, so a page deep in the
--   list is one index seek.
-- cases_search: an FTS5 trigram table (SQLite >= 3.34) over the number,
--   company, site name and address, for substring search. It keeps its own
--   copy of the text with the case id (a case's rowid is not stable across
--   VACUUM), filled by the triggers below. Cases are never deleted and these
--   columns do not change after a case opens, so the update and delete
--   triggers, which look the row up by the unindexed case_id, are rare.
CREATE INDEX cases_queue ON cases (COALESCE(due_at, 9223372036854775807), (-created_at), id);
CREATE INDEX cases_newest ON cases ((-created_at), id);
CREATE VIRTUAL TABLE cases_search USING fts5(case_id UNINDEXED, body, tokenize = 'trigram');
INSERT INTO cases_search (case_id, body)
    SELECT id, number || ' ' || applicant_org || ' ' || site_name || ' ' || site_address FROM cases;
CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN
    INSERT INTO cases_search (case_id, body)
        VALUES (new.id, new.number || ' ' || new.applicant_org || ' ' || new.site_name || ' ' || new.site_address);
END;
CREATE TRIGGER cases_search_update AFTER UPDATE OF number, applicant_org, site_name, site_address ON cases BEGIN
    UPDATE cases_search SET body = new.number || ' ' || new.applicant_org || ' ' || new.site_name || ' ' || new.site_address
        WHERE case_id = old.id;
END;
CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN
    DELETE FROM cases_search WHERE case_id = old.id;
END;
