-- An annotation insert maintained two indexes that lead with its evidence:
-- annotations_order (case, evidence, position, …: the pages of a case and
-- of one item, covering) and annotations_evidence (evidence, position, …).
-- A page of one item's annotations now names its case too, so the first
-- serves it, and the second only cost every insert a random page (in
-- SQLite's write-ahead log, about a fifth of what a create wrote).
-- Evidence rows are never deleted, so no foreign key check needs it.
DROP INDEX annotations_evidence;
