package domain

import (
	"strconv"
	"time"
)

// What a time-stamp token covers (Timestamp.Kind).
const (
	// TimestampEvidence covers an uploaded original's SHA-256, requested
	// when its upload completes.
	TimestampEvidence = "evidence"
	// TimestampRecording covers a live session recording's SHA-256,
	// requested when it is stored.
	TimestampRecording = "recording"
	// TimestampAuditHead covers the audit chain's head (the hash of event
	// AuditSeq, which chains every event before it), requested at every
	// decision and countersign.
	TimestampAuditHead = "audit_head"
)

// Time-stamp states.
const (
	TimestampPending = "pending"
	TimestampDone    = "done"
	TimestampFailed  = "failed"
)

// JobTimestamp is the job that obtains one time-stamp token.
const JobTimestamp = "timestamp"

// TimestampJobAttempts is how often a time-stamp job is tried before it
// fails for good: with the pipeline's doubling wait, capped at ten minutes,
// more than a day, so a TSA's outage delays tokens but loses none.
const TimestampJobAttempts = 200

// Timestamp is a request for, and once obtained, an RFC 3161 time-stamp
// token over Digest.
type Timestamp struct {
	ID   string
	Kind string
	// CaseID is the case the covered thing belongs to.
	CaseID string
	// EvidenceID is the covered original or recording (kinds evidence and
	// recording).
	EvidenceID string
	// AuditSeq is the covered audit event (kind audit_head).
	AuditSeq int64
	// Digest is the hex SHA-256 the token's message imprint must equal: the
	// file's hash, or the audit event's chain hash.
	Digest string
	State  string
	// Token is the DER TimeStampToken (kind done).
	Token []byte
	// GenTime is the time the authority vouches for (kind done).
	GenTime *time.Time
	// TSA is the URL the token came from.
	TSA       string
	LastError string
	CreatedAt time.Time
	// Covered is the digest of what the row names as it stands in the
	// database now (the evidence's sha256, the audit event's hash); filled
	// by the listing that audit verify uses.
	Covered string
}

// Describe names a time-stamp and what it covers for people reading a
// verification report.
func (t *Timestamp) Describe() string {
	switch t.Kind {
	case TimestampAuditHead:
		return "time-stamp " + t.ID + " (audit head at event " + strconv.FormatInt(t.AuditSeq, 10) + ")"
	default:
		return "time-stamp " + t.ID + " (" + t.Kind + " " + t.EvidenceID + ")"
	}
}
