-- tus 1.0.0 extensions (docs/UPLOADS.md).
-- concat: '' for a plain upload, 'partial' or 'final' (concatenation).
-- concat_parts: a final upload's partial upload ids, space-separated, in order.
-- final_id: the final upload that claimed this partial one; a partial is
--   claimed once, in the transaction that creates the final upload.
-- length_deferred: 1 while Upload-Length is not known yet (creation-defer-length);
--   length is 0 until a PATCH declares it.
ALTER TABLE uploads ADD COLUMN concat TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN concat_parts TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN final_id TEXT;
ALTER TABLE uploads ADD COLUMN length_deferred INTEGER NOT NULL DEFAULT 0;
CREATE INDEX uploads_final ON uploads(final_id) WHERE final_id IS NOT NULL;
