package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"siteinspect/domain"
)

// The office's audit trail, searched (GET /api/v1/audit): newest first,
// page by page on a keyset cursor, the seq of the last event shown. The
// chain only grows at its head, so a walk from the first page to the last
// meets every event that existed when it began exactly once, and never an
// event appended meanwhile (above the first page's cursor).

// AuditQuery selects events of an office's audit trail. Zero fields
// select everything.
type AuditQuery struct {
	// Office is the office whose trail is read: the events of its cases,
	// and the events of no case (a login) of its own people, of admins
	// (who manage every office) and of the system (no actor).
	Office string
	// Actor keeps the events of the user with this id or username.
	Actor string
	// Action keeps events of this action; ending in "*" (case.*), of every
	// action starting with what precedes it.
	Action string
	// Case keeps the events of the case with this id or number.
	Case string
	// From and To keep events at or after From and before To (either may
	// be zero).
	From, To time.Time
	// Before continues the list below this seq (0: from the newest).
	Before int64
	// Limit is the page size (at least 1).
	Limit int
	// HideDrafts leaves out the events of cases that are drafts now: the
	// company's, which the policy shows to no one of the office but an
	// admin (a supervisor's rows start at submission).
	HideDrafts bool
}

// OfficeAuditEvent is an event of the office's trail with the names a
// person reads: the actor's username and display name, the case's number.
type OfficeAuditEvent struct {
	domain.AuditEvent
	ActorName    string `json:"actor_username,omitempty"`
	ActorDisplay string `json:"actor_display_name,omitempty"`
	CaseNumber   string `json:"case_number,omitempty"`
}

// auditFindColumns are auditColumns prefixed with e., then the names.
const auditFindColumns = `e.seq, e.case_id, e.actor_id, e.action, e.target, e.data, e.at, e.prev_hash, e.hash,
	COALESCE(u.username, ''), COALESCE(u.display_name, ''), COALESCE(c.number, '')`

// FindAudit returns a page of q's events, newest first, and the seq to
// continue below (0 on the last page). A case or actor that does not
// exist matches nothing.
func (d *DB) FindAudit(ctx context.Context, q AuditQuery) ([]*OfficeAuditEvent, int64, error) {
	out := []*OfficeAuditEvent{}
	next, err := d.EachAudit(ctx, q, func(e *OfficeAuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, next, err
}

// EachAudit is FindAudit handing each event to fn as it is read, so that a
// caller writing them out (the CSV export) holds one at a time. fn's error
// stops the read and is returned.
func (d *DB) EachAudit(ctx context.Context, q AuditQuery, fn func(*OfficeAuditEvent) error) (int64, error) {
	if q.Limit < 1 {
		q.Limit = 1
	}
	// The office's events: those of its cases, and those of no case by
	// its people, by admins or by the system.
	where := []string{`(c.office = ? OR (e.case_id IS NULL AND (e.actor_id IS NULL OR u.org = ? OR u.role = ?)))`}
	args := []any{q.Office, q.Office, string(domain.RoleAdmin)}
	if q.HideDrafts {
		where = append(where, `(c.id IS NULL OR c.status <> ?)`)
		args = append(args, string(domain.StatusDraft))
	}
	if q.Actor != "" {
		where = append(where, `e.actor_id IN (SELECT id FROM users WHERE id = ? OR username = ?)`)
		args = append(args, q.Actor, q.Actor)
	}
	if a, ok := strings.CutSuffix(q.Action, "*"); ok {
		// LIKE, not a range: a range over text depends on the column's
		// collation on PostgreSQL. Walking the trail newest first meets
		// the events of a family of actions soon; actions are few.
		where = append(where, `e.action LIKE ? ESCAPE '\'`)
		args = append(args, likeEscaper.Replace(a)+"%")
	} else if q.Action != "" {
		where = append(where, `e.action = ?`)
		args = append(args, q.Action)
	}
	if q.Case != "" {
		where = append(where, `e.case_id IN (SELECT id FROM cases WHERE id = ? OR number = ?)`)
		args = append(args, q.Case, strings.ToUpper(q.Case))
	}
	if !q.From.IsZero() {
		where = append(where, `e.at >= ?`)
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, `e.at < ?`)
		args = append(args, ms(q.To))
	}
	if q.Before > 0 {
		where = append(where, `e.seq < ?`)
		args = append(args, q.Before)
	}
	// One row more than the page tells whether another page follows.
	args = append(args, q.Limit+1)
	rows, err := d.query(ctx, `SELECT `+auditFindColumns+` FROM audit_events e
		LEFT JOIN cases c ON c.id = e.case_id
		LEFT JOIN users u ON u.id = e.actor_id
		WHERE `+strings.Join(where, ` AND `)+` ORDER BY e.seq DESC LIMIT ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("find audit: %w", err)
	}
	defer rows.Close()
	var n int
	var last int64
	for rows.Next() {
		if n == q.Limit {
			// The extra row: more follow, below the last one shown.
			return last, rows.Err()
		}
		e, err := scanOfficeAudit(rows)
		if err != nil {
			return 0, fmt.Errorf("find audit: %w", err)
		}
		if err := fn(e); err != nil {
			return 0, err
		}
		n, last = n+1, e.Seq
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find audit: %w", err)
	}
	return 0, nil
}

func scanOfficeAudit(rows *sql.Rows) (*OfficeAuditEvent, error) {
	var e OfficeAuditEvent
	var caseID, actor sql.NullString
	var data string
	var at int64
	if err := rows.Scan(&e.Seq, &caseID, &actor, &e.Action, &e.Target, &data, &at, &e.PrevHash, &e.Hash,
		&e.ActorName, &e.ActorDisplay, &e.CaseNumber); err != nil {
		return nil, err
	}
	e.CaseID, e.ActorID, e.Data, e.At = caseID.String, actor.String, json.RawMessage(data), time.UnixMilli(at).UTC()
	return &e, nil
}
