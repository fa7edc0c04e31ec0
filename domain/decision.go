package domain

import (
	"time"
)

// Finding is the inspector's result for one checklist item, with the
// annotations that support it.
type Finding struct {
	ChecklistItem string    `json:"checklist_item"`
	Result        string    `json:"result"`
	Note          string    `json:"note"`
	AnnotationIDs []string  `json:"annotation_ids"`
	Author        *UserRef  `json:"author"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Decision is one round of the four-eyes decision.
type Decision struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	Summary string `json:"summary"`
	// Reason is the inspector's written reason for approving over a failed
	// item or an open violation; CountersignReason the reviewer's for
	// agreeing to it.
	Reason            string     `json:"reason,omitempty"`
	CountersignReason string     `json:"countersign_reason,omitempty"`
	Inspector         *UserRef   `json:"inspector"`
	DecidedAt         time.Time  `json:"decided_at"`
	Reviewer          *UserRef   `json:"reviewer"`
	CountersignedAt   *time.Time `json:"countersigned_at"`
	Agree             *bool      `json:"agree"`
	Comment           string     `json:"comment"`
}

// Owed is material the applicant still has to hand in.
type Owed struct {
	ID          string     `json:"id"`
	Text        string     `json:"text"`
	DueAt       time.Time  `json:"due_at"`
	CreatedAt   time.Time  `json:"created_at"`
	FulfilledAt *time.Time `json:"fulfilled_at"`
	// Overdue: still open (nothing delivered, not accepted) past DueAt.
	Overdue bool `json:"overdue"`
	// State is OwedOpen, OwedDelivered or OwedAccepted.
	State string `json:"state"`
	// EvidenceID is the upload delivered for the item, waiting for the
	// inspector, or accepted; DeliveredAt when it arrived.
	EvidenceID  string     `json:"evidence_id,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	// ReturnReason and ReturnedAt: the inspector's last return of a
	// delivered material (the slot opened again).
	ReturnReason string     `json:"return_reason,omitempty"`
	ReturnedAt   *time.Time `json:"returned_at,omitempty"`
}

// DecisionInput is the inspector's proposal.
type DecisionInput struct {
	Outcome       string     `json:"outcome"`
	Summary       string     `json:"summary"`
	SupplementDue *time.Time `json:"supplement_due"`
	Owed          []string   `json:"owed"`
	// Reason: why approve over a failed item or an open violation
	// (required then, CodeApproveReasonRequired).
	Reason string `json:"reason"`
}

// ReviewSummary is what an officer confirms against before deciding or
// countersigning: the checklist items that failed, the violation notes
// still open, and the evidence this officer has not opened (the audit log's
// evidence.read events).
type ReviewSummary struct {
	Failed         []*Finding     `json:"failed"`
	OpenViolations []ViolationRef `json:"open_violations"`
	Unopened       []EvidenceRef  `json:"unopened"`
	EvidenceTotal  int            `json:"evidence_total"`
}

// ViolationRef names one open 违规 note.
type ViolationRef struct {
	ID            string `json:"id"`
	EvidenceID    string `json:"evidence_id"`
	Body          string `json:"body"`
	ChecklistItem string `json:"checklist_item"`
}

// EvidenceRef names one evidence item.
type EvidenceRef struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Kind     Kind   `json:"kind"`
}

// NeedsReason reports whether approving (or agreeing to an approval) over
// this summary needs a written reason: a failed item or an open violation.
func (s *ReviewSummary) NeedsReason() bool {
	return len(s.Failed) > 0 || len(s.OpenViolations) > 0
}

// CodeApproveReasonRequired refuses an approval (or a countersign agreeing
// to one) over a failed checklist item or an open violation without a
// written reason.
const CodeApproveReasonRequired = "approve_reason_required"
