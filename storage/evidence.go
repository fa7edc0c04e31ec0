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
	Derived      *Derived  `json:"derived"`
	ObjectKey    string    `json:"-"`
}

// Evidence statuses: processing until the media pipeline has made the item
// reviewable (ready) or given up on it (failed, with a reason).
const (
	EvidenceProcessing = "processing"
	EvidenceReady      = "ready"
	EvidenceFailed     = "failed"
)

// Derived lists what the pipeline made from an original; each file lives at
// DerivedKey(case, evidence, name).
type Derived struct {
	// Poster is a JPEG frame of a video, or the preview of an image.
	Poster bool `json:"poster,omitempty"`
	// Proxy is an H.264/AAC MP4 made because the original does not play in
	// browsers.
	Proxy bool `json:"proxy,omitempty"`
	// Filmstrip describes the thumbnail sprite for hover-scrubbing.
	Filmstrip *Filmstrip `json:"filmstrip,omitempty"`
	// Thumbnail is a small JPEG of an image.
	Thumbnail bool `json:"thumbnail,omitempty"`
	// Pages is how many page images a PDF has (pages/N.png, pages/thumbs/N.png).
	Pages int `json:"pages,omitempty"`
	// Text says a PDF's text per page is stored (text.json).
	Text bool `json:"text,omitempty"`
}

// Filmstrip is the index of a thumbnail sprite: Count tiles of TileWidth ×
// TileHeight, Columns per row, one every IntervalMS.
type Filmstrip struct {
	IntervalMS int64 `json:"interval_ms"`
	Columns    int   `json:"columns"`
	Rows       int   `json:"rows"`
	TileWidth  int   `json:"tile_width"`
	TileHeight int   `json:"tile_height"`
	Count      int   `json:"count"`
}

// Names of derived files.
const (
	DerivedPoster    = "poster.jpg"
	DerivedProxy     = "proxy.mp4"
	DerivedFilmstrip = "filmstrip.jpg"
	DerivedThumbnail = "thumb.jpg"
	DerivedText      = "text.json"
)

// DerivedPage names page n's image (or its thumbnail) of a PDF.
func DerivedPage(n int, thumb bool) string {
	if thumb {
		return fmt.Sprintf("pages/thumbs/%d.png", n)
	}
	return fmt.Sprintf("pages/%d.png", n)
}

// DerivedKey is where a derived file of an evidence item lives.
func DerivedKey(caseID, evidenceID, name string) string {
	return "cases/" + caseID + "/evidence/" + evidenceID + "/derived/" + name
}

// SetEvidenceResult records what the pipeline made of an item.
func (d *DB) SetEvidenceResult(ctx context.Context, id, status, reason string, m *Media, der *Derived) error {
	var media, derived sql.NullString
	if m != nil {
		b, _ := json.Marshal(m)
		media = sql.NullString{String: string(b), Valid: true}
	}
	if der != nil {
		b, _ := json.Marshal(der)
		derived = sql.NullString{String: string(b), Valid: true}
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence SET status = ?, status_reason = ?, media = ?, derived = ? WHERE id = ?`, status, reason, media, derived, id)
		if err != nil {
			return fmt.Errorf("update evidence %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("evidence %s: %w", id, ErrNotFound)
		}
		if status != EvidenceReady {
			return nil
		}
		// A live session's recording: its live annotations land on it now
		// that its length and frame rate are known.
		return materializeLiveAnnotations(ctx, tx, &Evidence{ID: id, Media: m}, d.now().UTC().Truncate(time.Millisecond))
	})
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

const evidenceColumns = `id, case_id, kind, filename, content_type, size, sha256, status, status_reason, object_key, uploaded_by, created_at, media, derived`

func scanEvidence(row interface{ Scan(...any) error }) (*Evidence, error) {
	var e Evidence
	var created int64
	var media, derived sql.NullString
	if err := row.Scan(&e.ID, &e.CaseID, &e.Kind, &e.Filename, &e.ContentType, &e.Size, &e.SHA256, &e.Status, &e.StatusReason, &e.ObjectKey, &e.UploadedBy, &created, &media, &derived); err != nil {
		return nil, err
	}
	if derived.Valid {
		e.Derived = new(Derived)
		if err := json.Unmarshal([]byte(derived.String), e.Derived); err != nil {
			return nil, fmt.Errorf("evidence %s derived: %w", e.ID, err)
		}
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
	e, err := scanEvidence(d.queryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE id = ?`, id))
	return e, notFound(err, "evidence "+id)
}

// ListEvidence returns a case's evidence, oldest first.
func (d *DB) ListEvidence(ctx context.Context, caseID string) ([]*Evidence, error) {
	rows, err := d.query(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE case_id = ? ORDER BY created_at, id`, caseID)
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
