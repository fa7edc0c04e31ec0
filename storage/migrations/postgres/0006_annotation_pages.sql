-- A page of annotations is read from the index alone: the listing cache
-- (annotation_cache.go) needs only each row's id and what tells its state,
-- and reply_count (kept by the triggers, whoever writes a reply) says
-- whether a thread changed without a look at the replies.
ALTER TABLE annotations ADD COLUMN reply_count BIGINT NOT NULL DEFAULT 0;
UPDATE annotations SET reply_count = (SELECT COUNT(*) FROM annotation_replies r WHERE r.annotation_id = annotations.id);
CREATE FUNCTION annotation_replies_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE annotations SET reply_count = reply_count + 1 WHERE id = NEW.annotation_id;
    ELSE
        UPDATE annotations SET reply_count = reply_count - 1 WHERE id = OLD.annotation_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER annotation_replies_counted AFTER INSERT ON annotation_replies
    FOR EACH ROW EXECUTE FUNCTION annotation_replies_count();
CREATE TRIGGER annotation_replies_uncounted AFTER DELETE ON annotation_replies
    FOR EACH ROW EXECUTE FUNCTION annotation_replies_count();
DROP INDEX annotations_order;
CREATE INDEX annotations_order ON annotations(case_id, evidence_id, position, created_at, id, version, updated_at, resolved_at, reply_count, deleted_at) WHERE deleted_at IS NULL;
