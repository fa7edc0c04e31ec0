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

// SetEvidenceResult records what the pipeline made of an item.
func (d *DB) SetEvidenceResult(ctx context.Context, id, status, reason string, m *domain.Media, der *domain.Derived) error {
	var media, derived sql.NullString
	if m != nil {
		b, _ := json.Marshal(m)
		media = sql.NullString{String: string(b), Valid: true}
	}
	if der != nil {
		b, _ := json.Marshal(der)
		derived = sql.NullString{String: string(b), Valid: true}
	}
	return d.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence SET status = ?, status_reason = ?, media = ?, derived = ? WHERE id = ?`, status, reason, media, derived, id)
		if err != nil {
			return fmt.Errorf("update evidence %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("evidence %s: %w", id, domain.ErrNotFound)
		}
		if status != domain.EvidenceReady {
			return nil
		}
		// A live session's recording: its live annotations land on it now
		// that its length and frame rate are known.
		return materializeLiveAnnotations(ctx, tx, &domain.Evidence{ID: id, Media: m}, d.now().UTC().Truncate(time.Millisecond))
	})
}

// SetEvidencePlayable records, while an item is still processing, that a
// browser can already play it (der.Playable) and what the probe found, so
// that it can be watched before its poster and filmstrip exist. The case's
// trail gets an evidence.playable event (no actor: the pipeline's) in the
// same transaction, so the case's event stream tells an open case page
// the moment the item plays, on every replica. It returns ErrNotFound for
// an unknown item and ErrConflict once the item is no longer processing
// (ready or failed: SetEvidenceResult has the last word).
func (d *DB) SetEvidencePlayable(ctx context.Context, id string, m *domain.Media, der *domain.Derived) error {
	if der == nil || !der.Playable {
		return fmt.Errorf("evidence %s: playable without Derived.Playable: %w", id, domain.ErrInvalid)
	}
	var media sql.NullString
	if m != nil {
		b, _ := json.Marshal(m)
		media = sql.NullString{String: string(b), Valid: true}
	}
	b, _ := json.Marshal(der)
	return d.tx(ctx, func(tx *wtx) error {
		var caseID string
		err := tx.QueryRowContext(ctx, `UPDATE evidence SET media = ?, derived = ? WHERE id = ? AND status = ? RETURNING case_id`,
			media, string(b), id, domain.EvidenceProcessing).Scan(&caseID)
		if err == nil {
			_, err := appendAudit(ctx, tx, d.now().UTC().Truncate(time.Millisecond), Audit{CaseID: caseID, Action: "evidence.playable", Target: id,
				Data: map[string]any{"proxy": der.Proxy}})
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mark evidence %s playable: %w", id, err)
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM evidence WHERE id = ?`, id).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("evidence %s: %w", id, domain.ErrNotFound)
			}
			return fmt.Errorf("evidence %s status: %w", id, err)
		}
		return fmt.Errorf("evidence %s is %s, not processing: %w", id, status, domain.ErrConflict)
	})
}

func insertEvidence(ctx context.Context, tx *wtx, e *domain.Evidence) error {
	var media sql.NullString
	if e.Media != nil {
		b, _ := json.Marshal(e.Media)
		media = sql.NullString{String: string(b), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, status_reason, object_key, uploaded_by, created_at, media, slot)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.CaseID, string(e.Kind), e.Filename, e.ContentType, e.Size, e.SHA256, e.Status, e.StatusReason, e.ObjectKey, e.UploadedBy, ms(e.CreatedAt), media, e.Slot)
	if err != nil {
		return fmt.Errorf("insert evidence %s: %w", e.ID, err)
	}
	return nil
}

const evidenceColumns = `id, case_id, kind, filename, content_type, size, sha256, status, status_reason, object_key, uploaded_by, created_at, media, derived, slot, removed_at`

func scanEvidence(row scanner) (*domain.Evidence, error) {
	var e domain.Evidence
	var created int64
	var media, derived sql.NullString
	var removed sql.NullInt64
	if err := row.Scan(&e.ID, &e.CaseID, &e.Kind, &e.Filename, &e.ContentType, &e.Size, &e.SHA256, &e.Status, &e.StatusReason, &e.ObjectKey, &e.UploadedBy, &created, &media, &derived, &e.Slot, &removed); err != nil {
		return nil, err
	}
	if removed.Valid {
		at := time.UnixMilli(removed.Int64).UTC()
		e.RemovedAt = &at
	}
	if derived.Valid {
		e.Derived = new(domain.Derived)
		if err := json.Unmarshal([]byte(derived.String), e.Derived); err != nil {
			return nil, fmt.Errorf("evidence %s derived: %w", e.ID, err)
		}
	}
	e.CreatedAt = time.UnixMilli(created).UTC()
	if media.Valid {
		e.Media = new(domain.Media)
		if err := json.Unmarshal([]byte(media.String), e.Media); err != nil {
			return nil, fmt.Errorf("evidence %s media: %w", e.ID, err)
		}
	}
	return &e, nil
}

// Evidence returns one item, removed from its draft or not (RemovedAt), or
// ErrNotFound. Callers check the case's visibility.
func (d *DB) Evidence(ctx context.Context, id string) (*domain.Evidence, error) {
	e, err := scanEvidence(d.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE id = ?`, id))
	return e, notFound(err, "evidence "+id)
}

// evidenceWithCaseSelect reads an evidence item's row and its case's
// (caseCoreSelect's columns) in one statement.
var evidenceWithCaseSelect = `SELECT e.` + strings.ReplaceAll(evidenceColumns, ", ", ", e.") + `, ` +
	strings.TrimPrefix(caseColumns, "SELECT ") + `0, 0, NULL` +
	strings.Replace(caseFrom, "FROM cases c", "FROM evidence e JOIN cases c ON c.id = e.case_id", 1) + ` WHERE e.id = ?`

// EvidenceWithCase is Evidence and then CaseCore of its case, read in one
// statement: one round trip to the database for the annotation hot paths
// instead of two, and the two rows from one snapshot. ErrNotFound when
// there is no such item.
func (d *DB) EvidenceWithCase(ctx context.Context, id string) (*domain.Evidence, *domain.Case, error) {
	row := d.queryRow(ctx, evidenceWithCaseSelect, id)
	var cs *domain.Case
	// scanEvidence's Scan hands its destinations to scanCase's, which
	// reads the whole row into both; each then finishes its own.
	ev, err := scanEvidence(scanFunc(func(evDest ...any) error {
		var err error
		cs, err = scanCase(scanFunc(func(caseDest ...any) error {
			return row.Scan(append(evDest[:len(evDest):len(evDest)], caseDest...)...)
		}))
		return err
	}))
	if err != nil {
		return nil, nil, notFound(err, "evidence "+id)
	}
	d.evCopies.keep(ev, cs, time.Now())
	return ev, cs, nil
}

// scanFunc is a function with the Scan method of a row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// ListEvidence returns a case's evidence, oldest first, without the items
// removed from its draft (RemoveEvidence).
func (d *DB) ListEvidence(ctx context.Context, caseID string) ([]*domain.Evidence, error) {
	return queryAll(ctx, d, "list evidence", scanEvidence, `SELECT `+evidenceColumns+` FROM evidence WHERE case_id = ? AND removed_at IS NULL ORDER BY created_at, id`, caseID)
}
