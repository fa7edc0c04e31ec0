package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// UploadConfig tunes resumable uploads.
type UploadConfig struct {
	// SpoolDir holds, per upload, the bytes of parts not yet in the object
	// store. It must survive a restart (it lives under the data directory by
	// default) so an interrupted upload resumes without losing them.
	SpoolDir string
	// PartSize is the multipart part size: larger parts mean fewer requests
	// to the object store but more bytes re-sent when a part's upload fails.
	// At least MinPartSize; 8 GiB in 16 MiB parts is 512 parts, far below
	// S3's 10,000.
	PartSize int64
	// PartConcurrency is how many parts of one upload go to the object store
	// at once while the next ones are received. It also bounds the spool:
	// at most PartConcurrency+2 parts of an upload wait on disk.
	PartConcurrency int
	// Limits is the largest file of each kind, in bytes.
	Limits map[Kind]int64
	// TTL is how long an upload may stay untouched before it expires and its
	// bytes are discarded.
	TTL time.Duration
	// LeaseTTL is how long a writer's claim on an upload lasts without
	// renewal; a process that died holding one blocks the upload this long.
	LeaseTTL time.Duration
	// Logger receives background failures.
	Logger *slog.Logger
}

// DefaultLimits are the default size limits per kind.
var DefaultLimits = map[Kind]int64{KindVideo: 8 << 30, KindImage: 50 << 20, KindPDF: 500 << 20, KindRecording: 8 << 30}

// Uploads keeps resumable uploads (tus): their records in the database,
// their bytes in spool files and then in a multipart upload of the object
// store. Every method is safe to call from several processes sharing the
// database: a lease in the upload's row admits one writer at a time.
type Uploads struct {
	db      *DB
	objects ObjectStore
	cfg     UploadConfig
}

// NewUploads checks cfg and returns the upload keeper.
func NewUploads(db *DB, objects ObjectStore, cfg UploadConfig) (*Uploads, error) {
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("part size %d is below S3's minimum %d: %w", cfg.PartSize, MinPartSize, ErrInvalid)
	}
	if cfg.SpoolDir == "" {
		return nil, fmt.Errorf("spool directory is required: %w", ErrInvalid)
	}
	if cfg.PartConcurrency < 1 {
		cfg.PartConcurrency = 2
	}
	if cfg.Limits == nil {
		cfg.Limits = DefaultLimits
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	return &Uploads{db: db, objects: objects, cfg: cfg}, nil
}

// MaxSize is the largest upload of any kind (tus Tus-Max-Size).
func (s *Uploads) MaxSize() int64 {
	var m int64
	for _, v := range s.cfg.Limits {
		m = max(m, v)
	}
	return m
}

// Limits is a copy of the largest file of each kind, in bytes.
func (s *Uploads) Limits() map[Kind]int64 {
	out := make(map[Kind]int64, len(s.cfg.Limits))
	for k, v := range s.cfg.Limits {
		out[k] = v
	}
	return out
}

// Upload states.
const (
	UploadOpen     = "open"
	UploadComplete = "complete"
	UploadExpired  = "expired"
)

// Upload is a resumable upload's record.
type Upload struct {
	ID          string            `json:"id"`
	CaseID      string            `json:"case_id"`
	UserID      string            `json:"-"`
	EvidenceID  string            `json:"-"`
	Filename    string            `json:"filename"`
	Filetype    string            `json:"filetype"`
	Metadata    map[string]string `json:"-"`
	RawMetadata string            `json:"-"`
	Length      int64             `json:"length"`
	Offset      int64             `json:"offset"`
	State       string            `json:"state"`
	CreatedAt   time.Time         `json:"created_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	// Concat is "" for a plain upload, or ConcatPartial or ConcatFinal
	// (tus concatenation extension).
	Concat string `json:"concat,omitempty"`
	// Parts are a final upload's partial upload ids, in order.
	Parts []string `json:"-"`
	// LengthDeferred says Length is not known yet (tus
	// creation-defer-length): a later PATCH declares it.
	LengthDeferred bool `json:"length_deferred,omitempty"`

	finalID string
	// liveSessionID names the live session whose publish token made the
	// upload (the phone's own recording; MarkLive), else "".
	liveSessionID string
	partSize      int64
	kind          Kind
	contentType   string
	objectKey     string
	multipartID   string
	hashState     []byte
}

// claimedKind guesses the kind from the declared type or the file name; it
// only chooses the size limit that is checked before any byte arrives.
func claimedKind(filetype, filename string) Kind {
	ft := strings.ToLower(filetype)
	switch {
	case strings.HasPrefix(ft, "video/"):
		return KindVideo
	case strings.HasPrefix(ft, "image/"):
		return KindImage
	case ft == "application/pdf":
		return KindPDF
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".3gp":
		return KindVideo
	case ".jpg", ".jpeg", ".png", ".heic", ".heif":
		return KindImage
	case ".pdf":
		return KindPDF
	}
	return ""
}

// CreateUpload registers a new upload of length bytes to case c by u.
// metadata is the decoded tus Upload-Metadata; rawMetadata is echoed back on
// HEAD. It returns ErrTooLarge when the declared size exceeds the limit for
// the declared kind (or for every kind, when none is declared).
func (s *Uploads) CreateUpload(ctx context.Context, c *Case, u *User, length int64, metadata map[string]string, rawMetadata string) (*Upload, error) {
	return s.Create(ctx, c, u, UploadSpec{Length: length, Metadata: metadata, RawMetadata: rawMetadata})
}

// UploadSpec describes an upload to create.
type UploadSpec struct {
	// Length is the upload's size in bytes; ignored when DeferLength is set.
	Length int64
	// DeferLength leaves the size to a later PATCH (tus
	// creation-defer-length), for a file still being written.
	DeferLength bool
	// Partial makes a partial upload (tus concatenation): its bytes become
	// evidence only as part of a final upload, so it needs no file name and
	// its type is checked on the joined bytes.
	Partial bool
	// Metadata is the decoded tus Upload-Metadata; RawMetadata is the header
	// as sent, echoed back on HEAD.
	Metadata    map[string]string
	RawMetadata string
}

// Create registers a new upload to case c by u. It returns ErrTooLarge when
// the declared size exceeds the limit for the declared kind (or for every
// kind, when none is declared), and ErrInvalid for a missing file name or
// size.
func (s *Uploads) Create(ctx context.Context, c *Case, u *User, spec UploadSpec) (*Upload, error) {
	metadata := spec.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	length := spec.Length
	if spec.DeferLength {
		length = 0
	}
	name := cleanFileName(metadata)
	switch {
	case !spec.Partial && name == "":
		return nil, codedf(ErrInvalid, "filename_required", "Upload-Metadata must name the file (filename)")
	case !utf8Name(name):
		return nil, codedf(ErrInvalid, "filename_invalid", "the file name must be valid UTF-8 of at most 255 characters")
	case length <= 0 && !spec.DeferLength:
		return nil, codedf(ErrInvalid, "upload_length_invalid", "Upload-Length must be a positive number of bytes")
	}
	limit := s.MaxSize()
	if k := claimedKind(metadata["filetype"], name); k != "" && !spec.Partial {
		limit = s.cfg.Limits[k]
	}
	if length > limit {
		return nil, codedf(ErrTooLarge, "file_too_large", fmt.Sprintf("the file has %d bytes; the limit is %d", length, limit))
	}
	now := s.db.now().UTC().Truncate(time.Millisecond)
	up := &Upload{
		ID: NewID(), CaseID: c.ID, UserID: u.ID, EvidenceID: NewID(), Filename: name, Filetype: metadata["filetype"],
		Metadata: metadata, RawMetadata: spec.RawMetadata, Length: length, State: UploadOpen,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), partSize: s.cfg.PartSize, LengthDeferred: spec.DeferLength,
	}
	up.objectKey = EvidenceKey(c.ID, up.EvidenceID)
	if spec.Partial {
		up.Concat = ConcatPartial
		up.objectKey = PartialKey(c.ID, up.ID)
	}
	meta := marshalMetadata(spec.RawMetadata, metadata)
	_, err := s.db.exec(ctx, `INSERT INTO uploads (id, case_id, user_id, evidence_id, filename, filetype, metadata, length, upload_offset, part_size, object_key, state, created_at, updated_at, expires_at, concat, length_deferred)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
		up.ID, up.CaseID, up.UserID, up.EvidenceID, up.Filename, up.Filetype, meta, up.Length, up.partSize, up.objectKey, up.State, ms(now), ms(now), ms(up.ExpiresAt), up.Concat, up.LengthDeferred)
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return up, nil
}

// cleanFileName is the file's base name from the metadata ("filename", or
// "name" as some clients send), or "" when it names none.
func cleanFileName(metadata map[string]string) string {
	name := metadata["filename"]
	if name == "" {
		name = metadata["name"]
	}
	name = strings.TrimSpace(strings.ReplaceAll(filepath.Base(strings.ReplaceAll(name, "\\", "/")), "\x00", ""))
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// utf8Name says whether a file name is valid UTF-8 of at most 255 characters.
func utf8Name(name string) bool {
	return utf8.ValidString(name) && utf8.RuneCountInString(name) <= 255
}

// marshalMetadata is the uploads.metadata column: the header as sent and
// its decoded values.
func marshalMetadata(raw string, values map[string]string) string {
	b, _ := json.Marshal(struct {
		Raw    string            `json:"raw"`
		Values map[string]string `json:"values"`
	}{raw, values})
	return string(b)
}

// Upload returns an upload's record or ErrNotFound.
func (s *Uploads) Upload(ctx context.Context, id string) (*Upload, error) {
	var up Upload
	var meta string
	var created, expires int64
	var parts string
	var finalID sql.NullString
	err := s.db.queryRow(ctx, `SELECT id, case_id, user_id, evidence_id, filename, filetype, metadata, length, upload_offset, part_size, kind, content_type, object_key, multipart_id, hash_state, state, created_at, expires_at, concat, concat_parts, final_id, length_deferred, live_session_id FROM uploads WHERE id = ?`, id).
		Scan(&up.ID, &up.CaseID, &up.UserID, &up.EvidenceID, &up.Filename, &up.Filetype, &meta, &up.Length, &up.Offset, &up.partSize, &up.kind, &up.contentType, &up.objectKey, &up.multipartID, &up.hashState, &up.State, &created, &expires, &up.Concat, &parts, &finalID, &up.LengthDeferred, &up.liveSessionID)
	if err != nil {
		return nil, notFound(err, "upload "+id)
	}
	up.Parts, up.finalID = strings.Fields(parts), finalID.String
	var m struct {
		Raw    string            `json:"raw"`
		Values map[string]string `json:"values"`
	}
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return nil, fmt.Errorf("upload %s metadata: %w", id, err)
	}
	up.RawMetadata, up.Metadata = m.Raw, m.Values
	up.CreatedAt, up.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	return &up, nil
}

// acquire takes the upload's lease for owner, or fails with ErrConflict
// while another live writer holds it.
func (s *Uploads) acquire(ctx context.Context, id, owner string) error {
	now := s.db.now()
	res, err := s.db.exec(ctx, `UPDATE uploads SET lease_owner = ?, lease_until = ? WHERE id = ? AND (lease_owner IS NULL OR lease_until < ?)`,
		owner, ms(now.Add(s.cfg.LeaseTTL)), id, ms(now))
	if err != nil {
		return fmt.Errorf("lease upload %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := s.Upload(ctx, id); err != nil {
		return err
	}
	return codedf(ErrConflict, "upload_busy", "another request is writing to this upload; retry after it ends")
}

// hold renews the lease until the returned function is called, which also
// releases it.
func (s *Uploads) hold(id, owner string) (release func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.db.exec(context.Background(), `UPDATE uploads SET lease_until = ? WHERE id = ? AND lease_owner = ?`, ms(s.db.now().Add(s.cfg.LeaseTTL)), id, owner)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		s.db.exec(context.Background(), `UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?`, id, owner)
	}
}

// ReleaseAllLeases drops every upload lease. Only for a single-process
// deployment (SQLite) at start-up, where every holder is known to be dead:
// an upload interrupted by a crash then resumes at once instead of after
// LeaseTTL.
func (s *Uploads) ReleaseAllLeases(ctx context.Context) error {
	_, err := s.db.exec(ctx, `UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`)
	return err
}

// withLease runs fn while holding the upload's lease.
func (s *Uploads) withLease(ctx context.Context, id string, fn func(owner string) error) error {
	owner := NewID()
	if err := s.acquire(ctx, id, owner); err != nil {
		return err
	}
	release := s.hold(id, owner)
	defer release()
	return fn(owner)
}

func (s *Uploads) spoolDir(id string) string { return filepath.Join(s.cfg.SpoolDir, id) }

// removeSpool removes an upload's spool folder once nothing in it is needed.
func (s *Uploads) removeSpool(id string) {
	if err := os.RemoveAll(s.spoolDir(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.cfg.Logger.Warn("remove spool", "upload", id, "err", err)
	}
}

// discard deletes everything an unfinished upload stored: its multipart
// upload, its spool files and its rows, so nothing of it is kept.
func (s *Uploads) discard(ctx context.Context, up *Upload) error {
	if up.Concat == ConcatFinal {
		// A refused final upload takes its partial uploads with it.
		if err := s.discardPartials(ctx, up); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if up.Concat == ConcatPartial && up.State == UploadComplete {
		if err := s.objects.Delete(ctx, up.objectKey); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if up.multipartID != "" {
		if err := s.objects.AbortMultipart(ctx, up.objectKey, up.multipartID); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if err := os.RemoveAll(s.spoolDir(up.ID)); err != nil {
		return fmt.Errorf("discard upload %s: %w", up.ID, err)
	}
	return s.db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = ?`, up.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, up.ID)
		return err
	})
}

// Terminate discards an unfinished upload (tus termination extension).
func (s *Uploads) Terminate(ctx context.Context, id string) error {
	return s.withLease(ctx, id, func(string) error {
		up, err := s.Upload(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case up.Concat == ConcatPartial && up.finalID != "":
			return codedf(ErrConflict, "upload_not_cancellable", "the partial upload is part of a final upload now; it cannot be terminated")
		case up.State == UploadComplete && up.Concat != ConcatPartial:
			return codedf(ErrConflict, "upload_not_cancellable", "the upload is complete and is evidence now; it cannot be terminated")
		}
		return s.discard(ctx, up)
	})
}

// Sweep expires open uploads untouched for longer than the TTL: their
// multipart uploads are aborted, their spool files removed, and their rows
// kept as expired so a late client hears 410 Gone. It also removes spool
// folders that belong to no open upload. It returns how many it expired.
func (s *Uploads) Sweep(ctx context.Context) (int, error) {
	now := s.db.now()
	// Open uploads, and complete partial uploads no final upload claimed
	// (tus concatenation): both hold bytes no evidence item owns.
	rows, err := s.db.query(ctx, `SELECT id FROM uploads WHERE expires_at < ? AND (state = ? OR (state = ? AND concat = ? AND final_id IS NULL))`,
		ms(now), UploadOpen, UploadComplete, ConcatPartial)
	if err != nil {
		return 0, fmt.Errorf("sweep uploads: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	expired := 0
	for _, id := range ids {
		err := s.withLease(ctx, id, func(string) error {
			up, err := s.Upload(ctx, id)
			if err != nil {
				return err
			}
			if up.State == UploadComplete && up.Concat == ConcatPartial && up.finalID == "" {
				return s.expirePartial(ctx, up)
			}
			if up.State != UploadOpen {
				return nil
			}
			if up.Concat == ConcatFinal {
				// A final upload whose join never completed: its partial
				// uploads go with it.
				if err := s.discardPartials(ctx, up); err != nil {
					return err
				}
			}
			if up.multipartID != "" {
				if err := s.objects.AbortMultipart(ctx, up.objectKey, up.multipartID); err != nil {
					return err
				}
			}
			if err := os.RemoveAll(s.spoolDir(id)); err != nil {
				return err
			}
			return s.db.tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = ?`, id); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE uploads SET state = ?, multipart_id = '', hash_state = NULL, updated_at = ? WHERE id = ?`, UploadExpired, ms(now), id)
				return err
			})
		})
		switch {
		case err == nil:
			expired++
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			// Being written right now, or gone: not abandoned.
		default:
			s.cfg.Logger.Error("expire upload", "upload", id, "err", err)
		}
	}
	if err := s.dropUsedPartials(ctx); err != nil {
		s.cfg.Logger.Error("remove used partial uploads", "err", err)
	}
	return expired, s.removeOrphanSpools(ctx)
}

func (s *Uploads) removeOrphanSpools(ctx context.Context) error {
	entries, err := os.ReadDir(s.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("sweep spool: %w", err)
	}
	for _, e := range entries {
		var state string
		err := s.db.queryRow(ctx, `SELECT state FROM uploads WHERE id = ?`, e.Name()).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != UploadOpen) {
			os.RemoveAll(filepath.Join(s.cfg.SpoolDir, e.Name()))
		}
	}
	return nil
}
