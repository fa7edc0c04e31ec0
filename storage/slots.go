package storage

import (
	"context"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
)

// This file is the draft's document slots: filing an evidence item under
// one of the case's materials, removing a file from a draft, and the
// check that submission makes of the required slots.

// caseSlot resolves slot s against the materials of the version cs was
// opened with: the material's Chinese name, or "" for s empty.
func (d *DB) caseSlot(ctx context.Context, cs *domain.Case, s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return "", err
	}
	m, ok := pt.Slot(s)
	if !ok {
		return "", domain.Coded(domain.ErrInvalid, domain.CodeSlotInvalid, fmt.Sprintf("%q is not one of this permit type's materials", s))
	}
	return m.ZH, nil
}

// SetEvidenceSlot files a draft's evidence item evID under slot (a
// material's name; empty takes it out of any slot). ErrInvalid
// (slot_invalid) for a slot not among the case's materials, ErrInvalidState
// (evidence_locked) once the case is submitted, ErrNotFound for an item not
// on the case. Audited as evidence.slot_set.
func (d *DB) SetEvidenceSlot(ctx context.Context, cs *domain.Case, by *domain.User, evID, slot string) (*domain.Evidence, error) {
	if err := cs.Authorize(by, domain.ActionEditEvidence); err != nil {
		return nil, err
	}
	zh, err := d.caseSlot(ctx, cs, slot)
	if err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err = d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionEditEvidence); err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT slot FROM evidence WHERE id = ? AND case_id = ? AND removed_at IS NULL`, evID, cs.ID).Scan(&old); err != nil {
			return notFound(err, "evidence "+evID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE evidence SET slot = ? WHERE id = ?`, zh, evID); err != nil {
			return fmt.Errorf("set slot of evidence %s: %w", evID, err)
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "evidence.slot_set", Target: evID,
			Data: map[string]any{"slot": zh, "previous_slot": old}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Evidence(ctx, evID)
}

// RemoveEvidence takes evidence item evID out of a draft case: it is
// marked removed (by, when) and leaves the case's lists, report and
// bundle, but its original stays in the object store (it may be
// WORM-locked). ErrInvalidState (evidence_locked) once the case is
// submitted, checked in the transaction that removes; ErrNotFound for an
// item not on the case or removed already. Audited as evidence.removed.
func (d *DB) RemoveEvidence(ctx context.Context, cs *domain.Case, by *domain.User, evID string) error {
	if err := cs.Authorize(by, domain.ActionEditEvidence); err != nil {
		return err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	return d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionEditEvidence); err != nil {
			return err
		}
		var name, slot, sum string
		if err := tx.QueryRowContext(ctx, `SELECT filename, slot, sha256 FROM evidence WHERE id = ? AND case_id = ? AND removed_at IS NULL`, evID, cs.ID).Scan(&name, &slot, &sum); err != nil {
			return notFound(err, "evidence "+evID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE evidence SET removed_at = ?, removed_by = ? WHERE id = ?`, ms(now), by.ID, evID); err != nil {
			return fmt.Errorf("remove evidence %s: %w", evID, err)
		}
		_, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "evidence.removed", Target: evID,
			Data: map[string]any{"filename": name, "slot": slot, "sha256": sum}})
		return err
	})
}

// checkSlots refuses submission (slots_missing, listing the materials)
// while a required slot of pt holds no file of the case and is not owed
// under its signed commitment. It reads inside tx, so a file removed
// meanwhile counts.
func checkSlots(ctx context.Context, tx *wtx, caseID string, pt *domain.PermitType, commitment *domain.Commitment) error {
	if !pt.SlotsRequired || len(pt.Materials) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT slot FROM evidence WHERE case_id = ? AND removed_at IS NULL AND slot <> ''`, caseID)
	if err != nil {
		return fmt.Errorf("filled slots: %w", err)
	}
	defer rows.Close()
	filled := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("filled slots: %w", err)
		}
		filled[s] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("filled slots: %w", err)
	}
	owed := map[string]bool{}
	if commitment != nil {
		for _, it := range commitment.Items {
			owed[it.Material.ZH] = true
		}
	}
	missing := pt.MissingSlots(filled, owed)
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.ZH
	}
	return domain.Coded(domain.ErrInvalidState, domain.CodeSlotsMissing,
		"put a file in each required material before submitting, or name it in the commitment: "+strings.Join(names, "、"))
}
