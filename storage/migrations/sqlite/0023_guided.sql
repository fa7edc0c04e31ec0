-- Guided filming: a live annotation with shot = 1 is a mark "this is
-- <checklist item>" made on the phone or by an officer (docs/LIVE.md,
-- "Guided filming"). evidence_id names the evidence the mark belongs to
-- when it is not the session's recording (the phone's own continuous take,
-- uploaded with its marks); NULL means the session's recording.
ALTER TABLE live_annotations ADD COLUMN shot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_annotations ADD COLUMN evidence_id TEXT REFERENCES evidence(id);
CREATE INDEX live_annotations_evidence ON live_annotations(evidence_id);

-- Where the phone was during a live session, every few seconds while the
-- applicant shares the position (with consent): the track beside the
-- recording. accuracy is in metres as the phone reports it.
CREATE TABLE live_positions (
    session_id TEXT NOT NULL REFERENCES live_sessions(id),
    at         BIGINT NOT NULL,
    lat        DOUBLE PRECISION NOT NULL,
    lon        DOUBLE PRECISION NOT NULL,
    accuracy   DOUBLE PRECISION
);
CREATE INDEX live_positions_session ON live_positions(session_id, at);
