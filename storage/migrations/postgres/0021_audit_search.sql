-- The office's audit search (storage/audit_find.go): newest first, by
-- actor or by action, each an index walked from its newest seq down. By
-- case: audit_case (0004); by time: audit_at (0015).
CREATE INDEX audit_actor ON audit_events(actor_id, seq);
CREATE INDEX audit_action ON audit_events(action, seq);
