package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"siteinspect/domain"
	"strings"
	"time"
)

// Audit is what an action records.
type Audit struct {
	CaseID, ActorID, Action, Target string
	Data                            any
}

// wtx is a write transaction: the *sql.Tx, and the audit events recorded
// in it, which are chained (given their seq, prev and hash) just before it
// commits.
type wtx struct {
	*sql.Tx
	audits []*domain.AuditEvent
	// timestamps is whether this database requests time-stamps
	// (EnableTimestamps); stampHead names the case whose action asked for
	// one over the chain's head once tx's events are chained.
	timestamps bool
	stampHead  string
	// joinLink is the live session's join link (with its publish token)
	// that the invitation notification of a live.created event carries.
	joinLink string
	// notes, in a batch on PostgreSQL only, gathers its annotation
	// creates for flushNotes.
	notes *noteInserts
}

// appendAudit records an event in tx, so that the change it records and its
// record commit together. The event joins the chain when tx commits
// (chainAudits): only then are its Seq, PrevHash and Hash set.
func appendAudit(ctx context.Context, tx *wtx, now time.Time, a Audit) (*domain.AuditEvent, error) {
	data, err := json.Marshal(a.Data)
	if err != nil {
		return nil, fmt.Errorf("audit data: %w", err)
	}
	if a.Data == nil {
		data = []byte("{}")
	}
	e := &domain.AuditEvent{CaseID: a.CaseID, ActorID: a.ActorID, Action: a.Action, Target: a.Target, Data: data, At: now.UTC().Truncate(time.Millisecond)}
	tx.audits = append(tx.audits, e)
	return e, nil
}

// chainAudits appends tx's events to the chain, in the order they were
// recorded, as the last statements before COMMIT. The chain needs one total
// order, so appends are serialised: on SQLite by the one writer, on
// PostgreSQL by the dialect's chain lock, taken here and held until the
// commit, so that the head read below is the newest committed and nobody
// appends after it meanwhile. Taking it last keeps it held for a few
// statements, and never while waiting for a row lock, so it cannot close a
// deadlock: whatever else the transaction locks, it locked before.
func (d *DB) chainAudits(ctx context.Context, tx *wtx) error {
	if len(tx.audits) == 0 {
		return nil
	}
	if err := d.dialect.LockChain(ctx, tx.Tx); err != nil {
		return err
	}
	var seq int64
	prev := domain.GenesisHash
	err := d.txQueryRow(ctx, tx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit head: %w", err)
	}
	for _, e := range tx.audits {
		seq++
		e.Seq, e.PrevHash = seq, prev
		e.Hash = domain.ChainHash(e.PrevHash, e.Canonical())
		prev = e.Hash
	}
	// One statement per event on SQLite, where a statement is a call in
	// process; on PostgreSQL each is a round trip to the server made while
	// holding the chain lock, so a batch's events go in a few multi-row
	// INSERTs.
	per := 1
	if d.writer == nil {
		per = auditRowsPerInsert
	}
	for rest := tx.audits; len(rest) > 0; {
		chunk := rest[:min(per, len(rest))]
		rest = rest[len(chunk):]
		args := make([]any, 0, 9*len(chunk))
		for _, e := range chunk {
			args = append(args, e.Seq, nullString(e.CaseID), nullString(e.ActorID), e.Action, e.Target, string(e.Data), ms(e.At), e.PrevHash, e.Hash)
		}
		q := `INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?, ?, ?)`, len(chunk)-1)
		if _, err := d.txExec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
	}
	tx.audits = nil
	if tx.stampHead != "" {
		return requestTimestamp(ctx, tx, domain.Timestamp{Kind: domain.TimestampAuditHead, CaseID: tx.stampHead, AuditSeq: seq, Digest: prev}, d.now())
	}
	return nil
}

// auditRowsPerInsert bounds the rows of one INSERT into audit_events where
// they are sent together (PostgreSQL): 9 parameters each, far below the
// protocol's 65,535, and few enough distinct statements for pgx's cache.
const auditRowsPerInsert = 64

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// RecordAudit appends an event on its own, for actions that change nothing
// else (a login, an officer reading evidence).
func (d *DB) RecordAudit(ctx context.Context, a Audit) (*domain.AuditEvent, error) {
	var e *domain.AuditEvent
	err := d.tx(ctx, func(tx *wtx) error {
		var err error
		e, err = appendAudit(ctx, tx, d.now(), a)
		return err
	})
	return e, err
}

func scanAudit(row scanner) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	var caseID, actor sql.NullString
	var data string
	var at int64
	if err := row.Scan(&e.Seq, &caseID, &actor, &e.Action, &e.Target, &data, &at, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.CaseID, e.ActorID, e.Data, e.At = caseID.String, actor.String, json.RawMessage(data), time.UnixMilli(at).UTC()
	return &e, nil
}

const auditColumns = `seq, case_id, actor_id, action, target, data, at, prev_hash, hash`

// CaseAudit returns a case's events in order, after seq `after` (0 for all),
// at most limit.
func (d *DB) CaseAudit(ctx context.Context, caseID string, after int64, limit int) ([]*domain.AuditEvent, error) {
	return queryAll(ctx, d, "case audit", scanAudit, `SELECT `+auditColumns+` FROM audit_events WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?`, caseID, after, limit)
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
