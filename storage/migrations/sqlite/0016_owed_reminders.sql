-- 承诺办: when an overdue owed item was last reminded of (once a day).
ALTER TABLE owed_items ADD COLUMN reminded_at BIGINT;
