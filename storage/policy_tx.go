package storage

import (
	"context"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
)

// lockCaseFor re-checks, inside tx, that the case is in a state in which the
// policy grants action to someone, so that a request that passed its check
// before the case moved on (a PATCH that completes after the decision, an
// annotation racing the countersign) cannot change the record of a case
// that no longer allows it. The check is a conditional UPDATE: on SQLite
// every write transaction already runs alone, and on PostgreSQL the UPDATE
// holds the case's row lock until tx ends, so the state cannot change
// between the check and the commit. Who may act was checked by the caller
// against the same table; the state is what can change meanwhile.
func lockCaseFor(ctx context.Context, tx *wtx, caseID string, action domain.Action) error {
	in, args := statesFor(action, []any{caseID})
	res, err := tx.ExecContext(ctx, `UPDATE cases SET status = status WHERE id = ? AND `+in, args...)
	if err != nil {
		return fmt.Errorf("lock case %s: %w", caseID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	return stateRefusal(ctx, tx, caseID, action)
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
	return `status IN (` + strings.Join(marks, ", ") + `)`, args
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
