package domain

// Text is a sentence in both of the UI's languages.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// ChecklistItem is one thing the inspector must check on site.
type ChecklistItem struct {
	ID   string `json:"id"`
	Text Text   `json:"text"`
}

// PermitType is one kind of licence or filing the office handles.
type PermitType struct {
	Code              string          `json:"code"`
	Name              Text            `json:"name"`
	CommitmentAllowed bool            `json:"commitment_allowed"`
	SupplementDays    int             `json:"supplement_days"`
	TargetDays        int             `json:"target_days"`
	Checklist         []ChecklistItem `json:"checklist"`
	Materials         []Text          `json:"materials"`
	// RetentionDays overrides --retention-days for this type's originals
	// (0 keeps the default); a case's evidence is kept at least this long.
	RetentionDays int `json:"retention_days,omitempty"`
}
