package domain

import (
	"time"
)

// Role is what a user does in the office's process.
type Role string

// The roles. Applicants belong to a company (their Org); officers' and
// supervisors' Org is the permit office they work in. A supervisor (双人监督,
// 全方位监督) sees every case, figure and audit event of their office and
// acts on none; an admin manages. Neither decides cases: only inspectors
// and reviewers do (domain/policy.go).
const (
	RoleApplicant  Role = "applicant"
	RoleInspector  Role = "inspector"
	RoleReviewer   Role = "reviewer"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	switch r {
	case RoleApplicant, RoleInspector, RoleReviewer, RoleSupervisor, RoleAdmin:
		return true
	}
	return false
}

// Officer reports whether r works for the permit office.
func (r Role) Officer() bool { return r == RoleInspector || r == RoleReviewer }

// User is an account.
type User struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Role        Role      `json:"role"`
	DisplayName string    `json:"display_name"`
	Org         string    `json:"org"`
	CreatedAt   time.Time `json:"created_at"`
	// UnitID is the unit (分中心) an officer belongs to; empty for none.
	UnitID string `json:"unit_id,omitempty"`
	// DisabledAt is when an admin disabled the account; nil while it may
	// log in.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// MinPasswordLength is the shortest password accepted for a new account.
const MinPasswordLength = 10

// Session is a logged-in user's token, stored only as its hash.
type Session struct {
	User      *User
	CSRFToken string
	ExpiresAt time.Time
}
