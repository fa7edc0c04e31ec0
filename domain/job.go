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
// the rest (time-stamps, e-mail, SMS: one request each, mostly waiting on
// the network) has a lane of its own, so that a live inspection's
// invitation or a decision's notice never waits behind a transcode.
type JobLane int

const (
	LaneMedia JobLane = iota
	LaneRequests
)

// String names the lane in logs.
func (l JobLane) String() string {
	if l == LaneMedia {
		return "media"
	}
	return "requests"
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
