package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Kind is what an evidence item is.
type Kind string

// The evidence kinds.
const (
	KindVideo     Kind = "video"
	KindImage     Kind = "image"
	KindPDF       Kind = "pdf"
	KindRecording Kind = "recording"
)

// Media holds what the media pipeline learns about a file; nil until then.
type Media struct {
	DurationMS *int64   `json:"duration_ms,omitempty"`
	Width      *int     `json:"width,omitempty"`
	Height     *int     `json:"height,omitempty"`
	VideoCodec string   `json:"video_codec,omitempty"`
	AudioCodec string   `json:"audio_codec,omitempty"`
	FPS        *float64 `json:"fps,omitempty"`
	Pages      *int     `json:"pages,omitempty"`
	CapturedAt *string  `json:"captured_at,omitempty"`
	Location   *string  `json:"location,omitempty"`
}

// Evidence is one file of a case: its original bytes are immutable and
// identified by their SHA-256.
type Evidence struct {
	ID           string    `json:"id"`
	CaseID       string    `json:"case_id"`
	Kind         Kind      `json:"kind"`
	Filename     string    `json:"filename"`
	ContentType  string    `json:"content_type"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	UploadedBy   string    `json:"uploaded_by"`
	CreatedAt    time.Time `json:"created_at"`
	Media        *Media    `json:"media"`
	ObjectKey    string    `json:"-"`
}

// EvidenceKey is where an evidence item's original bytes live.
func EvidenceKey(caseID, evidenceID string) string {
	return "cases/" + caseID + "/evidence/" + evidenceID + "/original"
}

func insertEvidence(ctx context.Context, tx *sql.Tx, e *Evidence) error {
	var media sql.NullString
	if e.Media != nil {
		b, _ := json.Marshal(e.Media)
		media = sql.NullString{String: string(b), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO evidence (id, case_id, kind, filename, content_type, size, sha256, status, status_reason, object_key, uploaded_by, created_at, media)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.CaseID, string(e.Kind), e.Filename, e.ContentType, e.Size, e.SHA256, e.Status, e.StatusReason, e.ObjectKey, e.UploadedBy, ms(e.CreatedAt), media)
	if err != nil {
		return fmt.Errorf("insert evidence %s: %w", e.ID, err)
	}
	return nil
}

const evidenceColumns = `id, case_id, kind, filename, content_type, size, sha256, status, status_reason, object_key, uploaded_by, created_at, media`

func scanEvidence(row interface{ Scan(...any) error }) (*Evidence, error) {
	var e Evidence
	var created int64
	var media sql.NullString
	if err := row.Scan(&e.ID, &e.CaseID, &e.Kind, &e.Filename, &e.ContentType, &e.Size, &e.SHA256, &e.Status, &e.StatusReason, &e.ObjectKey, &e.UploadedBy, &created, &media); err != nil {
		return nil, err
	}
	e.CreatedAt = time.UnixMilli(created).UTC()
	if media.Valid {
		e.Media = new(Media)
		if err := json.Unmarshal([]byte(media.String), e.Media); err != nil {
			return nil, fmt.Errorf("evidence %s media: %w", e.ID, err)
		}
	}
	return &e, nil
}

// Evidence returns one item or ErrNotFound. Callers check the case's
// visibility.
func (d *DB) Evidence(ctx context.Context, id string) (*Evidence, error) {
	e, err := scanEvidence(d.sql.QueryRowContext(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE id = ?`, id))
	return e, notFound(err, "evidence "+id)
}

// ListEvidence returns a case's evidence, oldest first.
func (d *DB) ListEvidence(ctx context.Context, caseID string) ([]*Evidence, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE case_id = ? ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("list evidence: %w", err)
	}
	defer rows.Close()
	out := []*Evidence{}
	for rows.Next() {
		e, err := scanEvidence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
