-- Uploads continue on any replica (docs/UPLOADS.md, "Several replicas").
-- The bytes of an open upload after its last full part (its tail) are
-- stored at the end of each PATCH as the object
-- cases/{case}/uploads/{upload}/tail-{tail_id}, so a PATCH that lands on
-- another replica fetches them instead of needing the first one's spool.
-- tail_id: names the tail object the committed offset counts on; '' when
--   the offset is at a part boundary (or for a row written before this).
-- tail_size: that object's length in bytes.
ALTER TABLE uploads ADD COLUMN tail_id TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN tail_size BIGINT NOT NULL DEFAULT 0;
