package domain

// Codes of the four-eyes refusals.
const (
	CodeSlotTaken           = "slot_taken"
	CodeReviewerIsInspector = "reviewer_is_inspector"
	CodeInspectorPicksNone  = "inspector_cannot_pick_reviewer"
	// CodeOtherUnit: the case is routed to a unit (分中心) the officer is
	// not of, so its open slot is not theirs to take or to countersign.
	CodeOtherUnit = "case_in_other_unit"
)

// The stable codes of the errors Classify returns.
const (
	// CodeStorageUnavailable: the object store did not answer.
	CodeStorageUnavailable = "storage_unavailable"
	// CodeDatabaseUnavailable: the database is locked, read-only or failing.
	CodeDatabaseUnavailable = "database_unavailable"
	// CodeDiskFull: the server's disk (or the object store's) is full.
	CodeDiskFull = "disk_full"
	// CodeTextInvalid: the request's address, query or JSON holds a NUL
	// character or bytes that are not UTF-8, which no text field may
	// store (PostgreSQL refuses them; SQLite would keep what PostgreSQL
	// then could not copy).
	CodeTextInvalid = "text_invalid"
)

// CodeSchemaTooNew is the code of the error OpenDB returns for a database
// that a newer release has migrated.
const CodeSchemaTooNew = "schema_too_new"

// CodeCaseQuotaExceeded: the applicant's company opened the cases it may
// open in 24 hours (serve --company-daily-cases); 429 with Retry-After.
const CodeCaseQuotaExceeded = "case_quota_exceeded"

// CodeUploadQuotaExceeded: the applicant's company started the uploads, or
// sent the bytes, it may in 24 hours (serve --company-daily-uploads,
// --company-daily-bytes); 413.
const CodeUploadQuotaExceeded = "upload_quota_exceeded"
