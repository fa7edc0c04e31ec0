-- Where the site is, when the applicant gives it: a photo or video taken
-- far from here is flagged to the inspector.
ALTER TABLE cases ADD COLUMN site_lat DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN site_lon DOUBLE PRECISION;
