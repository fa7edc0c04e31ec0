package domain

import (
	"errors"
	"time"
)

// Live session statuses.
const (
	LiveOpen  = "open"
	LiveEnded = "ended"
)

// LiveSession is one live inspection of a case: the applicant's phone
// publishes with a token, officers watch, and the recording becomes
// evidence when it ends.
type LiveSession struct {
	ID             string     `json:"id"`
	CaseID         string     `json:"case_id"`
	CreatedBy      string     `json:"created_by"`
	Status         string     `json:"status"`
	ScheduledAt    *time.Time `json:"scheduled_at"`
	TokenExpiresAt time.Time  `json:"token_expires_at"`
	StartedAt      *time.Time `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at"`
	EndReason      string     `json:"end_reason,omitempty"`
	EvidenceID     *string    `json:"evidence_id"`
	CreatedAt      time.Time  `json:"created_at"`
	// TokenHash is the SHA-256 of the publish token; the token itself is
	// shown once, when the session is made.
	TokenHash string `json:"-"`
	// Owner is the id of the replica running the session's media, ""
	// until the first publish (docs/LIVE.md, "Several replicas").
	Owner string `json:"-"`
}

// LiveIDPrefix starts every live session id, so logs and URLs tell them
// from other ids at a glance.
const LiveIDPrefix = "lv_"

// ErrBadToken is returned by CheckPublishToken for a wrong or expired token
// (HTTP 401).
var ErrBadToken = errors.New("wrong or expired publish token")

// LiveRecording is a finished recording already stored at ObjectKey.
type LiveRecording struct {
	ObjectKey   string
	ContentType string
	Filename    string
	Size        int64
	SHA256      string
	Segments    int
	DurationMS  int64
}

// NewObjectEvidence describes an object already stored that becomes
// evidence (a live snapshot).
type NewObjectEvidence struct {
	CaseID, Filename, ContentType, ObjectKey, SHA256 string
	Kind                                             Kind
	Size                                             int64
	By                                               string
	Data                                             map[string]any
}

// LiveAnnotation is an officer's note made while watching, at a position
// in the recording.
type LiveAnnotation struct {
	ID            string    `json:"id"`
	SessionID     string    `json:"session_id"`
	Author        *UserRef  `json:"author"`
	Body          string    `json:"body"`
	Shape         *Shape    `json:"shape"`
	ChecklistItem string    `json:"checklist_item"`
	Severity      string    `json:"severity"`
	RecordingMS   int64     `json:"recording_ms"`
	CreatedAt     time.Time `json:"at"`
	AnnotationID  *string   `json:"annotation_id"`
	// Shot marks a guided-filming mark "this is <ChecklistItem>".
	Shot bool `json:"shot"`
}
