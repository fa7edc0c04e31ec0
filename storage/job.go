package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"siteinspect/domain"
	"time"
)

func enqueueJob(ctx context.Context, tx *wtx, kind, evidenceID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, evidence_id, state, max_attempts, run_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		domain.NewID(), kind, evidenceID, domain.JobQueued, domain.DefaultJobAttempts, ms(now), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return nil
}

// ClaimJob leases the oldest runnable job of lane for owner: a queued one
// whose time has come, or a running one whose lease ran out because its
// worker died. It returns ErrNotFound when there is none.
func (d *DB) ClaimJob(ctx context.Context, owner string, lease time.Duration, lane domain.JobLane) (*domain.Job, error) {
	now := d.now()
	var j domain.Job
	var evidenceID, timestampID, notificationID sql.NullString
	args := []any{domain.JobQueued, ms(now), domain.JobRunning, ms(now), domain.JobProcessEvidence}
	var inLane string // the lane's condition on the job
	switch lane {
	case domain.LaneMedia:
		inLane = "kind = ?"
	case domain.LaneQuickMedia:
		inLane = `kind = ? AND evidence_id IN (SELECT id FROM evidence WHERE kind = ? OR (kind = ? AND size <= ?))`
		args = append(args, string(domain.KindImage), string(domain.KindPDF), domain.QuickPDFBytes)
	default:
		inLane = "kind <> ?"
	}
	q := `SELECT id, kind, evidence_id, timestamp_id, notification_id, attempts, max_attempts, last_error FROM jobs
			WHERE ((state = ? AND run_after <= ?) OR (state = ? AND lease_until < ?)) AND ` + inLane + `
			ORDER BY run_after, created_at LIMIT 1`
	// Workers of other replicas pass over a job being claimed instead of
	// waiting for it (on SQLite, with one writer, there is nothing to skip).
	q += d.dialect.SkipLocked()
	err := d.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, q, args...).
			Scan(&j.ID, &j.Kind, &evidenceID, &timestampID, &notificationID, &j.Attempts, &j.MaxAttempts, &j.LastError)
		if err != nil {
			return err
		}
		j.EvidenceID, j.TimestampID, j.NotificationID = evidenceID.String, timestampID.String, notificationID.String
		j.Attempts++
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, attempts = ?, lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?`,
			domain.JobRunning, j.Attempts, owner, ms(now.Add(lease)), ms(now), j.ID)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return &j, nil
}

// ExtendJob renews owner's lease on a running job. It returns ErrConflict
// when the lease was lost (the job may be running elsewhere now).
func (d *DB) ExtendJob(ctx context.Context, id, owner string, lease time.Duration) error {
	res, err := d.exec(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = ?`, ms(d.now().Add(lease)), id, owner, domain.JobRunning)
	if err != nil {
		return fmt.Errorf("extend job: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return domain.Errorf(domain.ErrConflict, "lost the lease on job "+id)
	}
	return nil
}

// FinishJob ends a job: done when runErr is nil; otherwise queued again
// after retryAfter, or failed once it has used its attempts (or when retry
// is false).
func (d *DB) FinishJob(ctx context.Context, j *domain.Job, owner string, runErr error, retry bool, retryAfter time.Duration) (state string, err error) {
	now := d.now()
	state, msg := domain.JobDone, ""
	if runErr != nil {
		msg = runErr.Error()
		state = domain.JobFailed
		if retry && j.Attempts < j.MaxAttempts {
			state = domain.JobQueued
		}
	}
	_, err = d.exec(ctx, `UPDATE jobs SET state = ?, last_error = ?, run_after = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?`,
		state, msg, ms(now.Add(retryAfter)), ms(now), j.ID, owner)
	if err != nil {
		return "", fmt.Errorf("finish job: %w", err)
	}
	return state, nil
}

// ReleaseAllJobLeases makes every running job runnable again at once. Only
// for a single-process deployment (SQLite) at start-up, where every worker
// that held a lease is known to be dead.
func (d *DB) ReleaseAllJobLeases(ctx context.Context) error {
	_, err := d.exec(ctx, `UPDATE jobs SET lease_until = 0 WHERE state = ?`, domain.JobRunning)
	return err
}

// JobCounts returns how many jobs are in each state (for metrics and tests).
func (d *DB) JobCounts(ctx context.Context) (map[string]int, error) {
	rows, err := d.query(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
