package storage

import (
	"context"
	"fmt"
	"siteinspect/domain"
)

// tus creation-defer-length extension
// (https://tus.io/protocols/resumable-upload#upload-defer-length): an
// upload created with Upload-Defer-Length: 1 learns its size from a later
// PATCH's Upload-Length, for a file still being written (the phone's own
// recording of a live session).

// end is where the upload's bytes stop: its length, or while that is
// deferred the largest size its kind (or any kind) may have.
func (a *appender) end() int64 {
	if !a.up.LengthDeferred {
		return a.up.Length
	}
	if a.up.Kind != "" {
		return a.s.cfg.Limits[a.up.Kind]
	}
	return a.s.MaxSize()
}

// DeclareLength sets a deferred upload's length (tus
// creation-defer-length: Upload-Length on a PATCH). Once set it cannot
// change: declaring another length returns ErrInvalid, the same one is a
// no-op. A length below the bytes already received is ErrInvalid, one over
// the limit of the file's kind ErrTooLarge.
func (s *Uploads) DeclareLength(ctx context.Context, id string, length int64) (*domain.Upload, error) {
	var up *domain.Upload
	err := s.withLease(ctx, id, func(owner string) error {
		var err error
		if up, err = s.Upload(ctx, id); err != nil {
			return err
		}
		if !up.LengthDeferred {
			if length != up.Length {
				return domain.Errorf(domain.ErrInvalid, fmt.Sprintf("Upload-Length is %d already and cannot change", up.Length))
			}
			return nil
		}
		if up.State != domain.UploadOpen {
			return domain.Coded(domain.ErrGone, "upload_expired", "the upload has expired; start a new one")
		}
		if length <= 0 || length < up.Offset {
			return domain.Errorf(domain.ErrInvalid, fmt.Sprintf("Upload-Length %d is below the %d bytes received", length, up.Offset))
		}
		limit := s.MaxSize()
		if up.Kind != "" {
			limit = s.cfg.Limits[up.Kind]
		} else if k := domain.ClaimedKind(up.Filetype, up.Filename); k != "" && up.Concat != domain.ConcatPartial {
			limit = s.cfg.Limits[k]
		}
		if length > limit {
			return domain.Coded(domain.ErrTooLarge, "file_too_large", fmt.Sprintf("the file has %d bytes; the limit is %d", length, limit))
		}
		// Bytes received are within the quota already; a length past
		// them is held to what is left of it, read and declared under the
		// company's lock.
		return s.db.tx(ctx, func(tx *wtx) error {
			if length > up.Offset {
				room, err := s.quotaRoom(ctx, tx, up)
				if err != nil {
					return err
				}
				if length > up.Offset+room {
					return s.quotaExceeded(fmt.Sprintf("Upload-Length %d is refused", length))
				}
			}
			res, err := s.db.txExec(ctx, tx, `UPDATE uploads SET length = ?, length_deferred = 0, updated_at = ? WHERE id = ? AND lease_owner = ?`,
				length, ms(s.db.now()), id, owner)
			if err != nil {
				return fmt.Errorf("declare length of upload %s: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return domain.Errorf(domain.ErrConflict, "lost the claim on this upload; retry")
			}
			up.Length, up.LengthDeferred = length, false
			return nil
		})
	})
	return up, err
}
