package domain

import "time"

// Unit is a unit (分中心) of a permit office. Each officer belongs to at
// most one (User.UnitID) and a case is routed to at most one
// (Case.UnitID); the open slots of a routed case go to its unit's
// officers (Case.Relations).
type Unit struct {
	ID        string    `json:"id"`
	Office    string    `json:"office"`
	NameZh    string    `json:"name_zh"`
	NameEn    string    `json:"name_en"`
	CreatedAt time.Time `json:"created_at"`
}

// OfficeSettings are what an admin set of the office's name, time zone and
// default retention. A zero field ("" or 0) leaves the command-line flag
// it overrides in force (--office-name, --timezone, --retention-days).
type OfficeSettings struct {
	Office        string     `json:"office"`
	NameZh        string     `json:"name_zh"`
	NameEn        string     `json:"name_en"`
	Timezone      string     `json:"timezone"`
	RetentionDays int        `json:"retention_days"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	UpdatedBy     string     `json:"updated_by,omitempty"`
}

// UserEdit is an admin's change to an account; a nil field is left as it
// is. UnitID "" takes the user out of their unit. Password, when set, is a
// temporary password the admin hands over (as ResetPassword), set in the
// same transaction as the other fields.
type UserEdit struct {
	DisplayName *string `json:"display_name"`
	Role        *Role   `json:"role"`
	UnitID      *string `json:"unit_id"`
	Disabled    *bool   `json:"disabled"`
	Password    *string `json:"password"`
}

// The codes of administration refusals (docs/ERRORS.md).
const (
	// CodeAccountDisabled: the account was disabled by an admin.
	CodeAccountDisabled = "account_disabled"
	// CodeLastAdmin: the change would leave the office without an
	// enabled admin.
	CodeLastAdmin = "last_admin"
	// CodeSelfDisable: an admin cannot disable their own account.
	CodeSelfDisable = "cannot_disable_self"
	// CodeUnknownUnit: no unit of this office has that id.
	CodeUnknownUnit = "unknown_unit"
	// CodeUnitNameTaken: the office already has a unit of that name.
	CodeUnitNameTaken = "unit_name_taken"
	// CodeBadTimezone: the time zone is not an IANA zone name.
	CodeBadTimezone = "bad_timezone"
	// CodeBadRetention: the retention is outside 1 to 36,500 days.
	CodeBadRetention = "bad_retention"
)
