-- Several replicas on one database (docs/LIVE.md, "Several replicas").
-- replicas: each running server's id, the address the other replicas reach
--   it at, and its last heartbeat (ms); a replica whose heartbeat is older
--   than the expiry (6 s) counts as dead.
-- live_sessions.owner: the replica running the session's media; NULL until
--   the first publish.
-- live_segments: each finished recording segment, stored in the object
--   store as it closes, so that a replica taking a session over joins them
--   with its own into the one recording.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    internal_url TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
ALTER TABLE live_sessions ADD COLUMN owner TEXT;
CREATE TABLE live_segments (
    session_id   TEXT NOT NULL REFERENCES live_sessions(id),
    object_key   TEXT NOT NULL,
    replica      TEXT NOT NULL,
    content_type TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (session_id, object_key)
);
