package domain

// Codes of the four-eyes refusals.
const (
	CodeSlotTaken           = "slot_taken"
	CodeReviewerIsInspector = "reviewer_is_inspector"
	CodeInspectorPicksNone  = "inspector_cannot_pick_reviewer"
)

// The stable codes of the errors Classify returns.
const (
	// CodeStorageUnavailable: the object store did not answer.
	CodeStorageUnavailable = "storage_unavailable"
	// CodeDatabaseUnavailable: the database is locked, read-only or failing.
	CodeDatabaseUnavailable = "database_unavailable"
	// CodeDiskFull: the server's disk (or the object store's) is full.
	CodeDiskFull = "disk_full"
)

// CodeSchemaTooNew is the code of the error OpenDB returns for a database
// that a newer release has migrated.
const CodeSchemaTooNew = "schema_too_new"
