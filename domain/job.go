package domain

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobProcessEvidence is the job that turns an upload into reviewable media.
const JobProcessEvidence = "process_evidence"

// Job is a unit of background work.
type Job struct {
	ID   string
	Kind string
	// EvidenceID is the item a media job processes (kind process_evidence).
	EvidenceID string
	// TimestampID is the time-stamp a timestamp job obtains.
	TimestampID string
	// NotificationID is the notification a delivery job sends (kinds
	// notify_email, notify_sms).
	NotificationID string
	Attempts       int
	MaxAttempts    int
	LastError      string
}

// DefaultJobAttempts is how often a job is tried before it fails for good.
const DefaultJobAttempts = 3
