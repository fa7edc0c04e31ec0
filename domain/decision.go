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
	ID              string     `json:"id"`
	Outcome         string     `json:"outcome"`
	Summary         string     `json:"summary"`
	Inspector       *UserRef   `json:"inspector"`
	DecidedAt       time.Time  `json:"decided_at"`
	Reviewer        *UserRef   `json:"reviewer"`
	CountersignedAt *time.Time `json:"countersigned_at"`
	Agree           *bool      `json:"agree"`
	Comment         string     `json:"comment"`
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
}
