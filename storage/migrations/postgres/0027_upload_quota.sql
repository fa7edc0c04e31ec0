-- The company upload quota (storage/upload.go, checkCompanyQuota) sums a
-- company's uploads of the last 24 hours at each upload's creation: from
-- its cases (cases_applicant_org) to their uploads by case and time.
CREATE INDEX uploads_case_created ON uploads(case_id, created_at);
