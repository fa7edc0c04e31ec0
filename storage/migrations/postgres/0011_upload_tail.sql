-- Uploads continue on any replica (docs/UPLOADS.md, "Several replicas").
-- The bytes of an open upload after its last full part (its tail) are
-- in the object store, not only in one replica's spool: each PATCH that
-- ends with a tail stores the bytes it added to it as one segment object,
-- cases/{case}/uploads/{upload}/tail-{segment id}, before committing.
-- tail_segments: the segment ids, space-separated, in order; '' when the
--   offset is at a part boundary (or for a row written before this).
-- tail_size: the tail's length in bytes, all segments together.
ALTER TABLE uploads ADD COLUMN tail_segments TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN tail_size BIGINT NOT NULL DEFAULT 0;
