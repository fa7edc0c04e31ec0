package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"siteinspect/domain"
	"time"
)

// Audit is what an action records.
type Audit struct {
	CaseID, ActorID, Action, Target string
	Data                            any
}

// appendAudit adds an event to the chain inside tx, so the change it
// records and its record commit together. Write transactions take a lock at
// BEGIN (SQLite's _txlock=immediate; on PostgreSQL, shared by every
// replica, the advisory lock pgConn.BeginTx takes, see postgres.go), so
// events are appended one at a time: the head read here is the newest
// committed, and nobody appends after it before this transaction ends.
func appendAudit(ctx context.Context, tx *sql.Tx, now time.Time, a Audit) (*domain.AuditEvent, error) {
	return appendAuditVia(ctx, now, a,
		func(q string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, q, args...) },
		func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err })
}

// appendAudit is the package's appendAudit through statements prepared
// once, for the transactions on hot paths (every annotation appends one).
func (d *DB) appendAudit(ctx context.Context, tx *sql.Tx, now time.Time, a Audit) (*domain.AuditEvent, error) {
	return appendAuditVia(ctx, now, a,
		func(q string, args ...any) *sql.Row {
			st, err := d.txStmt(ctx, tx, q)
			if err != nil {
				return tx.QueryRowContext(ctx, q, args...)
			}
			return st.QueryRowContext(ctx, args...)
		},
		func(q string, args ...any) error { _, err := d.txExec(ctx, tx, q, args...); return err })
}

func appendAuditVia(ctx context.Context, now time.Time, a Audit, queryRow func(string, ...any) *sql.Row, exec func(string, ...any) error) (*domain.AuditEvent, error) {
	data, err := json.Marshal(a.Data)
	if err != nil {
		return nil, fmt.Errorf("audit data: %w", err)
	}
	if a.Data == nil {
		data = []byte("{}")
	}
	e := &domain.AuditEvent{CaseID: a.CaseID, ActorID: a.ActorID, Action: a.Action, Target: a.Target, Data: data, At: now.UTC().Truncate(time.Millisecond), PrevHash: domain.GenesisHash}
	err = queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&e.Seq, &e.PrevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	e.Seq++
	e.Hash = domain.ChainHash(e.PrevHash, e.Canonical())
	err = exec(`INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, nullString(e.CaseID), nullString(e.ActorID), e.Action, e.Target, string(e.Data), ms(e.At), e.PrevHash, e.Hash)
	if err != nil {
		return nil, fmt.Errorf("append audit: %w", err)
	}
	return e, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// RecordAudit appends an event on its own, for actions that change nothing
// else (a login, an officer reading evidence).
func (d *DB) RecordAudit(ctx context.Context, a Audit) (*domain.AuditEvent, error) {
	var e *domain.AuditEvent
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = d.appendAudit(ctx, tx, d.now(), a)
		return err
	})
	return e, err
}

func scanAudit(rows *sql.Rows) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	var caseID, actor sql.NullString
	var data string
	var at int64
	if err := rows.Scan(&e.Seq, &caseID, &actor, &e.Action, &e.Target, &data, &at, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.CaseID, e.ActorID, e.Data, e.At = caseID.String, actor.String, json.RawMessage(data), time.UnixMilli(at).UTC()
	return &e, nil
}

const auditColumns = `seq, case_id, actor_id, action, target, data, at, prev_hash, hash`

// CaseAudit returns a case's events in order, after seq `after` (0 for all),
// at most limit.
func (d *DB) CaseAudit(ctx context.Context, caseID string, after int64, limit int) ([]*domain.AuditEvent, error) {
	rows, err := d.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?`, caseID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("case audit: %w", err)
	}
	defer rows.Close()
	out := []*domain.AuditEvent{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditHead returns the newest event's seq and hash (0 and the genesis
// hash for an empty chain).
func (d *DB) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	hash := domain.GenesisHash
	err := d.queryRow(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, domain.GenesisHash, nil
	}
	return seq, hash, err
}

// VerifyAudit walks the whole chain in order, recomputing every hash. It
// returns the number of events checked, and a *ChainBreak naming the first
// event that does not match (edited, removed or reordered).
func (d *DB) VerifyAudit(ctx context.Context) (int64, error) {
	rows, err := d.query(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	prev, want := domain.GenesisHash, int64(1)
	var n int64
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return n, err
		}
		switch {
		case e.Seq != want:
			return n, &domain.ChainBreak{Seq: want, Reason: fmt.Sprintf("missing (the next event is %d)", e.Seq)}
		case e.PrevHash != prev:
			return n, &domain.ChainBreak{Seq: e.Seq, Reason: "prev_hash does not match the previous event's hash"}
		case domain.ChainHash(prev, e.Canonical()) != e.Hash:
			return n, &domain.ChainBreak{Seq: e.Seq, Reason: "content does not match its hash (the event was altered)"}
		}
		prev, want = e.Hash, want+1
		n++
	}
	return n, rows.Err()
}
