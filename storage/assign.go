package storage

import (
	"context"
	"database/sql"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
)

// The four-eyes rule (双人监督) as the slots of a case hold it: the inspector
// takes the case; the countersigning reviewer takes the reviewer slot
// themself, or an admin assigns it. The inspector never picks their own
// countersigner, a slot once held changes only by its holder releasing it
// or by an admin, and the reviewer is never the inspector. Every change is
// one conditional UPDATE, so two requests racing for a slot cannot both
// win, and a countersign racing an assignment records the reviewer who
// held the slot when it committed.

// AssignCase fills a case's slots as actor's role allows: an inspector
// takes the inspector slot for themself (a submitted case goes in_review);
// a reviewer takes the reviewer slot for themself; an admin sets either
// (inspectorID, reviewerID; empty leaves one as it is). Taking a slot one
// already holds changes nothing and records nothing.
func (d *DB) AssignCase(ctx context.Context, c *domain.Case, actor *domain.User, inspectorID, reviewerID string) (*domain.Case, error) {
	switch actor.Role {
	case domain.RoleInspector:
		if reviewerID != "" {
			return nil, domain.Coded(domain.ErrForbidden, domain.CodeInspectorPicksNone, "the inspector does not choose the countersigning reviewer: a reviewer takes the slot, or an admin assigns it")
		}
		if inspectorID != "" && inspectorID != actor.ID {
			return nil, domain.Coded(domain.ErrForbidden, domain.CodeNotPermitted, "an inspector can only take a case for themself")
		}
		return d.takeSlot(ctx, c, actor, domain.ActionTake, "inspector_id")
	case domain.RoleReviewer:
		if inspectorID != "" || (reviewerID != "" && reviewerID != actor.ID) {
			return nil, domain.Coded(domain.ErrForbidden, domain.CodeNotPermitted, "a reviewer can only take the reviewer slot for themself")
		}
		return d.takeSlot(ctx, c, actor, domain.ActionTakeReview, "reviewer_id")
	case domain.RoleAdmin:
		return d.adminAssign(ctx, c, actor, inspectorID, reviewerID)
	}
	return nil, c.Authorize(actor, domain.ActionAssign)
}

// takeSlot gives actor the slot column (inspector_id or reviewer_id) if it
// is free, in one conditional statement.
func (d *DB) takeSlot(ctx context.Context, c *domain.Case, actor *domain.User, action domain.Action, column string) (*domain.Case, error) {
	if err := c.Authorize(actor, action); err != nil {
		return nil, err
	}
	other := "reviewer_id"
	if column == "reviewer_id" {
		other = "inspector_id"
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		states, sargs := inStates(domain.StatesFor(action))
		set, to := column+` = ?, updated_at = ?`, domain.Status("")
		args := []any{actor.ID, ms(now)}
		if action == domain.ActionTake {
			// Taking a submitted case starts its review.
			set += `, status = CASE WHEN status = ? THEN ? ELSE status END`
			args = append(args, string(domain.StatusSubmitted), string(domain.StatusInReview))
			// An unrouted case goes to the unit of the inspector who
			// takes it (none: it stays the office's).
			set += `, unit_id = COALESCE(unit_id, ?)`
			args = append(args, nullString(actor.UnitID))
		}
		free := column + ` IS NULL`
		args = append(args, c.ID)
		if action == domain.ActionTake {
			// The inspector who holds a resubmitted case takes it up again.
			free = `(` + column + ` IS NULL OR (` + column + ` = ? AND status = ?))`
			args = append(args, actor.ID, string(domain.StatusSubmitted))
		}
		args = append(args, sargs...)
		args = append(args, actor.ID, actor.UnitID, actor.ID)
		// The officer who made the pending decision never countersigns
		// it (CountersignReason), so never holds its slot either, whoever
		// holds the inspector slot now (TestDecisionAuthorNeverCountersigns).
		author := ``
		if action == domain.ActionTakeReview {
			author = ` AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = cases.id AND d.countersigned_at IS NULL AND d.inspector_id = ?)`
			args = append(args, actor.ID)
		}
		// The unit rule of Case.Relations, re-checked here against a
		// routing that committed since the case was read.
		res, err := tx.ExecContext(ctx, `UPDATE cases SET `+set+` WHERE id = ? AND `+free+` AND `+
			`status IN `+states+` AND (`+other+` IS NULL OR `+other+` <> ?) AND (unit_id IS NULL OR unit_id = ? OR `+column+` = ?)`+author, args...)
		if err != nil {
			return fmt.Errorf("take %s of case %s: %w", column, c.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			var from domain.Status = c.Status
			if err := tx.QueryRowContext(ctx, `SELECT status FROM cases WHERE id = ?`, c.ID).Scan(&to); err != nil {
				return err
			}
			data := map[string]any{strings.TrimSuffix(column, "_id") + "_id": actor.ID, "by": "self"}
			if action == domain.ActionTake && c.UnitID == "" && actor.UnitID != "" {
				data["unit_id"] = actor.UnitID
			}
			if _, err := appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.assigned", Data: data}); err != nil {
				return err
			}
			if to != from {
				_, err = appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.status",
					Data: map[string]any{"from": string(from), "to": string(to)}})
			}
			return err
		}
		// Why not: read the row as it is now.
		var holder, otherHolder, unit sql.NullString
		var st domain.Status
		if err := tx.QueryRowContext(ctx, `SELECT `+column+`, `+other+`, status, unit_id FROM cases WHERE id = ?`, c.ID).Scan(&holder, &otherHolder, &st, &unit); err != nil {
			return notFound(err, "case "+c.ID)
		}
		authored := false
		if action == domain.ActionTakeReview {
			var err error
			if authored, err = decidedPending(ctx, tx, c.ID, actor.ID); err != nil {
				return err
			}
		}
		switch {
		case holder.Valid && holder.String == actor.ID && !authored:
			return nil // already theirs: an idempotent re-take records nothing
		case otherHolder.Valid && otherHolder.String == actor.ID, authored:
			return domain.Coded(domain.ErrForbidden, domain.CodeReviewerIsInspector, "the inspector and the countersigning reviewer are two people")
		case holder.Valid:
			return domain.Coded(domain.ErrConflict, domain.CodeSlotTaken, "another officer holds this slot; it changes only when they release it or an admin reassigns it")
		case unit.Valid && unit.String != actor.UnitID:
			return domain.Coded(domain.ErrConflict, domain.CodeOtherUnit, "the case is routed to another unit; its open slots go to that unit's officers")
		}
		return (&domain.Case{ID: c.ID, Status: st}).StateRefusal(action)
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}

// ReleaseReview gives the reviewer slot back before the countersign, so
// another reviewer may take it.
func (d *DB) ReleaseReview(ctx context.Context, c *domain.Case, actor *domain.User) (*domain.Case, error) {
	if err := c.Authorize(actor, domain.ActionReleaseReview); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		states, sargs := inStates(domain.StatesFor(domain.ActionReleaseReview))
		args := append([]any{ms(now), c.ID, actor.ID}, sargs...)
		res, err := tx.ExecContext(ctx, `UPDATE cases SET reviewer_id = NULL, updated_at = ? WHERE id = ? AND reviewer_id = ? AND status IN `+states, args...)
		if err != nil {
			return fmt.Errorf("release review of case %s: %w", c.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Coded(domain.ErrConflict, domain.CodeSlotTaken, "the reviewer slot is no longer yours, or the case was countersigned; reload it")
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.review_released", Data: map[string]any{"reviewer_id": actor.ID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}

// adminAssign sets either slot; the admin may replace a holder (audited,
// with the previous holders).
func (d *DB) adminAssign(ctx context.Context, c *domain.Case, actor *domain.User, inspectorID, reviewerID string) (*domain.Case, error) {
	if err := c.Authorize(actor, domain.ActionAssign); err != nil {
		return nil, err
	}
	if inspectorID == "" && reviewerID == "" {
		return nil, domain.Coded(domain.ErrInvalid, "assignee_required", "name inspector_id or reviewer_id")
	}
	// units holds the unit (分中心) of each officer named, for the unit
	// rule checked below against the case's routing as it is at commit.
	units := map[string]string{}
	check := func(id string, role domain.Role) error {
		if id == "" {
			return nil
		}
		u, err := d.UserByID(ctx, id)
		if err != nil || u.Role != role || u.Org != c.Office {
			return domain.Coded(domain.ErrInvalid, "assignee_not_in_office", fmt.Sprintf("%s is not a %s of office %s", id, role, c.Office))
		}
		units[id] = u.UnitID
		return nil
	}
	if err := check(inspectorID, domain.RoleInspector); err != nil {
		return nil, err
	}
	if err := check(reviewerID, domain.RoleReviewer); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		var ins, rev, unit sql.NullString
		var st domain.Status
		if err := tx.QueryRowContext(ctx, `SELECT inspector_id, reviewer_id, status, unit_id FROM cases WHERE id = ?`+d.dialect.LockRows(), c.ID).Scan(&ins, &rev, &st, &unit); err != nil {
			return notFound(err, "case "+c.ID)
		}
		// A case routed to a unit is open only to that unit's officers,
		// whoever hands it out: route it elsewhere first.
		for id, u := range units {
			if unit.Valid && u != unit.String {
				return domain.Coded(domain.ErrConflict, domain.CodeOtherUnit, fmt.Sprintf("the case is routed to another unit than %s's; route it to their unit first", id))
			}
		}
		newIns, newRev := ins, rev
		if inspectorID != "" {
			newIns = sql.NullString{String: inspectorID, Valid: true}
		}
		if reviewerID != "" {
			newRev = sql.NullString{String: reviewerID, Valid: true}
		}
		if newIns.Valid && newRev.Valid && newIns.String == newRev.String {
			return domain.Coded(domain.ErrInvalid, domain.CodeReviewerIsInspector, "the reviewer must not be the inspector")
		}
		// Nor may an admin make the pending decision's author its
		// countersigner: the countersign would refuse them, and the case
		// would wait on them for nothing.
		if newRev.Valid && newRev != rev {
			authored, err := decidedPending(ctx, tx, c.ID, newRev.String)
			if err != nil {
				return err
			}
			if authored {
				return domain.Coded(domain.ErrInvalid, domain.CodeReviewerIsInspector, "this reviewer made the decision awaiting countersign; another officer countersigns it")
			}
		}
		if newIns == ins && newRev == rev {
			return nil
		}
		to := st
		if st == domain.StatusSubmitted && newIns.Valid {
			to = domain.StatusInReview
		}
		states, sargs := inStates(domain.StatesFor(domain.ActionAssign))
		args := append([]any{newIns, newRev, string(to), ms(now), c.ID, string(st)}, sargs...)
		res, err := tx.ExecContext(ctx, `UPDATE cases SET inspector_id = ?, reviewer_id = ?, status = ?, updated_at = ? WHERE id = ? AND status = ? AND status IN `+states, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return (&domain.Case{ID: c.ID, Status: st}).StateRefusal(domain.ActionAssign)
		}
		data := map[string]any{"inspector_id": newIns.String, "reviewer_id": newRev.String,
			"previous_inspector_id": ins.String, "previous_reviewer_id": rev.String, "by": "admin"}
		if _, err := appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.assigned", Data: data}); err != nil {
			return err
		}
		if to != st {
			_, err = appendAudit(ctx, tx, now, Audit{CaseID: c.ID, ActorID: actor.ID, Action: "case.status", Data: map[string]any{"from": string(st), "to": string(to)}})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, c.ID)
}

// decidedPending reports whether userID made the decision of case caseID
// that awaits its countersign: the four-eyes rule keeps them from its
// countersign and its countersigning slot.
func decidedPending(ctx context.Context, tx *wtx, caseID, userID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM decisions WHERE case_id = ? AND countersigned_at IS NULL AND inspector_id = ?`, caseID, userID).Scan(&n)
	return n > 0, err
}

// inStates is "(?, ?, …)" and its arguments.
func inStates(states []domain.Status) (string, []any) {
	marks := make([]string, len(states))
	args := make([]any, len(states))
	for i, s := range states {
		marks[i], args[i] = "?", string(s)
	}
	return "(" + strings.Join(marks, ", ") + ")", args
}
