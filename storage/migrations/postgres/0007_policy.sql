-- The live session whose publish token created an upload (the phone's own
-- recording): such an upload joins the case under the policy's rule for
-- live material (ActionAddLiveEvidence), every other one under the
-- company's (ActionUpload). Empty for the company's uploads.
ALTER TABLE uploads ADD COLUMN live_session_id TEXT NOT NULL DEFAULT '';
