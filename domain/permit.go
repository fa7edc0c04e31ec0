package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Text is a sentence in both of the UI's languages.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// ChecklistItem is one thing the inspector must check on site.
type ChecklistItem struct {
	ID   string `json:"id"`
	Text Text   `json:"text"`
	// Hint tells the person filming what the shot of this item should show
	// (guided filming, docs/LIVE.md); optional.
	Hint *Text `json:"hint,omitempty"`
}

// PermitType is one kind of licence or filing the office handles, as one
// version of it stands: admins publish a new version for every edit
// (docs/CATALOGUE.md), and a case keeps the version it was opened with.
type PermitType struct {
	Code              string          `json:"code"`
	Name              Text            `json:"name"`
	CommitmentAllowed bool            `json:"commitment_allowed"`
	SupplementDays    int             `json:"supplement_days"`
	TargetDays        int             `json:"target_days"`
	Checklist         []ChecklistItem `json:"checklist"`
	Materials         []Text          `json:"materials"`
	// SlotsRequired makes every material a document slot that must hold a
	// file (or be owed under a signed commitment) before submission. Off
	// by default: an office turns it on per type by publishing a version.
	SlotsRequired bool `json:"slots_required"`
	// RetentionDays overrides --retention-days for this type's originals
	// (0 keeps the default); a case's evidence is kept at least this long.
	RetentionDays int `json:"retention_days,omitempty"`
	// Version numbers the type's published versions from 1 (the seeded
	// catalogue, and every type as it stood before versions existed).
	Version int `json:"version"`
	// RetiredAt is when an admin retired the type: it takes no new cases,
	// and the cases already open on it go on. Nil while it is offered.
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// Item returns the checklist item id of this version, or false.
func (p *PermitType) Item(id string) (ChecklistItem, bool) {
	for _, c := range p.Checklist {
		if c.ID == id {
			return c, true
		}
	}
	return ChecklistItem{}, false
}

// PermitTypeVersion is one published version of a permit type, with who
// published it and when (CreatedBy is empty for the seeded catalogue and
// the versions made by the migration).
type PermitTypeVersion struct {
	PermitType
	CreatedAt time.Time `json:"created_at"`
	CreatedBy *UserRef  `json:"created_by"`
}

// CatalogueEntry is a permit type as admins see it: its current version
// (with RetiredAt) and every version published, newest first.
type CatalogueEntry struct {
	Current  PermitType          `json:"current"`
	Versions []PermitTypeVersion `json:"versions"`
}

// The codes of a refused catalogue edit (docs/ERRORS.md).
const (
	CodePermitCodeInvalid      = "permit_code_invalid"
	CodePermitNameMissing      = "permit_name_missing"
	CodePermitDaysInvalid      = "permit_days_invalid"
	CodeChecklistEmpty         = "checklist_empty"
	CodeChecklistItemInvalid   = "checklist_item_invalid"
	CodeChecklistItemDuplicate = "checklist_item_duplicate"
	CodeMaterialInvalid        = "material_invalid"
	CodePermitTypeExists       = "permit_type_exists"
	CodePermitVersionConflict  = "permit_version_conflict"
	CodePermitTypeRetired      = "permit_type_retired"
	CodeCatalogueAdminsOnly    = "catalogue_admins_only"
)

// AuthorizeCatalogue is the check before an edit of the catalogue (and the
// admins' view of its history): OfficePolicy's ActionManageCatalogue, with
// a refusal that says what was refused.
func AuthorizeCatalogue(u *User) error {
	if u != nil && AuthorizeOffice(u, ActionManageCatalogue, u.Org) == nil {
		return nil
	}
	return Coded(ErrForbidden, CodeCatalogueAdminsOnly, "only admins edit the permit catalogue")
}

// Bounds of a permit type version.
const (
	// MaxPermitDays bounds target_days and supplement_days: a year is
	// already longer than any time limit of the office's catalogue.
	MaxPermitDays = 365
	// MaxChecklistItems and MaxMaterials keep a version readable on a
	// phone and in the report.
	MaxChecklistItems = 100
	MaxMaterials      = 50
)

var permitIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidPermitCode reports whether code may name a permit type: lower-case
// letters, digits and hyphens, at most 64, as the seeded codes are.
func ValidPermitCode(code string) bool { return permitIDPattern.MatchString(code) }

// Validate checks a version an admin wants to publish: both names, day
// counts within 0..MaxPermitDays (a commitment-based type needs at least a
// day to hand in owed materials), at least one checklist item, unique item
// ids of the code's form, each item and material named in both languages.
// It trims the texts it keeps. The error is ErrInvalid with one of the
// Code* above.
func (p *PermitType) Validate() error {
	trim := func(t *Text) { t.ZH, t.EN = strings.TrimSpace(t.ZH), strings.TrimSpace(t.EN) }
	named := func(t Text, max int) bool {
		return t.ZH != "" && t.EN != "" && utf8.RuneCountInString(t.ZH) <= max && utf8.RuneCountInString(t.EN) <= max
	}
	// The slices may be a cached version's: trim copies.
	p.Checklist, p.Materials = slices.Clone(p.Checklist), slices.Clone(p.Materials)
	trim(&p.Name)
	if !named(p.Name, 200) {
		return Coded(ErrInvalid, CodePermitNameMissing, "the permit type needs a name in Chinese and in English, at most 200 characters each")
	}
	if p.TargetDays < 0 || p.TargetDays > MaxPermitDays || p.SupplementDays < 0 || p.SupplementDays > MaxPermitDays ||
		p.CommitmentAllowed && p.SupplementDays < 1 {
		return Coded(ErrInvalid, CodePermitDaysInvalid, fmt.Sprintf("target_days and supplement_days run from 0 to %d; a commitment-based type needs supplement_days of at least 1", MaxPermitDays))
	}
	if len(p.Checklist) == 0 || len(p.Checklist) > MaxChecklistItems {
		return Coded(ErrInvalid, CodeChecklistEmpty, fmt.Sprintf("the checklist needs 1 to %d items", MaxChecklistItems))
	}
	seen := map[string]bool{}
	for i := range p.Checklist {
		it := &p.Checklist[i]
		it.ID = strings.TrimSpace(it.ID)
		trim(&it.Text)
		if !ValidPermitCode(it.ID) || !named(it.Text, 500) {
			return Coded(ErrInvalid, CodeChecklistItemInvalid, fmt.Sprintf("checklist item %d needs an id of lower-case letters, digits and hyphens and a text in Chinese and in English (at most 500 characters)", i+1))
		}
		if it.Hint != nil {
			h := *it.Hint // a copy: the pointer may be a cached version's
			trim(&h)
			it.Hint = &h
			if h.ZH == "" && h.EN == "" {
				it.Hint = nil
			} else if !named(h, 500) {
				return Coded(ErrInvalid, CodeChecklistItemInvalid, fmt.Sprintf("checklist item %d's shot hint needs a text in Chinese and in English (at most 500 characters)", i+1))
			}
		}
		if seen[it.ID] {
			return Coded(ErrInvalid, CodeChecklistItemDuplicate, fmt.Sprintf("checklist item id %q is used twice", it.ID))
		}
		seen[it.ID] = true
	}
	if len(p.Materials) > MaxMaterials {
		return Coded(ErrInvalid, CodeMaterialInvalid, fmt.Sprintf("at most %d required materials", MaxMaterials))
	}
	for i := range p.Materials {
		trim(&p.Materials[i])
		if !named(p.Materials[i], 200) {
			return Coded(ErrInvalid, CodeMaterialInvalid, fmt.Sprintf("required material %d needs a name in Chinese and in English, at most 200 characters each", i+1))
		}
	}
	if p.Materials == nil {
		p.Materials = []Text{}
	}
	return nil
}
