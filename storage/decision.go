package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
	"unicode/utf8"
)

// SetFinding records (or replaces) the finding for one checklist item.
func (d *DB) SetFinding(ctx context.Context, cs *domain.Case, by *domain.User, f domain.Finding) (*domain.Finding, error) {
	if err := cs.Authorize(by, domain.ActionRecordFinding); err != nil {
		return nil, err
	}
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	found := false
	for _, c := range pt.Checklist {
		found = found || c.ID == f.ChecklistItem
	}
	switch {
	case !found:
		return nil, domain.Coded(domain.ErrInvalid, "unknown_checklist_item", fmt.Sprintf("checklist item %q is not on this permit type's checklist", f.ChecklistItem))
	case f.Result != "pass" && f.Result != "fail" && f.Result != "na":
		return nil, domain.Coded(domain.ErrInvalid, "finding_result_invalid", "result must be pass, fail or na")
	case utf8.RuneCountInString(f.Note) > 5000:
		return nil, domain.Coded(domain.ErrInvalid, "note_too_long", "note must have at most 5000 characters")
	case f.Result == "fail" && strings.TrimSpace(f.Note) == "":
		return nil, domain.Coded(domain.ErrInvalid, "finding_note_required", "say in the note what failed")
	}
	if f.AnnotationIDs == nil {
		f.AnnotationIDs = []string{}
	}
	for _, id := range f.AnnotationIDs {
		var caseID string
		err := d.queryRow(ctx, `SELECT case_id FROM annotations WHERE id = ? AND deleted_at IS NULL`, id).Scan(&caseID)
		if err != nil || caseID != cs.ID {
			return nil, domain.Coded(domain.ErrInvalid, "annotation_not_on_case", fmt.Sprintf("annotation %s is not on this case", id))
		}
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	ids, _ := json.Marshal(f.AnnotationIDs)
	err = d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionRecordFinding); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO findings (case_id, checklist_item, result, note, annotation_ids, author_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (case_id, checklist_item) DO UPDATE SET result = excluded.result, note = excluded.note, annotation_ids = excluded.annotation_ids,
			author_id = excluded.author_id, updated_at = excluded.updated_at`,
			cs.ID, f.ChecklistItem, f.Result, f.Note, string(ids), by.ID, ms(now))
		if err != nil {
			return err
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "finding.recorded", Target: f.ChecklistItem,
			Data: map[string]any{"result": f.Result, "note": f.Note, "annotation_ids": f.AnnotationIDs}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set finding: %w", err)
	}
	f.Author = &domain.UserRef{ID: by.ID, Username: by.Username, DisplayName: by.DisplayName, Org: by.Org}
	f.UpdatedAt = now
	return &f, nil
}

// Findings returns a case's findings by checklist item.
func (d *DB) Findings(ctx context.Context, caseID string) ([]*domain.Finding, error) {
	rows, err := d.query(ctx, `SELECT f.checklist_item, f.result, f.note, f.annotation_ids, u.id, u.username, u.display_name, u.org, f.updated_at
		FROM findings f JOIN users u ON u.id = f.author_id WHERE f.case_id = ? ORDER BY f.checklist_item`, caseID)
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	defer rows.Close()
	out := []*domain.Finding{}
	for rows.Next() {
		var f domain.Finding
		var u domain.UserRef
		var ids string
		var at int64
		if err := rows.Scan(&f.ChecklistItem, &f.Result, &f.Note, &ids, &u.ID, &u.Username, &u.DisplayName, &u.Org, &at); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(ids), &f.AnnotationIDs)
		f.Author, f.UpdatedAt = &u, time.UnixMilli(at).UTC()
		out = append(out, &f)
	}
	return out, rows.Err()
}

// Decide records the assigned inspector's decision: approve and reject go
// to the reviewer (pending_countersign), request_supplement back to the
// applicant with the owed materials and their due date. Approving or
// rejecting needs a finding for every checklist item; only a
// commitment-based permit type may be approved with materials owed.
func (d *DB) Decide(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, in domain.DecisionInput) (*domain.Case, error) {
	if err := cs.Authorize(by, domain.ActionDecide); err != nil {
		return nil, err
	}
	pt, err := d.CasePermitType(ctx, cs)
	if err != nil {
		return nil, err
	}
	in.Summary = strings.TrimSpace(in.Summary)
	if in.Summary == "" || utf8.RuneCountInString(in.Summary) > 10000 {
		return nil, domain.Coded(domain.ErrInvalid, "summary_length", "summary must have 1 to 10000 characters")
	}
	var owed []string
	for _, o := range in.Owed {
		if o = strings.TrimSpace(o); o != "" {
			if utf8.RuneCountInString(o) > 500 {
				return nil, domain.Coded(domain.ErrInvalid, "owed_item_too_long", "each owed item must have at most 500 characters")
			}
			owed = append(owed, o)
		}
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	var to domain.Status
	switch in.Outcome {
	case "approve", "reject":
		to = domain.StatusPendingCountersign
		findings, err := d.Findings(ctx, cs.ID)
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, f := range findings {
			have[f.ChecklistItem] = true
		}
		var missing []string
		for _, c := range pt.Checklist {
			if !have[c.ID] {
				missing = append(missing, c.ID)
			}
		}
		if len(missing) > 0 {
			return nil, domain.Coded(domain.ErrInvalidState, "findings_incomplete", "record a finding for every checklist item first; missing: "+strings.Join(missing, ", "))
		}
		if len(owed) > 0 && (in.Outcome == "reject" || !pt.CommitmentAllowed) {
			return nil, domain.Coded(domain.ErrInvalid, "owed_needs_commitment", "only a commitment-based permit may be approved with materials owed")
		}
	case "request_supplement":
		to = domain.StatusSupplementRequested
		if len(owed) == 0 {
			return nil, domain.Coded(domain.ErrInvalid, "owed_required", "list the materials the applicant must supply (owed)")
		}
	default:
		return nil, domain.Coded(domain.ErrInvalid, "outcome_invalid", "outcome must be approve, reject or request_supplement")
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if utf8.RuneCountInString(in.Reason) > 5000 {
		return nil, domain.Coded(domain.ErrInvalid, "reason_too_long", "reason must have at most 5000 characters")
	}
	// The default counts the permit type's supplement_days from today's
	// office day; a date the inspector picks may go as far as the longest
	// period the catalogue allows a type (a year), counted the same way,
	// so a slip of the year (2062 for 2026) is refused, not owed for decades.
	today := domain.DueAt(now, 0, loc)
	due := today.AddDate(0, 0, pt.SupplementDays)
	if in.SupplementDue != nil {
		if !in.SupplementDue.After(now) {
			return nil, domain.Coded(domain.ErrInvalid, "due_in_past", "supplement_due must be in the future")
		}
		if latest := today.In(loc).AddDate(0, 0, domain.MaxPermitDays); in.SupplementDue.After(latest) {
			return nil, domain.Coded(domain.ErrInvalid, "due_too_far", fmt.Sprintf("supplement_due may be at most %d days ahead: %s at the latest", domain.MaxPermitDays, latest.Format(time.RFC3339)))
		}
		due = in.SupplementDue.UTC().Truncate(time.Millisecond)
	}
	err = d.tx(ctx, func(tx *wtx) error {
		if to == domain.StatusPendingCountersign {
			// A decision closes the evidence (the policy); a live inspection
			// still running would have its recording refused, so it ends first.
			// The case's row lock keeps one from starting meanwhile
			// (StartLiveSession locks it too).
			if err := d.lockCase(ctx, tx, cs.ID); err != nil {
				return err
			}
			var open int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM live_sessions WHERE case_id = ? AND status = ?`, cs.ID, domain.LiveOpen).Scan(&open); err != nil {
				return err
			}
			if open > 0 {
				return domain.Coded(domain.ErrInvalidState, "live_session_open", "end the live inspection before deciding: its recording joins the evidence first")
			}
		}
		// What the inspector confirmed against, read under the case's lock:
		// approving over a failed item or an open violation needs a reason.
		review, err := reviewSummary(ctx, tx, cs.ID, by.ID)
		if err != nil {
			return err
		}
		if in.Outcome == "approve" && review.NeedsReason() && in.Reason == "" {
			return domain.Coded(domain.ErrInvalid, domain.CodeApproveReasonRequired, approveReasonMessage(review))
		}
		id := domain.NewID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (id, case_id, outcome, summary, reason, inspector_id, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, cs.ID, in.Outcome, in.Summary, in.Reason, by.ID, ms(now)); err != nil {
			return err
		}
		for _, o := range owed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO owed_items (id, case_id, text, due_at, created_at) VALUES (?, ?, ?, ?, ?)`, domain.NewID(), cs.ID, o, ms(due), ms(now)); err != nil {
				return err
			}
		}
		data := map[string]any{"decision_id": id, "outcome": in.Outcome, "summary": in.Summary}
		if in.Outcome != "request_supplement" {
			data["review"] = reviewAuditData(review)
		}
		if in.Reason != "" {
			data["reason"] = in.Reason
		}
		if len(owed) > 0 {
			data["owed"], data["owed_due"] = owed, due.Format(time.RFC3339)
		}
		tx.stampHead = cs.ID
		return moveCase(ctx, tx, cs, by, domain.ActionDecide, to, now, data, "")
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, cs.ID)
}

// Countersign is the reviewer's answer to the pending decision: agreeing
// makes it final (approved or rejected); disagreeing returns the case to
// the inspector with the comment. The reviewer is never the inspector: the
// policy refuses it, and the statement that records the countersign checks
// it again together with the slot, so a countersign racing an assignment
// records the reviewer who held the slot when it committed.
func (d *DB) Countersign(ctx context.Context, cs *domain.Case, by *domain.User, agree bool, comment string) (*domain.Case, error) {
	return d.CountersignReason(ctx, cs, by, agree, comment, "")
}

// CountersignReason is Countersign with the reviewer's written reason,
// which agreeing to an approval over a failed checklist item or an open
// violation needs (domain.CodeApproveReasonRequired otherwise).
func (d *DB) CountersignReason(ctx context.Context, cs *domain.Case, by *domain.User, agree bool, comment, reason string) (*domain.Case, error) {
	if err := cs.Authorize(by, domain.ActionCountersign); err != nil {
		return nil, err
	}
	comment, reason = strings.TrimSpace(comment), strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > 5000 {
		return nil, domain.Coded(domain.ErrInvalid, "reason_too_long", "reason must have at most 5000 characters")
	}
	if !agree && comment == "" {
		return nil, domain.Coded(domain.ErrInvalid, "comment_required", "say why the decision goes back (comment)")
	}
	if utf8.RuneCountInString(comment) > 5000 {
		return nil, domain.Coded(domain.ErrInvalid, "comment_too_long", "comment must have at most 5000 characters")
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		var decID, outcome, author string
		if err := tx.QueryRowContext(ctx, `SELECT id, outcome, inspector_id FROM decisions WHERE case_id = ? AND countersigned_at IS NULL ORDER BY decided_at DESC LIMIT 1`, cs.ID).Scan(&decID, &outcome, &author); err != nil {
			return notFound(err, "pending decision")
		}
		// The four-eyes rule holds for the decision, not only the case's
		// inspector slot now: an inspector made a reviewer, whose case
		// an admin handed to another inspector, never countersigns the
		// decision they made (TestDecisionAuthorNeverCountersigns).
		if author == by.ID {
			return domain.Coded(domain.ErrForbidden, domain.CodeReviewerIsInspector, "the inspector cannot countersign their own decision")
		}
		review, err := reviewSummary(ctx, tx, cs.ID, by.ID)
		if err != nil {
			return err
		}
		if agree && outcome == "approve" && review.NeedsReason() && reason == "" {
			return domain.Coded(domain.ErrInvalid, domain.CodeApproveReasonRequired, approveReasonMessage(review))
		}
		to := domain.StatusInReview
		if agree {
			to = domain.StatusRejected
			if outcome == "approve" {
				to = domain.StatusApproved
			}
		}
		// The unit rule of Case.Relations, checked again here: a reviewer
		// who does not hold the slot countersigns only a case of their unit
		// (or an unrouted one), whatever routing committed since the case
		// was read.
		res, err := tx.ExecContext(ctx, `UPDATE cases SET status = ?, reviewer_id = ?, updated_at = ?
			WHERE id = ? AND status = ? AND (reviewer_id = ? OR (reviewer_id IS NULL AND (unit_id IS NULL OR unit_id = ?)))
			AND inspector_id IS NOT NULL AND inspector_id <> ?`,
			string(to), by.ID, ms(now), cs.ID, string(domain.StatusPendingCountersign), by.ID, by.UnitID, by.ID)
		if err != nil {
			return fmt.Errorf("countersign case %s: %w", cs.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var ins, rev, unit sql.NullString
			var st domain.Status
			if err := tx.QueryRowContext(ctx, `SELECT inspector_id, reviewer_id, status, unit_id FROM cases WHERE id = ?`, cs.ID).Scan(&ins, &rev, &st, &unit); err != nil {
				return notFound(err, "case "+cs.ID)
			}
			switch {
			case st != domain.StatusPendingCountersign:
				return (&domain.Case{ID: cs.ID, Status: st}).StateRefusal(domain.ActionCountersign)
			case ins.String == by.ID:
				return domain.Coded(domain.ErrForbidden, domain.CodeReviewerIsInspector, "the inspector cannot countersign their own decision")
			case !rev.Valid && unit.Valid && unit.String != by.UnitID:
				return domain.Coded(domain.ErrConflict, domain.CodeOtherUnit, "the case is routed to another unit; its countersign goes to that unit's reviewers")
			default:
				return domain.Coded(domain.ErrConflict, domain.CodeSlotTaken, "another reviewer holds this case's countersign")
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE decisions SET reviewer_id = ?, countersigned_at = ?, agree = ?, comment = ?, countersign_reason = ? WHERE id = ?`, by.ID, ms(now), agree, comment, reason, decID); err != nil {
			return err
		}
		if agree {
			// Decided: an urgent case leaves the head of the queue.
			if _, err := tx.ExecContext(ctx, `UPDATE cases SET urgent_until = NULL WHERE id = ?`, cs.ID); err != nil {
				return err
			}
		}
		data := map[string]any{"decision_id": decID, "agree": agree, "comment": comment, "from": string(domain.StatusPendingCountersign), "to": string(to),
			"review": reviewAuditData(review)}
		if reason != "" {
			data["reason"] = reason
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "case.status", Data: data})
		tx.stampHead = cs.ID
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, cs.ID)
}

// Decisions returns a case's decision rounds, oldest first.
func (d *DB) Decisions(ctx context.Context, caseID string) ([]*domain.Decision, error) {
	rows, err := d.query(ctx, `SELECT d.id, d.outcome, d.summary, d.reason, d.countersign_reason, i.id, i.username, i.display_name, i.org, d.decided_at,
		r.id, r.username, r.display_name, r.org, d.countersigned_at, d.agree, d.comment
		FROM decisions d JOIN users i ON i.id = d.inspector_id LEFT JOIN users r ON r.id = d.reviewer_id
		WHERE d.case_id = ? ORDER BY d.decided_at`, caseID)
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	defer rows.Close()
	out := []*domain.Decision{}
	for rows.Next() {
		var dc domain.Decision
		var i domain.UserRef
		var r [4]sql.NullString
		var decided int64
		var signed sql.NullInt64
		var agree sql.NullBool
		if err := rows.Scan(&dc.ID, &dc.Outcome, &dc.Summary, &dc.Reason, &dc.CountersignReason, &i.ID, &i.Username, &i.DisplayName, &i.Org, &decided, &r[0], &r[1], &r[2], &r[3], &signed, &agree, &dc.Comment); err != nil {
			return nil, err
		}
		dc.Inspector, dc.DecidedAt, dc.Reviewer, dc.CountersignedAt = &i, time.UnixMilli(decided).UTC(), refFrom(r), fromMS(signed)
		if agree.Valid {
			dc.Agree = &agree.Bool
		}
		out = append(out, &dc)
	}
	return out, rows.Err()
}

// OwedItems returns what the applicant owes (and owed) on a case.
func (d *DB) OwedItems(ctx context.Context, caseID string) ([]*domain.Owed, error) {
	now := d.now()
	return queryAll(ctx, d, "owed items", func(row scanner) (*domain.Owed, error) { return scanOwed(row, now) },
		`SELECT `+owedColumns+` FROM owed_items o WHERE o.case_id = ? ORDER BY o.due_at, o.created_at`, caseID)
}

// FulfillOwed marks an owed item as handed in (确认已补交): the material
// delivered into its slot, or one handed in otherwise. When it was the
// last one owed on an approved case, the case is closed (owed_closed_at).
func (d *DB) FulfillOwed(ctx context.Context, cs *domain.Case, by *domain.User, owedID string) error {
	if err := cs.Authorize(by, domain.ActionConfirmOwed); err != nil {
		return err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	return d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionConfirmOwed); err != nil {
			return err
		}
		var evID sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT evidence_id FROM owed_items WHERE id = ? AND case_id = ? AND fulfilled_at IS NULL`, owedID, cs.ID).Scan(&evID); err != nil {
			if err == sql.ErrNoRows {
				return domain.Coded(domain.ErrNotFound, "owed_item_not_found", "no open owed item "+owedID+" on this case")
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE owed_items SET fulfilled_at = ? WHERE id = ?`, ms(now), owedID); err != nil {
			return err
		}
		data := map[string]any{}
		if evID.Valid {
			data["evidence_id"] = evID.String
		}
		if _, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "owed.fulfilled", Target: owedID, Data: data}); err != nil {
			return err
		}
		return closeIfNothingOwed(ctx, tx, cs.ID, by, now)
	})
}

// approveReasonMessage says what the approval goes over.
func approveReasonMessage(r *domain.ReviewSummary) string {
	return fmt.Sprintf("approving over %d failed checklist item(s) and %d open violation(s) needs a written reason", len(r.Failed), len(r.OpenViolations))
}

// reviewAuditData is the part of a review summary the decision's audit
// event keeps: what the officer confirmed against.
func reviewAuditData(r *domain.ReviewSummary) map[string]any {
	failed := make([]string, 0, len(r.Failed))
	for _, f := range r.Failed {
		failed = append(failed, f.ChecklistItem)
	}
	violations := make([]string, 0, len(r.OpenViolations))
	for _, v := range r.OpenViolations {
		violations = append(violations, v.ID)
	}
	unopened := make([]string, 0, len(r.Unopened))
	for _, e := range r.Unopened {
		unopened = append(unopened, e.ID)
	}
	return map[string]any{"failed": failed, "open_violations": violations, "unopened": unopened, "evidence_total": r.EvidenceTotal}
}
