-- The company case quota (storage/case.go, checkCompanyCases) counts a
-- company's cases of the last 24 hours at each case's creation; the index
-- by company alone becomes one by company and time, which serves both.
DROP INDEX cases_applicant_org;
CREATE INDEX cases_applicant_org ON cases(applicant_org, created_at);
