package storage

import (
	"context"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
)

// lockCaseFor re-checks, inside tx, that the policy grants action to u on
// the case as it is now: its state, and u's relation to it (still its
// inspector, its reviewer, of its company), so that a request that passed
// its check before the case moved on (a PATCH that completes after the
// decision, an annotation racing the countersign) or before its officer
// was replaced (an admin's reassignment) cannot change the record of a
// case that no longer allows it. The check is a conditional UPDATE: on
// SQLite every write transaction already runs alone, and on PostgreSQL the
// UPDATE holds the case's row lock until tx ends (a reassignment that
// commits while it waits for the lock is seen: the condition is evaluated
// again on the row it locks), so neither can change between the check and
// the commit. A nil u (a live session's publisher, the system) re-checks
// the state alone. The refusal is the policy's own (caseRefusal).
func lockCaseFor(ctx context.Context, tx *wtx, caseID string, u *domain.User, action domain.Action) error {
	cond, args := caseGrant(u, action, []any{caseID})
	res, err := tx.ExecContext(ctx, `UPDATE cases AS c SET status = c.status WHERE c.id = ? AND `+cond, args...)
	if err != nil {
		return fmt.Errorf("lock case %s: %w", caseID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	return caseRefusal(ctx, tx, caseID, u, action)
}

// caseGrant is the condition on cases c under which lockCaseFor lets u
// do action (grantSQL; statesFor when u is nil), and args followed by its
// arguments.
func caseGrant(u *domain.User, action domain.Action, args []any) (string, []any) {
	if u == nil {
		return statesFor(action, args)
	}
	cond, more := grantSQL(u, action)
	return cond, append(args, more...)
}

// caseRefusal is the refusal of action to u on a case that failed
// caseGrant in tx: Case.Authorize on the row as tx reads it, so a lost
// relation gets the code the policy gives it before any transaction
// (ErrNotFound for an officer who no longer sees the case, not_permitted
// for one who sees it but may not do this), and a state the code of the
// state. With a nil u it is the state's refusal alone.
func caseRefusal(ctx context.Context, tx *wtx, caseID string, u *domain.User, action domain.Action) error {
	if u == nil {
		return stateRefusal(ctx, tx, caseID, action)
	}
	now, err := caseInTx(ctx, tx, caseID)
	if err != nil {
		return err
	}
	return refusalOn(now, u, action)
}

// caseInTx reads a case without its counts as tx sees it.
func caseInTx(ctx context.Context, tx *wtx, caseID string) (*domain.Case, error) {
	c, err := scanCase(tx.QueryRowContext(ctx, caseCoreSelect+` WHERE c.id = ?`, caseID))
	if err != nil {
		return nil, notFound(err, "case "+caseID)
	}
	return c, nil
}

// errCaseChanged is the refusal of a write whose case changed between the
// caller's read and the write's statement.
var errCaseChanged = domain.Coded(domain.ErrInvalidState, "case_changed", "the case changed meanwhile; reload it")

// refusalOn is the refusal of action to u on now, a case that a statement
// checking grantSQL did not change: the policy's own (Case.Authorize), or
// case_changed when the table grants it on the row and the statement did
// not (the row changed between the statement and this read).
func refusalOn(now *domain.Case, u *domain.User, action domain.Action) error {
	if err := now.Authorize(u, action); err != nil {
		return err
	}
	return errCaseChanged
}

// statesFor is the condition "status IN (…)" on the states in which the
// policy grants action to someone, and args followed by those states.
func statesFor(action domain.Action, args []any) (string, []any) {
	states := domain.StatesFor(action)
	marks := make([]string, len(states))
	for i, s := range states {
		marks[i] = "?"
		args = append(args, string(s))
	}
	return `c.status IN (` + strings.Join(marks, ", ") + `)`, args
}

// stateRefusal is the refusal of action on a case whose state, read in tx,
// does not allow it (ErrNotFound if there is no such case).
func stateRefusal(ctx context.Context, tx *wtx, caseID string, action domain.Action) error {
	var now domain.Status
	if err := tx.QueryRowContext(ctx, `SELECT status FROM cases WHERE id = ?`, caseID).Scan(&now); err != nil {
		return notFound(err, "case "+caseID)
	}
	return (&domain.Case{ID: caseID, Status: now}).StateRefusal(action)
}

// caseStatus reads a case's status outside a transaction, for an early
// refusal before any bytes are read; the transaction that changes the case
// checks again.
func (d *DB) caseStatus(ctx context.Context, caseID string) (domain.Status, error) {
	var s domain.Status
	err := d.queryRow(ctx, `SELECT status FROM cases WHERE id = ?`, caseID).Scan(&s)
	return s, notFound(err, "case "+caseID)
}

// refusedEvidence reports whether err is the policy's refusal of evidence.
func refusedEvidence(err error) bool {
	var se *domain.Error
	return errors.As(err, &se) && se.Code == domain.CodeNotAcceptingEvidence
}

// lockCase takes the case row's lock until tx ends, where the database
// needs it (LockRows): a transaction that reads something of the case's
// before changing it keeps others from changing it in between. On SQLite
// the writer lock already does, and this reads nothing.
func (d *DB) lockCase(ctx context.Context, tx *wtx, caseID string) error {
	lock := d.dialect.LockRows()
	if lock == "" {
		return nil
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM cases WHERE id = ?`+lock, caseID).Scan(&id)
	return notFound(err, "case "+caseID)
}
