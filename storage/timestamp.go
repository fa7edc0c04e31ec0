package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"siteinspect/domain"
)

// EnableTimestamps makes every original upload, recording, decision and
// countersign from now on request an RFC 3161 time-stamp: a pending row and
// a job written in the same transaction (the job obtains the token later,
// so a time-stamping authority's outage blocks nothing). Call it once at
// start-up, before the DB is shared.
func (d *DB) EnableTimestamps() { d.timestamps = true }

// requestTimestamp records, in tx, that ts.Digest needs a token, and queues
// the job that obtains it. It does nothing unless EnableTimestamps was
// called.
func requestTimestamp(ctx context.Context, tx *wtx, ts domain.Timestamp, now time.Time) error {
	if !tx.timestamps {
		return nil
	}
	ts.ID = domain.NewID()
	var seq sql.NullInt64
	if ts.Kind == domain.TimestampAuditHead {
		seq = sql.NullInt64{Int64: ts.AuditSeq, Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO timestamps (id, kind, case_id, evidence_id, audit_seq, digest, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ts.ID, ts.Kind, nullString(ts.CaseID), nullString(ts.EvidenceID), seq, ts.Digest, domain.TimestampPending, ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("request %s time-stamp: %w", ts.Kind, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, timestamp_id, state, max_attempts, run_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		domain.NewID(), domain.JobTimestamp, ts.ID, domain.JobQueued, domain.TimestampJobAttempts, ms(now), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("enqueue time-stamp job: %w", err)
	}
	return nil
}

// timestampEvidence requests a token over a new original's or recording's
// SHA-256, in the transaction that adds it.
func timestampEvidence(ctx context.Context, tx *wtx, ev *domain.Evidence) error {
	kind := domain.TimestampEvidence
	if ev.Kind == domain.KindRecording {
		kind = domain.TimestampRecording
	}
	return requestTimestamp(ctx, tx, domain.Timestamp{Kind: kind, CaseID: ev.CaseID, EvidenceID: ev.ID, Digest: ev.SHA256}, ev.CreatedAt)
}

const timestampColumns = `t.id, t.kind, t.case_id, t.evidence_id, t.audit_seq, t.digest, t.state, t.token, t.gen_time, t.tsa_url, t.last_error, t.created_at`

func scanTimestamp(row scanner, extra ...any) (*domain.Timestamp, error) {
	var t domain.Timestamp
	var caseID, evID sql.NullString
	var seq, gen sql.NullInt64
	var created int64
	dest := append([]any{&t.ID, &t.Kind, &caseID, &evID, &seq, &t.Digest, &t.State, &t.Token, &gen, &t.TSA, &t.LastError, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.CaseID, t.EvidenceID, t.AuditSeq = caseID.String, evID.String, seq.Int64
	if gen.Valid {
		g := time.UnixMilli(gen.Int64).UTC()
		t.GenTime = &g
	}
	t.CreatedAt = time.UnixMilli(created).UTC()
	return &t, nil
}

// Timestamp returns one time-stamp row or ErrNotFound.
func (d *DB) Timestamp(ctx context.Context, id string) (*domain.Timestamp, error) {
	t, err := scanTimestamp(d.queryRow(ctx, `SELECT `+timestampColumns+` FROM timestamps t WHERE t.id = ?`, id))
	return t, notFound(err, "time-stamp "+id)
}

// SetTimestampToken stores the token obtained for a pending time-stamp.
func (d *DB) SetTimestampToken(ctx context.Context, id string, token []byte, genTime time.Time, tsa string) error {
	res, err := d.exec(ctx, `UPDATE timestamps SET state = ?, token = ?, gen_time = ?, tsa_url = ?, last_error = '', updated_at = ? WHERE id = ?`,
		domain.TimestampDone, token, genTime.UnixMilli(), tsa, ms(d.now()), id)
	if err != nil {
		return fmt.Errorf("store time-stamp %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("time-stamp %s: %w", id, domain.ErrNotFound)
	}
	return nil
}

// NoteTimestampError records why the latest attempt failed; failed marks
// the time-stamp as given up.
func (d *DB) NoteTimestampError(ctx context.Context, id, msg string, failed bool) error {
	state := domain.TimestampPending
	if failed {
		state = domain.TimestampFailed
	}
	_, err := d.exec(ctx, `UPDATE timestamps SET state = ?, last_error = ?, updated_at = ? WHERE id = ? AND state <> ?`,
		state, msg, ms(d.now()), id, domain.TimestampDone)
	if err != nil {
		return fmt.Errorf("note time-stamp %s error: %w", id, err)
	}
	return nil
}

// CaseTimestamps returns a case's time-stamps, oldest first.
func (d *DB) CaseTimestamps(ctx context.Context, caseID string) ([]*domain.Timestamp, error) {
	return d.listTimestamps(ctx, `SELECT `+timestampColumns+`, '' FROM timestamps t WHERE t.case_id = ? ORDER BY t.created_at, t.id`, caseID)
}

// TimestampPending reports whether any of a case's time-stamps still waits
// for its token.
func (d *DB) TimestampPending(ctx context.Context, caseID string) (bool, error) {
	var n int
	err := d.queryRow(ctx, `SELECT COUNT(*) FROM timestamps WHERE case_id = ? AND state = ?`, caseID, domain.TimestampPending).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("pending time-stamps: %w", err)
	}
	return n > 0, nil
}

// AllTimestamps returns every time-stamp, oldest first, each with Covered:
// the digest of what it names as the database holds it now (the evidence's
// sha256 or the audit event's hash; empty when that is gone).
func (d *DB) AllTimestamps(ctx context.Context) ([]*domain.Timestamp, error) {
	return d.listTimestamps(ctx, `SELECT `+timestampColumns+`, COALESCE(e.sha256, a.hash, '')
		FROM timestamps t LEFT JOIN evidence e ON e.id = t.evidence_id LEFT JOIN audit_events a ON a.seq = t.audit_seq
		ORDER BY t.created_at, t.id`)
}

func (d *DB) listTimestamps(ctx context.Context, q string, args ...any) ([]*domain.Timestamp, error) {
	return queryAll(ctx, d, "list time-stamps", func(row scanner) (*domain.Timestamp, error) {
		var covered string
		t, err := scanTimestamp(row, &covered)
		if err != nil {
			return nil, err
		}
		t.Covered = covered
		return t, nil
	}, q, args...)
}

// TimestampHeadIfStale requests a token over the audit chain's head when
// events have been appended since the newest head token was requested and
// that request is older than maxAge (or there is none): so the chain is
// time-stamped at least that often while events arrive, not only at
// decisions. It reports whether it requested one. Replicas calling it at
// once may both request one; that costs a token, nothing else.
func (d *DB) TimestampHeadIfStale(ctx context.Context, maxAge time.Duration) (bool, error) {
	if !d.timestamps {
		return false, nil
	}
	requested := false
	err := d.tx(ctx, func(tx *wtx) error {
		var seq int64
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
		var lastSeq, lastAt int64
		err = tx.QueryRowContext(ctx, `SELECT audit_seq, created_at FROM timestamps WHERE kind = ? ORDER BY audit_seq DESC LIMIT 1`, domain.TimestampAuditHead).Scan(&lastSeq, &lastAt)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("newest head time-stamp: %w", err)
		}
		now := d.now()
		if seq <= lastSeq || (lastAt != 0 && now.Sub(time.UnixMilli(lastAt)) < maxAge) {
			return nil
		}
		requested = true
		return requestTimestamp(ctx, tx, domain.Timestamp{Kind: domain.TimestampAuditHead, AuditSeq: seq, Digest: hash}, now)
	})
	if err != nil {
		return false, fmt.Errorf("time-stamp the audit head: %w", err)
	}
	return requested, nil
}
