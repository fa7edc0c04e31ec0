-- Approving over a failed checklist item or an open violation needs a
-- written reason: the inspector's on the decision, the reviewer's on the
-- countersign that agrees.
ALTER TABLE decisions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN countersign_reason TEXT NOT NULL DEFAULT '';
-- The applicant's company and contact: 统一社会信用代码 (GB 32100-2015),
-- the contact person and their phone.
ALTER TABLE cases ADD COLUMN credit_code TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN contact_name TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN contact_phone TEXT NOT NULL DEFAULT '';
