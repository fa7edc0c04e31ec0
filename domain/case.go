package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where a case stands in its lifecycle (PRODUCT.md).
type Status string

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusDraft, StatusSubmitted, StatusInReview, StatusSupplementRequested,
		StatusPendingCountersign, StatusApproved, StatusRejected, StatusWithdrawn:
		return true
	}
	return false
}

// transitions lists every allowed change of status; anything else is
// ErrInvalidState. An approved case that still owes materials (承诺办)
// stays approved while they are handed in; Case.OwedClosedAt marks it
// closed when nothing is owed any more.
var transitions = map[Status][]Status{
	StatusDraft:               {StatusSubmitted, StatusWithdrawn},
	StatusSubmitted:           {StatusInReview, StatusWithdrawn},
	StatusInReview:            {StatusSupplementRequested, StatusPendingCountersign},
	StatusSupplementRequested: {StatusSubmitted},
	StatusPendingCountersign:  {StatusApproved, StatusRejected, StatusInReview},
}

// CanMove reports whether the lifecycle allows from → to.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// UserRef is how a case names the people on it.
type UserRef struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Org         string `json:"org"`
}

// Case is one inspection case.
type Case struct {
	ID         string `json:"id"`
	Number     string `json:"number"`
	Office     string `json:"office"`
	PermitType string `json:"permit_type"`
	// PermitVersion is the version of the permit type the case was opened
	// with; its checklist, findings, decision and report keep to it
	// whatever an admin publishes later.
	PermitVersion int `json:"permit_version"`
	// CreditCode is the applicant company's 统一社会信用代码; ContactName
	// and ContactPhone whom the office calls about the case. Empty on
	// cases opened before the form asked for them.
	CreditCode    string     `json:"credit_code"`
	ContactName   string     `json:"contact_name"`
	ContactPhone  string     `json:"contact_phone"`
	Status        Status     `json:"status"`
	Applicant     *UserRef   `json:"applicant"`
	Inspector     *UserRef   `json:"inspector"`
	Reviewer      *UserRef   `json:"reviewer"`
	SiteName      string     `json:"site_name"`
	SiteAddress   string     `json:"site_address"`
	SiteLat       *float64   `json:"site_lat"`
	SiteLon       *float64   `json:"site_lon"`
	Description   string     `json:"description"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	SubmittedAt   *time.Time `json:"submitted_at"`
	DueAt         *time.Time `json:"due_at"`
	EvidenceCount int        `json:"evidence_count"`
	// OwedOpen counts materials still owed (not yet accepted); OwedDueAt
	// is the earliest due of those the applicant has not delivered.
	OwedOpen  int        `json:"owed_open"`
	OwedDueAt *time.Time `json:"owed_due_at"`
	// OwedClosedAt is when the last material owed on an approved case was
	// accepted: the 承诺办 case is closed. The status stays approved (the
	// lifecycle below does not change); nil while anything is owed, and on
	// cases that never owed anything after approval.
	OwedClosedAt *time.Time `json:"owed_closed_at"`
	// Urgent is the case's urgent mark (特事特办), nil when it has none.
	Urgent *Urgent `json:"urgent"`
	// UnitID is the unit (分中心) the case is routed to: set by an admin,
	// or when an inspector of a unit takes an unrouted case; empty while
	// the case belongs to the whole office (see Case.Relations).
	UnitID string `json:"unit_id,omitempty"`
}

// OwedOverdue reports whether owed materials are past their due date.
func (c *Case) OwedOverdue(now time.Time) bool {
	return c.OwedDueAt != nil && now.After(*c.OwedDueAt)
}

// Overdue reports whether the case is still with the office past its due time.
func (c *Case) Overdue(now time.Time) bool {
	switch c.Status {
	case StatusSubmitted, StatusInReview, StatusPendingCountersign:
		return c.DueAt != nil && now.After(*c.DueAt)
	}
	return false
}

// NewCase is what an applicant fills in.
type NewCase struct {
	PermitType string `json:"permit_type"`
	// CreditCode (统一社会信用代码, checked by CheckCreditCode), ContactName
	// and ContactPhone (CheckContactPhone) are optional in the API, for
	// older clients; the UI asks for each.
	CreditCode   string   `json:"credit_code"`
	ContactName  string   `json:"contact_name"`
	ContactPhone string   `json:"contact_phone"`
	SiteName     string   `json:"site_name"`
	SiteAddress  string   `json:"site_address"`
	SiteLat      *float64 `json:"site_lat"`
	SiteLon      *float64 `json:"site_lon"`
	Description  string   `json:"description"`
}

func CheckText(field, v string, required bool, max int) error {
	if required && strings.TrimSpace(v) == "" {
		return Coded(ErrInvalid, "field_required", field+" is required")
	}
	if utf8.RuneCountInString(v) > max {
		return Coded(ErrInvalid, "field_too_long", fmt.Sprintf("%s must have at most %d characters", field, max))
	}
	if !ValidText(v) {
		return Coded(ErrInvalid, "field_not_utf8", field+" is not valid UTF-8 or holds a NUL character")
	}
	return nil
}

// ValidText reports whether s is UTF-8 without a NUL character: text that
// either database stores as it is.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// DueAt is the end of the working day targetDays working days after t in
// loc (0: the same day). Saturdays and Sundays are not working days; public
// holidays are not yet known to the calendar.
func DueAt(t time.Time, targetDays int, loc *time.Location) time.Time {
	day := t.In(loc)
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	for n := 0; n < targetDays; {
		day = day.AddDate(0, 0, 1)
		if day.Weekday() != time.Saturday && day.Weekday() != time.Sunday {
			n++
		}
	}
	y, m, dd := day.Date()
	return time.Date(y, m, dd, 23, 59, 59, 0, loc).UTC()
}

// The case statuses.
const (
	StatusDraft               Status = "draft"
	StatusSubmitted           Status = "submitted"
	StatusInReview            Status = "in_review"
	StatusSupplementRequested Status = "supplement_requested"
	StatusPendingCountersign  Status = "pending_countersign"
	StatusApproved            Status = "approved"
	StatusRejected            Status = "rejected"
	StatusWithdrawn           Status = "withdrawn"
)
