-- An upload of deferred length holds, while a PATCH to it runs, the part
-- of its company's daily quota that PATCH may take (storage/upload.go,
-- holdQuota): the company's usage counts it, so that PATCHes to the
-- company's other uploads racing it cannot spend the same bytes. 0 when
-- no PATCH runs; the offset at which the running PATCH must stop otherwise.
ALTER TABLE uploads ADD COLUMN quota_held BIGINT NOT NULL DEFAULT 0;
