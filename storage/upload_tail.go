package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"siteinspect/domain"
	"strings"
	"time"
)

// An upload's tail is its bytes after the last full part: too few for a
// part of the multipart upload (S3 wants 5 MiB), so they would wait in
// the local spool until the next PATCH fills the part. With several
// replicas the next PATCH may land elsewhere, so each PATCH that ends
// with a tail stores it as an object of its own before committing the
// new offset (as tusd's S3 store keeps a .part object), and a replica
// whose spool lacks it fetches it first. Each stored tail has a fresh id
// in its key: a writer that lost its lease while storing one (a stalled
// replica) cannot overwrite the tail another replica committed since.

// tailMark is the spool file naming the tail id the spool's last part
// holds: a replica that stored (or fetched) that tail uses its own copy.
const tailMark = "tail.id"

// tailKey is where the tail with id tailID of an upload is stored.
func tailKey(caseID, uploadID, tailID string) string {
	return "cases/" + caseID + "/uploads/" + uploadID + "/tail-" + tailID
}

// tailOf returns the upload's case and its committed tail's id and size
// (an empty id when the offset is at a part boundary).
func (s *Uploads) tailOf(ctx context.Context, id string) (caseID, tailID string, size int64, err error) {
	err = s.db.queryRow(ctx, `SELECT case_id, tail_id, tail_size FROM uploads WHERE id = ?`, id).Scan(&caseID, &tailID, &size)
	if err != nil {
		return "", "", 0, notFound(err, "upload "+id)
	}
	return caseID, tailID, size, nil
}

// dropTail deletes an upload's committed tail object, if it has one. The
// caller clears the row's tail_id in the same step as the bytes stop
// counting (completion, expiry, discard).
func (s *Uploads) dropTail(ctx context.Context, id string) error {
	caseID, tailID, _, err := s.tailOf(ctx, id)
	if err != nil || tailID == "" {
		return err
	}
	if err := s.objects.Delete(ctx, tailKey(caseID, id, tailID)); err != nil {
		return fmt.Errorf("delete tail of upload %s: %w", id, err)
	}
	return nil
}

// storeTail stores the first size bytes of spool part n as a new tail
// object and returns its id. It runs even if the client has gone.
func (a *appender) storeTail(ctx context.Context, n int, size int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), partTimeout)
	defer cancel()
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		return "", fmt.Errorf("tail: %w", err)
	}
	defer f.Close()
	id := domain.NewID()
	start := time.Now()
	if err := a.s.objects.Put(ctx, tailKey(a.up.CaseID, a.up.ID, id), io.NewSectionReader(f, 0, size), size, "application/octet-stream"); err != nil {
		return "", fmt.Errorf("store tail of upload %s: %w", a.up.ID, err)
	}
	a.s.cfg.Logger.Debug("stored upload tail", "upload", a.up.ID, "bytes", size, "ms", time.Since(start).Milliseconds())
	return id, nil
}

// loadTail makes spool part n hold the committed tail tailID of size
// bytes: the spool's own copy when its mark names that tail, else the
// stored object, fetched. A tail missing from the store is ErrGone: the
// bytes the client was told we hold are lost.
func (a *appender) loadTail(ctx context.Context, n int, tailID string, size int64) error {
	mark, _ := os.ReadFile(filepath.Join(a.s.spoolDir(a.up.ID), tailMark))
	if st, err := os.Stat(a.spoolPath(n)); err == nil && st.Size() >= size && strings.TrimSpace(string(mark)) == tailID {
		return nil
	}
	obj, err := a.s.objects.Open(ctx, tailKey(a.up.CaseID, a.up.ID, tailID))
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Coded(domain.ErrGone, "upload_lost", "part of this upload was lost on the server; start a new upload")
	}
	if err != nil {
		return fmt.Errorf("fetch tail of upload %s: %w", a.up.ID, err)
	}
	defer obj.Close()
	f, err := os.OpenFile(a.spoolPath(n), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	got, err := io.Copy(f, io.LimitReader(obj, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch tail of upload %s: %w", a.up.ID, err)
	}
	if got != size {
		return domain.Coded(domain.ErrGone, "upload_lost", "part of this upload was lost on the server; start a new upload")
	}
	a.markTail(tailID)
	return nil
}

// markTail records that the spool's last part holds tail tailID. A mark
// that fails to be written only costs the next PATCH here a fetch.
func (a *appender) markTail(tailID string) {
	if err := os.WriteFile(filepath.Join(a.s.spoolDir(a.up.ID), tailMark), []byte(tailID), 0o640); err != nil {
		a.s.cfg.Logger.Warn("mark upload tail", "upload", a.up.ID, "err", err)
	}
}

// deleteTail removes a tail object that no longer counts, logging a
// failure: it holds no byte the upload needs.
func (a *appender) deleteTail(ctx context.Context, tailID string) {
	if tailID == "" {
		return
	}
	if err := a.s.objects.Delete(context.WithoutCancel(ctx), tailKey(a.up.CaseID, a.up.ID, tailID)); err != nil {
		a.s.cfg.Logger.Warn("delete upload tail", "upload", a.up.ID, "tail", tailID, "err", err)
	}
}
