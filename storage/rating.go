package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"siteinspect/domain"
)

// RateCase records the applicant's rating (好差评) of the case's final
// decision, once per decision. A rating of 不满意 or worse opens a
// follow-up (整改) for the office's supervisors, due followUpDays working
// days later in loc. The policy (ActionRate) admits the company once the
// case is decided; only the person who applied rates it
// (rating_applicant_only), and a second rating of the same decision is
// ErrConflict rating_exists. Audited as case.rated (and followup.opened)
// in the same transaction.
func (d *DB) RateCase(ctx context.Context, cs *domain.Case, by *domain.User, loc *time.Location, followUpDays int, in domain.RatingInput) (*domain.Rating, error) {
	if err := cs.Authorize(by, domain.ActionRate); err != nil {
		return nil, err
	}
	if cs.Applicant == nil || cs.Applicant.ID != by.ID {
		return nil, domain.Coded(domain.ErrForbidden, domain.CodeRatingApplicantOnly, "only the person who applied rates the case")
	}
	in.Comment = strings.TrimSpace(in.Comment)
	if err := in.Check(); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	r := &domain.Rating{ID: domain.NewID(), CaseID: cs.ID, Level: in.Level, Comment: in.Comment, RatedAt: now}
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionRate); err != nil {
			return err
		}
		// The case is decided, so its last countersigned decision is the
		// one the countersign made final.
		var ins, rev sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT id, inspector_id, reviewer_id FROM decisions
			WHERE case_id = ? AND countersigned_at IS NOT NULL ORDER BY countersigned_at DESC LIMIT 1`, cs.ID).Scan(&r.DecisionID, &ins, &rev)
		if err != nil {
			return notFound(err, "final decision of case "+cs.ID)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ratings WHERE decision_id = ?`, r.DecisionID).Scan(&n); err != nil {
			return fmt.Errorf("rated already: %w", err)
		}
		if n > 0 {
			return domain.Coded(domain.ErrConflict, domain.CodeRatingExists, "this decision has been rated already")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ratings (id, case_id, decision_id, rater_id, office, inspector_id, reviewer_id, level, comment, rated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, cs.ID, r.DecisionID, by.ID, cs.Office, ins, rev, r.Level, r.Comment, ms(now))
		if err != nil {
			return fmt.Errorf("insert rating: %w", err)
		}
		if _, err := appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "case.rated", Target: r.ID,
			Data: map[string]any{"level": r.Level, "inspector_id": ins.String, "reviewer_id": rev.String}}); err != nil {
			return err
		}
		if !domain.OpensFollowUp(r.Level) {
			return nil
		}
		f := &domain.FollowUp{ID: domain.NewID(), CaseID: cs.ID, CaseNumber: cs.Number, Office: cs.Office, Level: r.Level,
			Comment: r.Comment, OpenedAt: now, DueAt: domain.DueAt(now, followUpDays, loc)}
		_, err = tx.ExecContext(ctx, `INSERT INTO followups (id, rating_id, case_id, office, opened_at, due_at) VALUES (?, ?, ?, ?, ?, ?)`,
			f.ID, r.ID, cs.ID, cs.Office, ms(now), ms(f.DueAt))
		if err != nil {
			return fmt.Errorf("insert follow-up: %w", err)
		}
		r.FollowUp = f
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "followup.opened", Target: f.ID,
			Data: map[string]any{"followup_id": f.ID, "due_at": f.DueAt.Format(time.RFC3339)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

const followUpColumns = `f.id, f.case_id, c.number, f.office, r.level, r.comment, f.opened_at, f.due_at, f.closed_at,
	u.id, u.username, u.display_name, u.org, f.outcome
	FROM followups f JOIN ratings r ON r.id = f.rating_id JOIN cases c ON c.id = f.case_id LEFT JOIN users u ON u.id = f.closed_by`

func scanFollowUp(row scanner, now time.Time) (*domain.FollowUp, error) {
	var f domain.FollowUp
	var opened, due int64
	var closed sql.NullInt64
	var by [4]sql.NullString
	if err := row.Scan(&f.ID, &f.CaseID, &f.CaseNumber, &f.Office, &f.Level, &f.Comment, &opened, &due, &closed,
		&by[0], &by[1], &by[2], &by[3], &f.Outcome); err != nil {
		return nil, err
	}
	f.OpenedAt, f.DueAt, f.ClosedAt, f.ClosedBy = time.UnixMilli(opened).UTC(), time.UnixMilli(due).UTC(), fromMS(closed), refFrom(by)
	f.Overdue = f.ClosedAt == nil && now.After(f.DueAt)
	return &f, nil
}

// CaseRating returns the case's newest rating with its follow-up, or nil
// when it has none. It does not check who asks: callers authorize
// ActionReadRating.
func (d *DB) CaseRating(ctx context.Context, caseID string) (*domain.Rating, error) {
	var r domain.Rating
	var rated int64
	err := d.queryRow(ctx, `SELECT id, case_id, decision_id, level, comment, rated_at FROM ratings WHERE case_id = ? ORDER BY rated_at DESC LIMIT 1`, caseID).
		Scan(&r.ID, &r.CaseID, &r.DecisionID, &r.Level, &r.Comment, &rated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rating of case %s: %w", caseID, err)
	}
	r.RatedAt = time.UnixMilli(rated).UTC()
	f, err := scanFollowUp(d.queryRow(ctx, `SELECT `+followUpColumns+` WHERE f.rating_id = ?`, r.ID), d.now())
	switch {
	case err == nil:
		r.FollowUp = f
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("follow-up of rating %s: %w", r.ID, err)
	}
	return &r, nil
}

// FollowUps lists the follow-ups u may see (a supervisor their office's,
// an admin all), open ones first by due time, then closed ones newest
// first; openOnly keeps the open ones.
func (d *DB) FollowUps(ctx context.Context, u *domain.User, openOnly bool, limit int) ([]*domain.FollowUp, error) {
	where, args := []string{"1 = 1"}, []any{}
	if u.Role != domain.RoleAdmin {
		where, args = append(where, `f.office = ?`), append(args, u.Org)
	}
	if openOnly {
		where = append(where, `f.closed_at IS NULL`)
	}
	rows, err := d.query(ctx, `SELECT `+followUpColumns+` WHERE `+strings.Join(where, ` AND `)+`
		ORDER BY CASE WHEN f.closed_at IS NULL THEN 0 ELSE 1 END, CASE WHEN f.closed_at IS NULL THEN f.due_at ELSE -f.closed_at END, f.id LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("follow-ups: %w", err)
	}
	defer rows.Close()
	now := d.now()
	out := []*domain.FollowUp{}
	for rows.Next() {
		f, err := scanFollowUp(rows, now)
		if err != nil {
			return nil, fmt.Errorf("follow-ups: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// CloseFollowUp closes an open follow-up with its outcome, which the
// applicant then sees on the case. Only a supervisor of the follow-up's
// office closes it (domain.ActionCloseFollowUp); another office's is
// ErrNotFound; a closed one is ErrConflict followup_closed. Audited as
// followup.closed on the case.
func (d *DB) CloseFollowUp(ctx context.Context, by *domain.User, id, outcome string) (*domain.FollowUp, error) {
	f, err := scanFollowUp(d.queryRow(ctx, `SELECT `+followUpColumns+` WHERE f.id = ?`, id), d.now())
	if err != nil {
		return nil, notFound(err, "follow-up "+id)
	}
	if by.Role != domain.RoleAdmin && by.Org != f.Office {
		return nil, fmt.Errorf("follow-up %s: %w", id, domain.ErrNotFound)
	}
	if err := domain.AuthorizeOffice(by, domain.ActionCloseFollowUp, f.Office); err != nil {
		return nil, err
	}
	outcome = strings.TrimSpace(outcome)
	if err := domain.CheckText("outcome", outcome, true, 2000); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err = d.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE followups SET closed_at = ?, closed_by = ?, outcome = ? WHERE id = ? AND closed_at IS NULL`,
			ms(now), by.ID, outcome, id)
		if err != nil {
			return fmt.Errorf("close follow-up %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Coded(domain.ErrConflict, domain.CodeFollowUpClosed, "this follow-up has been closed already")
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: f.CaseID, ActorID: by.ID, Action: "followup.closed", Target: id,
			Data: map[string]any{"followup_id": id, "outcome": outcome}})
		return err
	})
	if err != nil {
		return nil, err
	}
	f.ClosedAt, f.Outcome, f.Overdue = &now, outcome, false
	f.ClosedBy = &domain.UserRef{ID: by.ID, Username: by.Username, DisplayName: by.DisplayName, Org: by.Org}
	return f, nil
}

// RatingAggregate is how the decisions that officer inspected or
// countersigned were rated: counts and the mean only, nothing that names
// a rater, a case or a comment.
func (d *DB) RatingAggregate(ctx context.Context, officerID string) (*domain.RatingAggregate, error) {
	var a domain.RatingAggregate
	var sum int64
	err := d.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(level), 0), COALESCE(SUM(CASE WHEN level >= ? THEN 1 ELSE 0 END), 0)
		FROM ratings WHERE inspector_id = ? OR reviewer_id = ?`, domain.LevelDissatisfied, officerID, officerID).Scan(&a.Count, &sum, &a.Dissatisfied)
	if err != nil {
		return nil, fmt.Errorf("rating aggregate: %w", err)
	}
	if a.Count > 0 {
		a.Average = float64(sum) / float64(a.Count)
		a.Share = float64(a.Dissatisfied) / float64(a.Count)
	}
	return &a, nil
}

// SetUrgent marks the case urgent (特事特办) with a reason and a target in
// hours from now: it heads the queue (SortDue) until it is decided or
// withdrawn, or the mark is cleared. Marking it again replaces the mark.
// Audited as case.urgent_set.
func (d *DB) SetUrgent(ctx context.Context, cs *domain.Case, by *domain.User, in domain.UrgentInput) (*domain.Case, error) {
	if err := cs.Authorize(by, domain.ActionMarkUrgent); err != nil {
		return nil, err
	}
	if err := in.Check(); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	until := now.Add(time.Duration(in.TargetHours) * time.Hour)
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionMarkUrgent); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE cases SET urgent_reason = ?, urgent_hours = ?, urgent_set_at = ?, urgent_until = ?, updated_at = ? WHERE id = ?`,
			in.Reason, in.TargetHours, ms(now), ms(until), ms(now), cs.ID)
		if err != nil {
			return fmt.Errorf("mark case %s urgent: %w", cs.ID, err)
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "case.urgent_set",
			Data: map[string]any{"reason": in.Reason, "target_hours": in.TargetHours}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, cs.ID)
}

// ClearUrgent takes the urgent mark off the case: it goes back to its
// place by due time. A case without the mark is ErrConflict
// case_not_urgent. Audited as case.urgent_cleared.
func (d *DB) ClearUrgent(ctx context.Context, cs *domain.Case, by *domain.User) (*domain.Case, error) {
	if err := cs.Authorize(by, domain.ActionMarkUrgent); err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	err := d.tx(ctx, func(tx *wtx) error {
		if err := lockCaseFor(ctx, tx, cs.ID, by, domain.ActionMarkUrgent); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE cases SET urgent_reason = '', urgent_hours = NULL, urgent_set_at = NULL, urgent_until = NULL, updated_at = ?
			WHERE id = ? AND urgent_set_at IS NOT NULL`, ms(now), cs.ID)
		if err != nil {
			return fmt.Errorf("clear urgent mark of case %s: %w", cs.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Coded(domain.ErrConflict, domain.CodeCaseNotUrgent, "the case is not marked urgent")
		}
		_, err = appendAudit(ctx, tx, now, Audit{CaseID: cs.ID, ActorID: by.ID, Action: "case.urgent_cleared"})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, cs.ID)
}
