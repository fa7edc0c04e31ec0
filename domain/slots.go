package domain

import "strings"

// Document slots: the materials of a case's permit type version
// (营业执照, 消防安全检查合格证明, 平面图 …), each of which an evidence item
// may be filed under. Uploads name their slot in the tus Upload-Metadata
// key MetaSlot; a draft's file can be refiled later.

// MetaSlot is the Upload-Metadata key naming the document slot.
const MetaSlot = "slot"

// Codes of the errors slots and file removal meet.
const (
	// CodeSlotInvalid: the slot is not one of the case's materials.
	CodeSlotInvalid = "slot_invalid"
	// CodeSlotsMissing: submission refused while required slots are empty.
	CodeSlotsMissing = "slots_missing"
	// CodeEvidenceLocked: the case is past its draft, its files stay.
	CodeEvidenceLocked = "evidence_locked"
)

// Slot returns the material that names slot s (its Chinese name, or its
// English name in any case), or false.
func (p *PermitType) Slot(s string) (Text, bool) {
	s = strings.TrimSpace(s)
	for _, m := range p.Materials {
		if m.ZH == s || strings.EqualFold(m.EN, s) {
			return m, true
		}
	}
	return Text{}, false
}

// MissingSlots lists the materials of p that hold no file (filled, by
// Chinese name) and are not owed under the commitment (owed, by Chinese
// name), in the catalogue's order; nil unless p.SlotsRequired.
func (p *PermitType) MissingSlots(filled, owed map[string]bool) []Text {
	if !p.SlotsRequired {
		return nil
	}
	var out []Text
	for _, m := range p.Materials {
		if !filled[m.ZH] && !owed[m.ZH] {
			out = append(out, m)
		}
	}
	return out
}
