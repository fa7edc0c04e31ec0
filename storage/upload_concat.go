package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"siteinspect/domain"
	"siteinspect/storage/objects"
	"strings"
	"time"
)

// tus concatenation extension
// (https://tus.io/protocols/resumable-upload#concatenation): a client sends
// a file as several partial uploads at once, then creates a final upload
// naming them in order, which the server joins into one object.

// CreateFinal creates the final upload of case c by u that joins the
// complete partial uploads partIDs in that order (tus concatenation). The
// partial uploads are claimed in the same transaction, so each is used at
// most once. It returns ErrNotFound for a partial upload that does not
// exist or is another user's, ErrForbidden for one of another case,
// ErrConflict for one not complete or already claimed, ErrGone for an
// expired one, and ErrTooLarge when the joined file is over the limit.
// The caller then completes it with Finish.
func (s *Uploads) CreateFinal(ctx context.Context, c *domain.Case, u *domain.User, partIDs []string, metadata map[string]string, rawMetadata string) (*domain.Upload, error) {
	if metadata == nil {
		metadata = map[string]string{}
	}
	name := domain.CleanFileName(metadata)
	switch {
	case name == "":
		return nil, domain.Errorf(domain.ErrInvalid, "Upload-Metadata must name the file (filename)")
	case !domain.UTF8Name(name):
		return nil, domain.Errorf(domain.ErrInvalid, "the file name must be valid UTF-8 of at most 255 characters")
	case len(partIDs) == 0 || len(partIDs) > domain.MaxConcatParts:
		return nil, domain.Errorf(domain.ErrInvalid, fmt.Sprintf("a final upload joins 1 to %d partial uploads; got %d", domain.MaxConcatParts, len(partIDs)))
	}
	seen := map[string]bool{}
	for _, id := range partIDs {
		if seen[id] {
			return nil, domain.Coded(domain.ErrInvalid, domain.CodePartialUsed, "Upload-Concat names partial upload "+id+" twice")
		}
		seen[id] = true
	}
	if up, err := s.replayFinal(ctx, c, u, partIDs); up != nil || err != nil {
		return up, err
	}
	now := s.db.now().UTC().Truncate(time.Millisecond)
	up := &domain.Upload{
		ID: domain.NewID(), CaseID: c.ID, UserID: u.ID, EvidenceID: domain.NewID(), Filename: name, Filetype: metadata["filetype"],
		Metadata: metadata, RawMetadata: rawMetadata, State: domain.UploadOpen, Concat: domain.ConcatFinal, Parts: partIDs,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), PartSize: s.cfg.PartSize,
	}
	up.ObjectKey = domain.EvidenceKey(c.ID, up.EvidenceID)
	limit := s.MaxSize()
	if k := domain.ClaimedKind(up.Filetype, name); k != "" {
		limit = s.cfg.Limits[k]
	}
	meta := marshalMetadata(rawMetadata, metadata)
	err := s.db.tx(ctx, func(tx *wtx) error {
		for _, id := range partIDs {
			var caseID, userID, concat, state string
			var length int64
			var finalID sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT case_id, user_id, concat, state, length, final_id FROM uploads WHERE id = ?`+s.db.dialect.LockRows(), id).
				Scan(&caseID, &userID, &concat, &state, &length, &finalID)
			switch {
			case errors.Is(err, sql.ErrNoRows) || (err == nil && userID != u.ID):
				// Another user's upload is as unknown to u as a missing one.
				return domain.Coded(domain.ErrNotFound, domain.CodePartialNotFound, "partial upload "+id+" does not exist")
			case err != nil:
				return fmt.Errorf("partial upload %s: %w", id, err)
			case caseID != c.ID:
				return domain.Coded(domain.ErrForbidden, domain.CodePartialOtherCase, "partial upload "+id+" belongs to another case")
			case concat != domain.ConcatPartial:
				return domain.Coded(domain.ErrInvalid, domain.CodeNotPartial, "upload "+id+" is not a partial upload (Upload-Concat: partial)")
			case finalID.Valid:
				return domain.Coded(domain.ErrConflict, domain.CodePartialUsed, "partial upload "+id+" is part of a final upload already")
			case state == domain.UploadExpired:
				return domain.Errorf(domain.ErrGone, "partial upload "+id+" has expired; send it again")
			case state != domain.UploadComplete:
				return domain.Coded(domain.ErrConflict, domain.CodePartialOpen, "partial upload "+id+" is not complete yet")
			}
			up.Length += length
		}
		if up.Length > limit {
			return domain.Errorf(domain.ErrTooLarge, fmt.Sprintf("the file has %d bytes; the limit is %d", up.Length, limit))
		}
		// Every byte is in already: the offset is the length, and Finish
		// (or a HEAD after a crash) completes it.
		up.Offset = up.Length
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, case_id, user_id, evidence_id, filename, filetype, metadata, length, upload_offset, part_size, object_key, state, created_at, updated_at, expires_at, concat, concat_parts)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			up.ID, up.CaseID, up.UserID, up.EvidenceID, up.Filename, up.Filetype, meta, up.Length, up.Offset, up.PartSize, up.ObjectKey, up.State, ms(now), ms(now), ms(up.ExpiresAt), up.Concat, strings.Join(partIDs, " "))
		if err != nil {
			return fmt.Errorf("create final upload: %w", err)
		}
		for _, id := range partIDs {
			res, err := tx.ExecContext(ctx, `UPDATE uploads SET final_id = ? WHERE id = ? AND final_id IS NULL AND state = ?`, up.ID, id, domain.UploadComplete)
			if err != nil {
				return fmt.Errorf("claim partial upload %s: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return domain.Coded(domain.ErrConflict, domain.CodePartialUsed, "partial upload "+id+" is part of a final upload already")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

// replayFinal returns the final upload that already joined exactly these
// partial uploads for u in c, or nil. A client whose final POST was answered
// but whose answer was lost (a phone on a bad link) sends it again; it gets
// the same upload and evidence instead of a refusal that would make it send
// the whole file again.
func (s *Uploads) replayFinal(ctx context.Context, c *domain.Case, u *domain.User, partIDs []string) (*domain.Upload, error) {
	var finalID sql.NullString
	err := s.db.queryRow(ctx, `SELECT final_id FROM uploads WHERE id = ? AND concat = ?`, partIDs[0], domain.ConcatPartial).Scan(&finalID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !finalID.Valid) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("partial upload %s: %w", partIDs[0], err)
	}
	final, err := s.Upload(ctx, finalID.String)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if final.UserID != u.ID || final.CaseID != c.ID || strings.Join(final.Parts, " ") != strings.Join(partIDs, " ") {
		return nil, nil // the checks that follow refuse it
	}
	return final, nil
}

// partialObject is one partial upload of a final upload.
type partialObject struct {
	id, key string
	size    int64
}

// partials lists the final upload's partial uploads in order, as claimed
// by it.
func (s *Uploads) partials(ctx context.Context, final *domain.Upload) ([]partialObject, error) {
	out := make([]partialObject, 0, len(final.Parts))
	for _, id := range final.Parts {
		p := partialObject{id: id}
		err := s.db.queryRow(ctx, `SELECT object_key, length FROM uploads WHERE id = ? AND final_id = ?`, id, final.ID).Scan(&p.key, &p.size)
		if err != nil {
			return nil, notFound(err, "partial upload "+id+" of "+final.ID)
		}
		out = append(out, p)
	}
	return out, nil
}

// join makes the final upload's object: it checks the type on the first
// bytes of the joined file, composes the partial objects in the
// object store, and hashes the composed object by reading it back once.
// SHA-256 states cannot be combined, so the partials' own hashes are no
// use here; reading the result (rather than the partials) also proves the
// stored object is the one the digest describes (docs/UPLOADS.md).
func (a *appender) join(ctx context.Context) error {
	up := a.up
	parts, err := a.s.partials(ctx, up)
	if err != nil {
		return err
	}
	keys := make([]string, len(parts))
	var total int64
	for i, p := range parts {
		keys[i] = p.key
		total += p.size
	}
	if up.Kind == "" {
		if err := a.sniffObjects(ctx, keys); err != nil {
			if errors.Is(err, domain.ErrUnsupportedType) || errors.Is(err, domain.ErrTooLarge) {
				a.s.discard(ctx, up)
			}
			return err
		}
	}
	if total != up.Length {
		return fmt.Errorf("final upload %s: partial uploads hold %d bytes, want %d", up.ID, total, up.Length)
	}
	start := time.Now()
	if err := a.s.objects.Compose(ctx, up.ObjectKey, keys, up.ContentType); err != nil {
		return fmt.Errorf("final upload %s: %w", up.ID, err)
	}
	composed := time.Since(start)
	start = time.Now()
	obj, err := a.s.objects.Open(ctx, up.ObjectKey)
	if err != nil {
		return fmt.Errorf("final upload %s: %w", up.ID, err)
	}
	defer obj.Close()
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(h, obj, *bp)
	if err != nil {
		return fmt.Errorf("final upload %s: hash: %w", up.ID, err)
	}
	if n != up.Length {
		return fmt.Errorf("final upload %s: composed object has %d bytes, want %d", up.ID, n, up.Length)
	}
	a.hash = h
	a.s.cfg.Logger.Info("joined partial uploads", "upload", up.ID, "parts", len(parts), "bytes", n,
		"compose_ms", composed.Milliseconds(), "hash_ms", time.Since(start).Milliseconds())
	return nil
}

// sniffObjects checks the type on the first bytes of the joined objects:
// those of the first partial upload, and of the next when it is shorter.
func (a *appender) sniffObjects(ctx context.Context, keys []string) error {
	r := objects.Concat(ctx, a.s.objects, keys)
	defer r.Close()
	head := make([]byte, min(SniffLen, a.up.Length))
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("sniff: %w", err)
	}
	return a.checkType(head)
}

// completePartial records a partial upload whose bytes are all in its
// object: it waits there, for one TTL, for a final upload to claim it.
func (a *appender) completePartial(ctx context.Context) error {
	up := a.up
	now := a.s.db.now().UTC().Truncate(time.Millisecond)
	exp := now.Add(a.s.cfg.TTL)
	err := a.s.db.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = ?`, up.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE uploads SET state = ?, hash_state = NULL, multipart_id = '', tail_segments = '', tail_size = 0, updated_at = ?, expires_at = ? WHERE id = ? AND lease_owner = ?`,
			domain.UploadComplete, ms(now), ms(exp), up.ID, a.owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Errorf(domain.ErrConflict, "lost the claim on this upload; retry")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete partial upload %s: %w", up.ID, err)
	}
	up.State, up.ExpiresAt, up.MultipartID = domain.UploadComplete, exp, ""
	a.deleteTail(ctx, a.tail, nil)
	a.s.purgeTails(ctx, up.CaseID, up.ID)
	a.s.removeSpool(up.ID)
	return nil
}

// dropPartial deletes a partial upload's object and then its row; cond
// narrows which row may go.
func (s *Uploads) dropPartial(ctx context.Context, id, key, cond string, args ...any) error {
	if err := s.objects.Delete(ctx, key); err != nil {
		return fmt.Errorf("drop partial upload %s: %w", id, err)
	}
	_, err := s.db.exec(ctx, `DELETE FROM uploads WHERE id = ? AND concat = 'partial' `+cond, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("drop partial upload %s: %w", id, err)
	}
	return nil
}

// dropPartials removes a completed final upload's partial objects; what
// fails here is retried by Sweep. Their rows stay for one TTL, so that the
// same final POST sent again is answered with the same upload
// (replayFinal), and are removed by Sweep afterwards.
func (s *Uploads) dropPartials(ctx context.Context, final *domain.Upload) {
	parts, err := s.partials(ctx, final)
	if err != nil {
		s.cfg.Logger.Warn("remove partial uploads", "upload", final.ID, "err", err)
		return
	}
	for _, p := range parts {
		if err := s.objects.Delete(ctx, p.key); err != nil {
			s.cfg.Logger.Warn("remove partial upload", "upload", final.ID, "partial", p.id, "err", err)
		}
	}
}

// discardPartials removes the partial uploads of a final upload that is
// being discarded (its joined bytes were refused).
func (s *Uploads) discardPartials(ctx context.Context, final *domain.Upload) error {
	parts, err := s.partials(ctx, final)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	for _, p := range parts {
		if err := s.dropPartial(ctx, p.id, p.key, `AND final_id = ?`, final.ID); err != nil {
			return err
		}
	}
	return nil
}

// expirePartial expires a complete partial upload no final upload claimed
// within the TTL: the row stays (a late client hears 410 Gone), the bytes
// go. The row changes first, on the condition that it is still unclaimed,
// so a final upload claiming it at the same moment either wins or fails.
func (s *Uploads) expirePartial(ctx context.Context, up *domain.Upload) error {
	res, err := s.db.exec(ctx, `UPDATE uploads SET state = ?, updated_at = ? WHERE id = ? AND state = ? AND final_id IS NULL`,
		domain.UploadExpired, ms(s.db.now()), up.ID, domain.UploadComplete)
	if err != nil {
		return fmt.Errorf("expire partial upload %s: %w", up.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return domain.Errorf(domain.ErrConflict, "partial upload "+up.ID+" was claimed meanwhile")
	}
	if err := s.objects.Delete(ctx, up.ObjectKey); err != nil {
		return fmt.Errorf("expire partial upload %s: %w", up.ID, err)
	}
	return nil
}

// dropUsedPartials removes the partial uploads of completed final uploads
// once they expire (and their objects, should removing them after the join
// have failed).
func (s *Uploads) dropUsedPartials(ctx context.Context) error {
	rows, err := s.db.query(ctx, `SELECT p.id, p.object_key, p.final_id FROM uploads p JOIN uploads f ON f.id = p.final_id
		WHERE p.final_id IS NOT NULL AND p.concat = ? AND f.state = ? AND p.expires_at < ?`, domain.ConcatPartial, domain.UploadComplete, ms(s.db.now()))
	if err != nil {
		return fmt.Errorf("used partial uploads: %w", err)
	}
	var left []partialObject
	var finals []string
	for rows.Next() {
		var p partialObject
		var final string
		if err := rows.Scan(&p.id, &p.key, &final); err != nil {
			rows.Close()
			return err
		}
		left, finals = append(left, p), append(finals, final)
	}
	rows.Close()
	for i, p := range left {
		if err := s.dropPartial(ctx, p.id, p.key, `AND final_id = ?`, finals[i]); err != nil {
			return err
		}
	}
	return nil
}
