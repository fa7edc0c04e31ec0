-- Finding any case among a million (storage/case_find.go).
-- cases_queue and cases_newest: the keyset orders of the case list, as
--   expression indexes whose text is the ORDER BY's, so a page deep in the
--   list is one index seek.
-- cases_search: a pg_trgm GIN index over the number, company, site name and
--   address joined by spaces, the expression the search's ILIKE names, so
--   a substring search reads only the rows holding the trigrams. pg_trgm
--   ships with PostgreSQL (contrib) and is a trusted extension: the
--   database's owner may create it. Trigrams of Chinese text need a
--   database whose LC_CTYPE is not C (C.UTF-8 or a UTF-8 locale).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cases_queue ON cases ((COALESCE(due_at, 9223372036854775807)), (-created_at), id);
CREATE INDEX cases_newest ON cases ((-created_at), id);
CREATE INDEX cases_search ON cases USING gin ((number || ' ' || applicant_org || ' ' || site_name || ' ' || site_address) gin_trgm_ops);
