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

// JobLane is which of the worker's lanes claims a job. Media work
// (JobProcessEvidence: ffmpeg, PDF rendering, each using every core, a
// long video's proxy for half an hour and more) has the lane --jobs sizes;
// photos and small PDFs, a second or two each, may also be taken by a
// lane of one of their own, so that a case's pictures and documents do
// not wait for its video; the rest (time-stamps, e-mail, SMS: one request
// each, mostly waiting on the network) has a lane of its own, so that a
// live inspection's invitation or a decision's notice never waits behind
// a transcode.
type JobLane int

const (
	LaneMedia JobLane = iota
	LaneQuickMedia
	LaneRequests
	Lanes int = iota
)

// QuickPDFBytes is the largest PDF the quick media lane takes: a few
// scanned pages.
const QuickPDFBytes = 4 << 20

// String names the lane in logs.
func (l JobLane) String() string {
	return [...]string{"media", "quick media", "requests"}[l]
}

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
