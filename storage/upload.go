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
	"path/filepath"
	"siteinspect/domain"
	"siteinspect/storage/objects"
	"strings"
	"time"
)

// Uploads keeps resumable uploads (tus): their records in the database,
// their bytes in a multipart upload of the object store, and the bytes
// after the last full part in tail segments there too; the local spool
// only gathers a part before it is stored. Every method is safe to call
// from several processes (replicas) sharing the database and the object
// store: a lease in the upload's row admits one writer at a time, and a
// PATCH may continue on any of them.
type Uploads struct {
	db      *DB
	objects objects.ObjectStore
	cfg     domain.UploadConfig
	// afterQuota, tests only, runs in a creation's transaction between its
	// quota check and its insert: where racing creations would both pass.
	afterQuota func()
}

// DefaultLeaseTTL is how long an upload's lease lasts without renewal
// (renewed every third of it while a request writes). A replica that dies
// mid-PATCH blocks its upload at most this long: tus-js-client's default
// retryDelays (0, 1, 3, 5 s: a last try 9 s after the failure) outlast it,
// and a renewal may be late by two thirds of it (a stalled database) before
// a live writer loses its claim.
const DefaultLeaseTTL = 6 * time.Second

// NewUploads checks cfg and returns the upload keeper.
func NewUploads(db *DB, store objects.ObjectStore, cfg domain.UploadConfig) (*Uploads, error) {
	if cfg.PartSize < objects.MinPartSize {
		return nil, fmt.Errorf("part size %d is below S3's minimum %d: %w", cfg.PartSize, objects.MinPartSize, domain.ErrInvalid)
	}
	if cfg.SpoolDir == "" {
		return nil, fmt.Errorf("spool directory is required: %w", domain.ErrInvalid)
	}
	if cfg.PartConcurrency < 1 {
		cfg.PartConcurrency = 2
	}
	if cfg.PartTimeout <= 0 {
		cfg.PartTimeout = partTimeout
	}
	if cfg.Limits == nil {
		cfg.Limits = domain.DefaultLimits
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.CompanyDailyBytes <= 0 {
		cfg.CompanyDailyBytes = domain.DefaultCompanyDailyBytes
	}
	if cfg.CompanyDailyUploads <= 0 {
		cfg.CompanyDailyUploads = domain.DefaultCompanyDailyUploads
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	return &Uploads{db: db, objects: store, cfg: cfg}, nil
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
func (s *Uploads) Limits() map[domain.Kind]int64 {
	out := make(map[domain.Kind]int64, len(s.cfg.Limits))
	for k, v := range s.cfg.Limits {
		out[k] = v
	}
	return out
}

// CreateUpload registers a new upload of length bytes to case c by u.
// metadata is the decoded tus Upload-Metadata; rawMetadata is echoed back on
// HEAD. It returns ErrTooLarge when the declared size exceeds the limit for
// the declared kind (or for every kind, when none is declared).
func (s *Uploads) CreateUpload(ctx context.Context, c *domain.Case, u *domain.User, length int64, metadata map[string]string, rawMetadata string) (*domain.Upload, error) {
	return s.Create(ctx, c, u, domain.UploadSpec{Length: length, Metadata: metadata, RawMetadata: rawMetadata})
}

// Create registers a new upload to case c by u. It returns ErrTooLarge when
// the declared size exceeds the limit for the declared kind (or for every
// kind, when none is declared), and ErrInvalid for a missing file name or
// size.
func (s *Uploads) Create(ctx context.Context, c *domain.Case, u *domain.User, spec domain.UploadSpec) (*domain.Upload, error) {
	metadata := spec.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	length := spec.Length
	if spec.DeferLength {
		length = 0
	}
	name := domain.CleanFileName(metadata)
	switch {
	case !spec.Partial && name == "":
		return nil, domain.Coded(domain.ErrInvalid, "filename_required", "Upload-Metadata must name the file (filename)")
	case !domain.UTF8Name(name):
		return nil, domain.Coded(domain.ErrInvalid, "filename_invalid", "the file name must be valid UTF-8 of at most 255 characters")
	case length <= 0 && !spec.DeferLength:
		return nil, domain.Coded(domain.ErrInvalid, "upload_length_invalid", "Upload-Length must be a positive number of bytes")
	}
	limit := s.MaxSize()
	if k := domain.ClaimedKind(metadata["filetype"], name); k != "" && !spec.Partial {
		limit = s.cfg.Limits[k]
	}
	if length > limit {
		return nil, domain.Coded(domain.ErrTooLarge, "file_too_large", fmt.Sprintf("the file has %d bytes; the limit is %d", length, limit))
	}
	if owed := metadata[domain.MetaOwedItem]; owed != "" {
		if err := s.db.checkOwedUpload(ctx, c.ID, owed); err != nil {
			return nil, err
		}
	}
	if slot := metadata[domain.MetaSlot]; slot != "" {
		zh, err := s.db.caseSlot(ctx, c, slot)
		if err != nil {
			return nil, err
		}
		metadata[domain.MetaSlot] = zh
	}
	now := s.db.now().UTC().Truncate(time.Millisecond)
	up := &domain.Upload{
		ID: domain.NewID(), CaseID: c.ID, UserID: u.ID, EvidenceID: domain.NewID(), Filename: name, Filetype: metadata["filetype"],
		Metadata: metadata, RawMetadata: spec.RawMetadata, Length: length, State: domain.UploadOpen,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), PartSize: s.cfg.PartSize, LengthDeferred: spec.DeferLength,
	}
	up.ObjectKey = domain.EvidenceKey(c.ID, up.EvidenceID)
	if spec.Partial {
		up.Concat = domain.ConcatPartial
		up.ObjectKey = domain.PartialKey(c.ID, up.ID)
	}
	meta := marshalMetadata(spec.RawMetadata, metadata)
	// The quota is read and the upload counted in one transaction under
	// the company's lock: creations racing each other cannot both take
	// what is left.
	err := s.db.tx(ctx, func(tx *wtx) error {
		if err := s.lockCompanyOf(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := s.checkCompanyQuota(ctx, tx, c, length); err != nil {
			return err
		}
		if s.afterQuota != nil {
			s.afterQuota()
		}
		_, err := s.db.txExec(ctx, tx, `INSERT INTO uploads (id, case_id, user_id, evidence_id, filename, filetype, metadata, length, upload_offset, part_size, object_key, state, created_at, updated_at, expires_at, concat, length_deferred)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
			up.ID, up.CaseID, up.UserID, up.EvidenceID, up.Filename, up.Filetype, meta, up.Length, up.PartSize, up.ObjectKey, up.State, ms(now), ms(now), ms(up.ExpiresAt), up.Concat, up.LengthDeferred)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return up, nil
}

// checkCompanyQuota refuses a new upload of length bytes (0 for one of
// deferred length) to c when the uploads c's company started in the last 24 hours,
// over all its cases, would declare more than CompanyDailyBytes or number
// more than CompanyDailyUploads. Expired and terminated uploads no longer
// count; a final upload is its partial uploads, counted already. An upload
// of deferred length (a phone's recording while it is made) counts the
// bytes it has received, or while a PATCH to it runs what that PATCH
// holds (holdQuota); its length once it is declared. It runs in tx, under
// the company's lock (Dialect.LockCompany).
func (s *Uploads) checkCompanyQuota(ctx context.Context, tx *wtx, c *domain.Case, length int64) error {
	bytes, count, err := s.companyUsage(ctx, tx, c.ID, "")
	if err != nil {
		return err
	}
	switch {
	case count+1 > int64(s.cfg.CompanyDailyUploads):
		return domain.Coded(domain.ErrTooLarge, domain.CodeUploadQuotaExceeded,
			fmt.Sprintf("the company started %d uploads in the last 24 hours; at most %d are allowed", count, s.cfg.CompanyDailyUploads))
	case bytes+length > s.cfg.CompanyDailyBytes:
		return domain.Coded(domain.ErrTooLarge, domain.CodeUploadQuotaExceeded,
			fmt.Sprintf("the company's uploads of the last 24 hours declare %d bytes and this one %d; at most %d are allowed in 24 hours", bytes, length, s.cfg.CompanyDailyBytes))
	}
	return nil
}

// companyUsage is the bytes and number of uploads the company of case
// caseID started in the last 24 hours, leaving out the upload except (when
// not ""), read in tx. An upload counts its length, or while its length
// is deferred the bytes it has received or the offset its running PATCH
// holds, whichever is more.
func (s *Uploads) companyUsage(ctx context.Context, tx *wtx, caseID, except string) (bytes, count int64, err error) {
	since := s.db.now().Add(-24 * time.Hour)
	err = s.db.txQueryRow(ctx, tx, `SELECT CAST(COALESCE(SUM(CASE WHEN u.length_deferred <> 0 AND u.quota_held > u.upload_offset THEN u.quota_held
			WHEN u.length_deferred <> 0 THEN u.upload_offset WHEN u.length > 0 THEN u.length ELSE ? END), 0) AS BIGINT), COUNT(*)
		FROM uploads u JOIN cases c ON c.id = u.case_id
		WHERE c.applicant_org = (SELECT applicant_org FROM cases WHERE id = ?) AND u.created_at > ? AND u.state <> ? AND u.concat <> ? AND u.id <> ?`,
		s.MaxSize(), caseID, ms(since), domain.UploadExpired, domain.ConcatFinal, except).Scan(&bytes, &count)
	if err != nil {
		return 0, 0, fmt.Errorf("upload quota: %w", err)
	}
	return bytes, count, nil
}

// lockCompanyOf takes the quota lock of the company that filed case
// caseID (Dialect.LockCompany) in tx. Where one writer excludes everyone
// else (SQLite) there is nothing to take, and the company is not read.
func (s *Uploads) lockCompanyOf(ctx context.Context, tx *wtx, caseID string) error {
	if s.db.writer != nil {
		return nil
	}
	var org string
	if err := s.db.txQueryRow(ctx, tx, `SELECT applicant_org FROM cases WHERE id = ?`, caseID).Scan(&org); err != nil {
		return notFound(err, "case of the upload")
	}
	return s.db.dialect.LockCompany(ctx, tx.Tx, org)
}

// quotaRoom is how many bytes up, an upload of deferred length, may still
// take before its company's uploads of the last 24 hours reach
// CompanyDailyBytes (its own bytes received so far left out of the usage,
// since they are in up.Offset), read in tx under the company's lock.
func (s *Uploads) quotaRoom(ctx context.Context, tx *wtx, up *domain.Upload) (int64, error) {
	if err := s.lockCompanyOf(ctx, tx, up.CaseID); err != nil {
		return 0, err
	}
	bytes, _, err := s.companyUsage(ctx, tx, up.CaseID, up.ID)
	if err != nil {
		return 0, err
	}
	return max(s.cfg.CompanyDailyBytes-bytes-up.Offset, 0), nil
}

// holdQuota holds for a PATCH about to append up to want bytes to up, an
// upload of deferred length, what is left of its company's daily quota,
// at most want: companyUsage counts the hold, so PATCHes to the company's
// other uploads racing this one cannot spend the same bytes. It returns
// the offset at which the PATCH's bytes must stop. releaseQuota gives back
// what the PATCH did not take; a hold left by a process that stopped
// counts until the upload's next PATCH or its end.
func (s *Uploads) holdQuota(ctx context.Context, up *domain.Upload, want int64) (int64, error) {
	var end int64
	err := s.db.tx(ctx, func(tx *wtx) error {
		room, err := s.quotaRoom(ctx, tx, up)
		if err != nil {
			return err
		}
		end = up.Offset + min(room, max(want, 0))
		_, err = s.db.txExec(ctx, tx, `UPDATE uploads SET quota_held = ? WHERE id = ?`, end, up.ID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("hold the company's quota for upload %s: %w", up.ID, err)
	}
	return end, nil
}

// releaseQuota ends the hold of holdQuota once the PATCH's bytes are
// committed (the upload then counts its offset). Append calls it only
// for a PATCH that took less than it held. It runs even when the
// request was cancelled; if it fails, the hold counts until the upload's
// next PATCH or its end, which errs on the company's side of the quota.
func (s *Uploads) releaseQuota(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.db.exec(ctx, `UPDATE uploads SET quota_held = 0 WHERE id = ?`, id); err != nil {
		s.cfg.Logger.Warn("release an upload's hold on its company's quota", "upload", id, "err", err)
	}
}

// quotaExceeded is the refusal of bytes past the company's daily quota.
func (s *Uploads) quotaExceeded(what string) error {
	return domain.Coded(domain.ErrTooLarge, domain.CodeUploadQuotaExceeded,
		fmt.Sprintf("%s: the company's uploads of the last 24 hours would pass %d bytes, the most allowed in 24 hours", what, s.cfg.CompanyDailyBytes))
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
func (s *Uploads) Upload(ctx context.Context, id string) (*domain.Upload, error) {
	var up domain.Upload
	var meta string
	var created, expires int64
	var parts string
	var finalID sql.NullString
	err := s.db.queryRow(ctx, `SELECT id, case_id, user_id, evidence_id, filename, filetype, metadata, length, upload_offset, part_size, kind, content_type, object_key, multipart_id, hash_state, state, created_at, expires_at, concat, concat_parts, final_id, length_deferred, live_session_id FROM uploads WHERE id = ?`, id).
		Scan(&up.ID, &up.CaseID, &up.UserID, &up.EvidenceID, &up.Filename, &up.Filetype, &meta, &up.Length, &up.Offset, &up.PartSize, &up.Kind, &up.ContentType, &up.ObjectKey, &up.MultipartID, &up.HashState, &up.State, &created, &expires, &up.Concat, &parts, &finalID, &up.LengthDeferred, &up.LiveSessionID)
	if err != nil {
		return nil, notFound(err, "upload "+id)
	}
	up.Parts, up.FinalID = strings.Fields(parts), finalID.String
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

// acquire takes the upload's lease for owner, or fails with ErrLocked
// while another live writer (on this replica or another) holds it; the
// error's RetryAfter is the time left until that lease runs out, which is
// when a writer that died holding it stops blocking the upload.
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
	var until sql.NullInt64
	if err := s.db.queryRow(ctx, `SELECT lease_until FROM uploads WHERE id = ?`, id).Scan(&until); err != nil {
		return notFound(err, "upload "+id)
	}
	wait := time.Second
	if until.Valid {
		// The lease is free once lease_until < now, in milliseconds.
		wait = max(wait, time.UnixMilli(until.Int64+1).Sub(now))
	}
	return &domain.Error{Kind: domain.ErrLocked, Code: "upload_busy", RetryAfter: wait,
		Message: "another request is writing to this upload; retry after it ends"}
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
	owner := domain.NewID()
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
func (s *Uploads) discard(ctx context.Context, up *domain.Upload) error {
	if up.Concat == domain.ConcatFinal {
		// A refused final upload takes its partial uploads with it.
		if err := s.discardPartials(ctx, up); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if up.Concat == domain.ConcatPartial && up.State == domain.UploadComplete {
		if err := s.objects.Delete(ctx, up.ObjectKey); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if up.MultipartID != "" {
		if err := s.objects.AbortMultipart(ctx, up.ObjectKey, up.MultipartID); err != nil {
			return fmt.Errorf("discard upload %s: %w", up.ID, err)
		}
	}
	if err := s.dropTail(ctx, up.ID); err != nil {
		return fmt.Errorf("discard upload %s: %w", up.ID, err)
	}
	if err := os.RemoveAll(s.spoolDir(up.ID)); err != nil {
		return fmt.Errorf("discard upload %s: %w", up.ID, err)
	}
	return s.db.tx(ctx, func(tx *wtx) error {
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
		case up.Concat == domain.ConcatPartial && up.FinalID != "":
			return domain.Coded(domain.ErrConflict, "upload_not_cancellable", "the partial upload is part of a final upload now; it cannot be terminated")
		case up.State == domain.UploadComplete && up.Concat != domain.ConcatPartial:
			return domain.Coded(domain.ErrConflict, "upload_not_cancellable", "the upload is complete and is evidence now; it cannot be terminated")
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
		ms(now), domain.UploadOpen, domain.UploadComplete, domain.ConcatPartial)
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
			if up.State == domain.UploadComplete && up.Concat == domain.ConcatPartial && up.FinalID == "" {
				return s.expirePartial(ctx, up)
			}
			if up.State != domain.UploadOpen {
				return nil
			}
			if up.Concat == domain.ConcatFinal {
				// A final upload whose join never completed: its partial
				// uploads go with it.
				if err := s.discardPartials(ctx, up); err != nil {
					return err
				}
			}
			if up.MultipartID != "" {
				if err := s.objects.AbortMultipart(ctx, up.ObjectKey, up.MultipartID); err != nil {
					return err
				}
			}
			if err := s.dropTail(ctx, id); err != nil {
				return err
			}
			if err := os.RemoveAll(s.spoolDir(id)); err != nil {
				return err
			}
			return s.db.tx(ctx, func(tx *wtx) error {
				if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = ?`, id); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE uploads SET state = ?, multipart_id = '', hash_state = NULL, tail_segments = '', tail_size = 0, updated_at = ? WHERE id = ?`, domain.UploadExpired, ms(now), id)
				return err
			})
		})
		switch {
		case err == nil:
			expired++
		case errors.Is(err, domain.ErrLocked), errors.Is(err, domain.ErrConflict), errors.Is(err, domain.ErrNotFound):
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
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != domain.UploadOpen) {
			os.RemoveAll(filepath.Join(s.cfg.SpoolDir, e.Name()))
		}
	}
	return nil
}
