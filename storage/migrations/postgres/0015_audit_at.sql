-- The supervision figures (storage/stats.go) read the audit events of a
-- period: a month's figures read that month's events, not the whole chain.
CREATE INDEX audit_at ON audit_events(at);
