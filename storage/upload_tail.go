package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"siteinspect/domain"
	"siteinspect/storage/objects"
	"slices"
	"strings"
	"sync"
	"time"
)

// An upload's tail is its bytes after the last full part: too few for a
// part of the multipart upload (S3 wants 5 MiB), so they would wait in
// the local spool until a later PATCH fills the part. With several
// replicas that PATCH may land elsewhere, so each PATCH that ends with a
// tail stores the bytes it added to it as one segment object (tusd's S3
// store keeps a .part object; it re-uploads the whole of it each time,
// which for 1 MiB PATCHes and 8 MiB parts stores every byte about four
// times) before committing the new offset, and a replica whose spool lacks
// the tail fetches its segments first. Each segment has a fresh id in its
// key: a writer that lost its lease while storing one (a stalled replica)
// cannot overwrite what another replica committed since.

// maxTailSegments bounds a tail's segments: a PATCH that would add one
// more stores the whole tail as one segment instead, so that fetching a
// tail of many tiny PATCHes stays a few requests.
const maxTailSegments = 16

// tailMark is the spool file naming the last tail segment the spool's
// last part holds: a replica that stored (or fetched) that tail uses its
// own copy.
const tailMark = "tail.id"

// tailKey is where the tail segment seg of an upload is stored.
func tailKey(caseID, uploadID, seg string) string {
	return "cases/" + caseID + "/uploads/" + uploadID + "/tail-" + seg
}

// versionDeleter is implemented by stores that can remove an object with
// every version of it (objects.MinIO on a locked, so versioned, bucket).
type versionDeleter interface {
	DeleteVersions(ctx context.Context, key string) error
}

// deleteSegment removes a tail segment for good: a segment is written for
// each PATCH, and on a versioned bucket the bytes of one merely deleted
// would stay as a noncurrent version.
func (s *Uploads) deleteSegment(ctx context.Context, key string) error {
	if d, ok := s.objects.(versionDeleter); ok {
		return d.DeleteVersions(ctx, key)
	}
	return s.objects.Delete(ctx, key)
}

// tailOf returns the upload's case and its committed tail's segments and
// size (no segments when the offset is at a part boundary).
func (s *Uploads) tailOf(ctx context.Context, id string) (caseID string, segs []string, size int64, err error) {
	var list string
	err = s.db.queryRow(ctx, `SELECT case_id, tail_segments, tail_size FROM uploads WHERE id = ?`, id).Scan(&caseID, &list, &size)
	if err != nil {
		return "", nil, 0, notFound(err, "upload "+id)
	}
	return caseID, strings.Fields(list), size, nil
}

// dropTail deletes an upload's committed tail segments, and any it left
// uncommitted (purgeTails). The caller clears the row's tail_segments in
// the same step as the bytes stop counting (expiry, discard).
func (s *Uploads) dropTail(ctx context.Context, id string) error {
	caseID, segs, _, err := s.tailOf(ctx, id)
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if err := s.deleteSegment(ctx, tailKey(caseID, id, seg)); err != nil {
			return fmt.Errorf("delete tail of upload %s: %w", id, err)
		}
	}
	s.purgeTails(ctx, caseID, id)
	return nil
}

// purgeTails removes, once an upload is complete or gone, tail segments
// no commit named: stored by a replica that died (or lost its lease)
// before committing them. Only a store that lists by prefix (MinIO) finds
// them; a failure is logged, they hold nothing anyone needs.
func (s *Uploads) purgeTails(ctx context.Context, caseID, id string) {
	p, ok := s.objects.(interface {
		Purge(ctx context.Context, prefix string) (objects.PurgeResult, error)
	})
	if !ok {
		return
	}
	if _, err := p.Purge(context.WithoutCancel(ctx), tailKey(caseID, id, "")); err != nil {
		s.cfg.Logger.Warn("purge upload tails", "upload", id, "err", err)
	}
}

// storeTail stores bytes [from, to) of spool part n as a new tail segment
// and returns its id. It runs even if the client has gone.
func (a *appender) storeTail(ctx context.Context, n int, from, to int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.s.cfg.PartTimeout)
	defer cancel()
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		return "", fmt.Errorf("tail: %w", err)
	}
	defer f.Close()
	seg := domain.NewID()
	start := time.Now()
	if err := a.s.objects.Put(ctx, tailKey(a.up.CaseID, a.up.ID, seg), io.NewSectionReader(f, from, to-from), to-from, "application/octet-stream"); err != nil {
		return "", fmt.Errorf("store tail of upload %s: %w", a.up.ID, err)
	}
	a.s.cfg.Logger.Debug("stored upload tail", "upload", a.up.ID, "bytes", to-from, "ms", time.Since(start).Milliseconds())
	return seg, nil
}

// loadTail makes spool part n hold the committed tail, segments segs of
// size bytes together: the spool's own copy when its mark names the last
// segment, else the segments, fetched. A segment missing from the store
// is ErrGone: the bytes the client was told we hold are lost.
func (a *appender) loadTail(ctx context.Context, n int, segs []string, size int64) error {
	last := segs[len(segs)-1]
	mark, _ := os.ReadFile(filepath.Join(a.s.spoolDir(a.up.ID), tailMark))
	if st, err := os.Stat(a.spoolPath(n)); err == nil && st.Size() >= size && strings.TrimSpace(string(mark)) == last {
		return nil
	}
	lost := domain.Coded(domain.ErrGone, "upload_lost", "part of this upload was lost on the server; start a new upload")
	f, err := os.OpenFile(a.spoolPath(n), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var got int64
	for _, seg := range segs {
		obj, err := a.s.objects.Open(ctx, tailKey(a.up.CaseID, a.up.ID, seg))
		if errors.Is(err, domain.ErrNotFound) {
			return lost
		}
		if err != nil {
			return fmt.Errorf("fetch tail of upload %s: %w", a.up.ID, err)
		}
		k, err := io.Copy(f, io.LimitReader(obj, size-got+1))
		obj.Close()
		if err != nil {
			return fmt.Errorf("fetch tail of upload %s: %w", a.up.ID, err)
		}
		got += k
	}
	if got != size {
		return lost
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	a.markTail(last)
	return nil
}

// markTail records that the spool's last part holds the tail ending with
// segment seg. A mark that fails to be written only costs the next PATCH
// here a fetch.
func (a *appender) markTail(seg string) {
	if err := os.WriteFile(filepath.Join(a.s.spoolDir(a.up.ID), tailMark), []byte(seg), 0o640); err != nil {
		a.s.cfg.Logger.Warn("mark upload tail", "upload", a.up.ID, "err", err)
	}
}

// deleteTail removes the segments of segs that are not in keep, all at
// once (a part absorbs up to 16: one after another they cost the PATCH
// that fills it 1.5 ms each on a local MinIO), logging a failure: they
// hold no byte the upload needs.
func (a *appender) deleteTail(ctx context.Context, segs, keep []string) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, seg := range segs {
		if slices.Contains(keep, seg) {
			continue
		}
		wg.Go(func() {
			if err := a.s.deleteSegment(ctx, tailKey(a.up.CaseID, a.up.ID, seg)); err != nil {
				a.s.cfg.Logger.Warn("delete upload tail", "upload", a.up.ID, "segment", seg, "err", err)
			}
		})
	}
	wg.Wait()
}
