package domain

import (
	"encoding/json"
	"net/mail"
	"strings"
	"time"
)

// The kinds of notification: what happened that a person is told about.
const (
	// NotifySubmitted: a case was submitted (the applicant's receipt) or
	// handed in again after a supplement (its inspector).
	NotifySubmitted = "case.submitted"
	// NotifyClaimed: an inspector took the case.
	NotifyClaimed = "case.claimed"
	// NotifySupplement: the inspector asked for more material.
	NotifySupplement = "case.supplement_requested"
	// NotifyDecided: the inspector decided; the countersign is pending.
	NotifyDecided = "case.decided"
	// NotifyCountersigned: the reviewer countersigned (approved or
	// rejected): the case is finished.
	NotifyCountersigned = "case.countersigned"
	// NotifyReturned: the reviewer sent the decision back to the inspector.
	NotifyReturned = "case.returned"
	// NotifyWithdrawn: the applicant withdrew the case.
	NotifyWithdrawn = "case.withdrawn"
	// NotifyLiveInvite: a live inspection was opened; data carries the
	// join link.
	NotifyLiveInvite = "live.invited"
	// NotifyOwedReminder: an owed material is overdue (once a day).
	NotifyOwedReminder = "owed.reminder"
	// NotifyOwedEscalated: an owed material became overdue; told once to
	// the office's supervisors and the case's inspector.
	NotifyOwedEscalated = "owed.escalated"
	// NotifyFollowup: a dissatisfied rating opened a follow-up; told to
	// the office's supervisors, who close it.
	NotifyFollowup = "followup.opened"
	// NotifyFollowupClosed: a supervisor closed the follow-up; told to the
	// applicant, with the outcome.
	NotifyFollowupClosed = "followup.closed"
)

// The delivery channels besides the in-app inbox.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// The jobs that deliver a notification by e-mail or SMS.
const (
	JobNotifyEmail = "notify_email"
	JobNotifySMS   = "notify_sms"
)

// NotifyJobAttempts is how often a delivery is tried: with the worker's
// doubling wait capped at ten minutes, about five hours, so an SMTP server
// or SMS gateway may be down for an afternoon without a message lost.
const NotifyJobAttempts = 35

// Notification is one thing one user is told.
type Notification struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	CaseID string `json:"case_id,omitempty"`
	Kind   string `json:"kind"`
	// Data holds what the message says: the case number and site, the
	// statuses, the due date, the join link.
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	ReadAt    *time.Time      `json:"read_at"`
	// Text is what the notification says, in both languages with times in
	// the office's zone, as the e-mail and SMS say it; set by the API.
	Text *Text `json:"text,omitempty"`
}

// Contact is how a user is reached outside the app, and which channels
// they want.
type Contact struct {
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	NotifyEmail bool   `json:"notify_email"`
	NotifySMS   bool   `json:"notify_sms"`
}

// Normalize trims c's fields and checks them: an e-mail address of the
// form a@b, a phone number of 5 to 20 digits (a leading + and spaces or
// dashes allowed, which are removed). Empty fields are allowed.
func (c *Contact) Normalize() error {
	c.Email = strings.TrimSpace(c.Email)
	if c.Email != "" {
		a, err := mail.ParseAddress(c.Email)
		if err != nil || a.Address != c.Email || !strings.Contains(c.Email[strings.LastIndexByte(c.Email, '@')+1:], ".") {
			return Coded(ErrInvalid, "contact_email_invalid", "the e-mail address is not valid")
		}
	}
	p := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(c.Phone))
	digits := strings.TrimPrefix(p, "+")
	if p != "" {
		if len(digits) < 5 || len(digits) > 20 || strings.Trim(digits, "0123456789") != "" {
			return Coded(ErrInvalid, "contact_phone_invalid", "the phone number is not valid")
		}
	}
	c.Phone = p
	return nil
}

// Delivery is what a delivery job needs: the notification, the case it is
// about, and its recipient's contact.
type Delivery struct {
	Notification Notification
	// CaseNumber is the case's number (BH-2026-000123), empty when the
	// notification is about no case.
	CaseNumber string
	// Recipient is the user's display name.
	Recipient string
	Contact   Contact
	// SentAt is when this channel's message went out, nil before.
	SentAt *time.Time
}

// LiveJoinPath is the path of the page on which the applicant's phone joins
// live session id with its publish token.
func LiveJoinPath(id, token string) string { return "/#/join/" + id + "?token=" + token }
