package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"siteinspect/domain"
)

// queryer is what reviewSummary reads through: the database, or a
// transaction that checks the summary before it decides.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// ReviewSummary returns what the officer userID confirms against before
// deciding or countersigning on the case: its failed findings, its open
// violation notes, and the evidence userID has not opened (no
// evidence.read event of theirs in the audit log).
func (d *DB) ReviewSummary(ctx context.Context, caseID, userID string) (*domain.ReviewSummary, error) {
	s, err := reviewSummary(ctx, d.sql, caseID, userID)
	if err != nil {
		return nil, fmt.Errorf("review summary of case %s: %w", caseID, err)
	}
	return s, nil
}

func reviewSummary(ctx context.Context, q queryer, caseID, userID string) (*domain.ReviewSummary, error) {
	s := &domain.ReviewSummary{Failed: []*domain.Finding{}, OpenViolations: []domain.ViolationRef{}, Unopened: []domain.EvidenceRef{}}
	rows, err := q.QueryContext(ctx, `SELECT f.checklist_item, f.note, f.annotation_ids, f.updated_at FROM findings f
		WHERE f.case_id = ? AND f.result = 'fail' ORDER BY f.checklist_item`, caseID)
	if err != nil {
		return nil, fmt.Errorf("failed findings: %w", err)
	}
	for rows.Next() {
		f := &domain.Finding{Result: "fail"}
		var ids string
		var at int64
		if err := rows.Scan(&f.ChecklistItem, &f.Note, &ids, &at); err != nil {
			rows.Close()
			return nil, err
		}
		json.Unmarshal([]byte(ids), &f.AnnotationIDs)
		f.UpdatedAt = time.UnixMilli(at).UTC()
		s.Failed = append(s.Failed, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT a.id, a.evidence_id, a.body, a.checklist_item FROM annotations a
		WHERE a.case_id = ? AND a.severity = 'violation' AND a.resolved_at IS NULL AND a.deleted_at IS NULL
		ORDER BY a.created_at, a.id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("open violations: %w", err)
	}
	for rows.Next() {
		var v domain.ViolationRef
		if err := rows.Scan(&v.ID, &v.EvidenceID, &v.Body, &v.ChecklistItem); err != nil {
			rows.Close()
			return nil, err
		}
		s.OpenViolations = append(s.OpenViolations, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Evidence the pipeline gave up on cannot be opened; the rest can,
	// and the audit log records each opening (content, playback, a PDF
	// page) as evidence.read.
	rows, err = q.QueryContext(ctx, `SELECT e.id, e.filename, e.kind,
		NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.case_id = e.case_id AND a.actor_id = ? AND a.action = 'evidence.read' AND a.target = e.id)
		FROM evidence e WHERE e.case_id = ? AND e.removed_at IS NULL AND e.status <> ? ORDER BY e.created_at, e.id`, userID, caseID, domain.EvidenceFailed)
	if err != nil {
		return nil, fmt.Errorf("unopened evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e domain.EvidenceRef
		var unopened bool
		if err := rows.Scan(&e.ID, &e.Filename, &e.Kind, &unopened); err != nil {
			return nil, err
		}
		s.EvidenceTotal++
		if unopened {
			s.Unopened = append(s.Unopened, e)
		}
	}
	return s, rows.Err()
}
