package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"siteinspect/domain"
	"siteinspect/storage/objects"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bufPool holds the copy buffers: one per request in flight, whatever the
// file size, so memory stays flat.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// partTimeout bounds one part's trip to the object store.
const partTimeout = 10 * time.Minute

// appender is the state of one Append call. Invariant kept between
// commits: every byte below the committed offset is in shared storage,
// in a recorded part or (after the last full part) in the committed tail
// object, and the committed hash state covers exactly those bytes. So any
// replica can continue the upload; bytes only in this replica's spool are
// not counted until they are stored.
type appender struct {
	s     *Uploads
	up    *domain.Upload
	owner string
	hash  hash.Hash
	// partsDone is the set of parts already in the object store.
	partsDone map[int]objects.Part
	// states holds, for each part filled by this request, the hash state
	// after its last byte: the state to commit once the part is stored.
	states map[int][]byte

	// commitMu orders commits (from the flushers and the receiving path);
	// committed and tail are the row's upload_offset and tail_segments.
	commitMu  sync.Mutex
	committed int64
	tail      []string

	todo     chan int
	wg       sync.WaitGroup
	mu       sync.Mutex
	flushErr error

	// quotaEnd, when quotaBound (an upload of deferred length), is the
	// offset at which its company's daily quota of bytes runs out
	// (quotaRoom).
	quotaEnd   int64
	quotaBound bool

	// streamer, when the store has one, takes parts while their bytes
	// arrive (upload_stream.go); bodyStart and bodyEnd are the offsets
	// where this request's body begins and ends (bodyEnd -1: unknown).
	streamer           partStreamer
	bodyStart, bodyEnd int64
	// cur is the part being streamed by the receiving loop; streams
	// counts the streamed parts' goroutines, slots bounds them.
	cur     *partStream
	streams sync.WaitGroup
	slots   chan struct{}
	// tried is the last part this request tried to stream: a part whose
	// PUT could not start is not tried again.
	tried int
}

func (a *appender) spoolPath(n int) string {
	return filepath.Join(a.s.spoolDir(a.up.ID), strconv.Itoa(n))
}

// partOf returns the 1-based part holding byte offset off.
func (a *appender) partOf(off int64) int { return int(off/a.up.PartSize) + 1 }

// partEnd returns the offset just after part n's last byte.
func (a *appender) partEnd(n int) int64 {
	if a.up.LengthDeferred {
		return int64(n) * a.up.PartSize
	}
	return min(int64(n)*a.up.PartSize, a.up.Length)
}

// partLen returns how many bytes part n holds when the upload is complete.
func (a *appender) partLen(n int) int64 {
	if a.up.LengthDeferred {
		// Only full parts leave the spool before the length is known.
		return a.up.PartSize
	}
	return min(a.up.PartSize, a.up.Length-int64(n-1)*a.up.PartSize)
}

// Append writes body at offset to the upload (tus PATCH). It reads until
// body ends or the upload is complete, and returns the upload as committed
// and, when the last byte arrived, the new evidence item. Received bytes are
// kept even when body breaks off, except for a chunk with a checksum, which
// is appended whole or not at all.
func (s *Uploads) Append(ctx context.Context, id string, offset int64, body io.Reader, sum *domain.Checksum) (*domain.Upload, *domain.Evidence, error) {
	var up *domain.Upload
	var ev *domain.Evidence
	err := s.withLease(ctx, id, func(owner string) error {
		var err error
		if up, err = s.Upload(ctx, id); err != nil {
			return err
		}
		switch {
		case up.State == domain.UploadExpired || (up.State == domain.UploadOpen && s.db.now().After(up.ExpiresAt)):
			return domain.Coded(domain.ErrGone, "upload_expired", "the upload has expired; start a new one")
		case up.State == domain.UploadComplete:
			return domain.Coded(domain.ErrConflict, "upload_complete", "the upload is already complete")
		case offset != up.Offset:
			return domain.Errorf(domain.ErrConflict, fmt.Sprintf("Upload-Offset %d does not match the upload's offset %d", offset, up.Offset))
		}
		if sum != nil && sum.Algorithm != "sha256" {
			return domain.Errorf(domain.ErrInvalid, "unsupported checksum algorithm "+sum.Algorithm+"; use sha256")
		}
		// The case may have moved on since the upload began (submitted,
		// decided): refuse before reading a byte. finish checks again.
		if err := s.checkAccepting(ctx, up); err != nil {
			return err
		}
		a, err := s.resume(ctx, up, owner)
		if err != nil {
			return err
		}
		if up.LengthDeferred {
			// What the body may bring: its length when declared, and
			// at most what the file's kind still allows.
			want := a.end() - up.Offset
			if sb, ok := body.(domain.SizedBody); ok && sb.Size >= 0 {
				want = min(want, sb.Size)
			}
			end, err := s.holdQuota(ctx, up, want)
			if err != nil {
				return err
			}
			defer func() {
				// A PATCH that took all it held leaves the hold: it
				// equals the offset, and the write is saved.
				a.commitMu.Lock()
				took := a.committed
				a.commitMu.Unlock()
				if took < end {
					s.releaseQuota(ctx, up.ID)
				}
			}()
			a.quotaEnd, a.quotaBound = end, true
		}
		ev, err = a.receive(ctx, body, sum)
		return err
	})
	if err != nil {
		return up, nil, err
	}
	return up, ev, nil
}

// Finish completes an upload whose bytes have all arrived but which was not
// turned into evidence, because the process stopped in between. It is a
// no-op for any other upload.
func (s *Uploads) Finish(ctx context.Context, id string) (*domain.Upload, *domain.Evidence, error) {
	var up *domain.Upload
	var ev *domain.Evidence
	err := s.withLease(ctx, id, func(owner string) error {
		var err error
		if up, err = s.Upload(ctx, id); err != nil || up.State != domain.UploadOpen || up.Offset != up.Length || up.LengthDeferred {
			return err
		}
		var a *appender
		if up.Concat == domain.ConcatFinal {
			// Its bytes are in its partial uploads' objects, not in a spool.
			a = &appender{s: s, up: up, owner: owner, hash: sha256.New(), partsDone: map[int]objects.Part{}, states: map[int][]byte{}, committed: up.Offset}
		} else if a, err = s.resume(ctx, up, owner); err != nil {
			return err
		}
		ev, err = a.finish(ctx)
		return err
	})
	return up, ev, err
}

// resume restores an upload's hash and reconciles its spool with the
// committed offset: the committed tail is fetched when this replica's
// spool does not hold it, bytes written after the last commit are cut
// off, and parts stored but not committed (a writer died in between) are
// forgotten, to be sent again.
func (s *Uploads) resume(ctx context.Context, up *domain.Upload, owner string) (*appender, error) {
	a := &appender{s: s, up: up, owner: owner, hash: sha256.New(), partsDone: map[int]objects.Part{}, states: map[int][]byte{}, committed: up.Offset}
	if len(up.HashState) > 0 {
		if err := a.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(up.HashState); err != nil {
			return nil, fmt.Errorf("upload %s hash state: %w", up.ID, err)
		}
	}
	rows, err := s.db.query(ctx, `SELECT number, etag, size FROM upload_parts WHERE upload_id = ?`, up.ID)
	if err != nil {
		return nil, fmt.Errorf("upload %s parts: %w", up.ID, err)
	}
	for rows.Next() {
		var p objects.Part
		if err := rows.Scan(&p.Number, &p.ETag, &p.Size); err != nil {
			rows.Close()
			return nil, err
		}
		a.partsDone[p.Number] = p
	}
	rows.Close()
	for n := range a.partsDone {
		if a.partEnd(n) > up.Offset {
			delete(a.partsDone, n)
		}
	}
	if err := os.MkdirAll(s.spoolDir(up.ID), 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	last := 0
	if up.Offset > 0 {
		last = a.partOf(up.Offset - 1)
	}
	_, segs, tailSize, err := s.tailOf(ctx, up.ID)
	if err != nil {
		return nil, err
	}
	if a.tail = segs; len(segs) > 0 {
		if want := up.Offset - int64(last-1)*up.PartSize; tailSize != want {
			return nil, fmt.Errorf("upload %s: its tail has %d bytes, want %d", up.ID, tailSize, want)
		}
		if err := a.loadTail(ctx, last, segs, tailSize); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(s.spoolDir(up.ID))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		if e.Name() == tailMark {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		if _, done := a.partsDone[n]; err != nil || n > last || done {
			os.Remove(filepath.Join(s.spoolDir(up.ID), e.Name()))
		}
	}
	for n := 1; n <= last; n++ {
		if _, done := a.partsDone[n]; done {
			continue
		}
		want := min(up.PartSize, up.Offset-int64(n-1)*up.PartSize)
		st, err := os.Stat(a.spoolPath(n))
		if err != nil || st.Size() < want {
			// Only a lost disk does this: the bytes the client was told we
			// hold are gone, so the upload cannot be finished correctly.
			return nil, domain.Coded(domain.ErrGone, "upload_lost", "part of this upload was lost on the server; start a new upload")
		}
		if st.Size() > want {
			if err := os.Truncate(a.spoolPath(n), want); err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
		}
	}
	return a, nil
}

// done reports whether part n is in the object store already.
func (a *appender) done(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.partsDone[n]
	return ok
}

// startFlushing launches the workers that move full parts to the object
// store while later bytes are still arriving.
func (a *appender) startFlushing() {
	if a.todo != nil {
		return
	}
	a.todo = make(chan int, a.s.cfg.PartConcurrency)
	for range a.s.cfg.PartConcurrency {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for n := range a.todo {
				if err := a.flushPart(n); err != nil {
					a.mu.Lock()
					if a.flushErr == nil {
						a.flushErr = err
					}
					a.mu.Unlock()
				}
			}
		}()
	}
}

// waitFlushed waits for the streamed parts, stops the workers and returns
// the first part that failed.
func (a *appender) waitFlushed() error {
	a.streams.Wait()
	if a.todo != nil {
		close(a.todo)
		a.wg.Wait()
		a.todo = nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.flushErr
	a.flushErr = nil
	return err
}

// ensureMultipart starts the object store's multipart upload on the first
// part, so an upload refused early leaves nothing in the store.
func (a *appender) ensureMultipart(ctx context.Context) error {
	if a.up.MultipartID != "" {
		return nil
	}
	id, err := a.s.objects.CreateMultipart(ctx, a.up.ObjectKey, a.up.ContentType)
	if err != nil {
		return err
	}
	if _, err := a.s.db.exec(ctx, `UPDATE uploads SET multipart_id = ? WHERE id = ?`, id, a.up.ID); err != nil {
		a.s.objects.AbortMultipart(ctx, a.up.ObjectKey, id)
		return fmt.Errorf("record multipart: %w", err)
	}
	a.up.MultipartID = id
	return nil
}

// queue hands full part n to the workers; it blocks while they are busy,
// which slows the client down instead of letting the spool grow.
func (a *appender) queue(ctx context.Context, n int) error {
	a.mu.Lock()
	err := a.flushErr
	a.mu.Unlock()
	if err != nil {
		// A part failed (or the lease was lost): stop receiving early.
		return err
	}
	if err := a.ensureMultipart(ctx); err != nil {
		return err
	}
	a.startFlushing()
	a.todo <- n
	return nil
}

// flushPart stores spool file n as part n and records it. It runs even if
// the client has gone: the bytes are ours to keep.
func (a *appender) flushPart(n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.s.cfg.PartTimeout)
	defer cancel()
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		return fmt.Errorf("part %d: %w", n, err)
	}
	defer f.Close()
	size := a.partLen(n)
	etag, err := a.s.objects.PutPart(ctx, a.up.ObjectKey, a.up.MultipartID, n, f, size)
	if err != nil {
		return err
	}
	return a.recordPart(ctx, n, etag, size)
}

// recordPart records part n, stored with etag, drops its spool file and
// commits what the stored parts now cover.
func (a *appender) recordPart(ctx context.Context, n int, etag string, size int64) error {
	_, err := a.s.db.exec(ctx, `INSERT INTO upload_parts (upload_id, number, etag, size) VALUES (?, ?, ?, ?)
		ON CONFLICT (upload_id, number) DO UPDATE SET etag = excluded.etag, size = excluded.size`, a.up.ID, n, etag, size)
	if err != nil {
		return fmt.Errorf("record part %d: %w", n, err)
	}
	a.mu.Lock()
	a.partsDone[n] = objects.Part{Number: n, ETag: etag, Size: size}
	a.mu.Unlock()
	os.Remove(a.spoolPath(n))
	return a.advance(ctx)
}

// advance commits the offset up to the end of the stored parts that
// follow the committed offset without a gap.
func (a *appender) advance(ctx context.Context) error {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	var to int64
	var state []byte
	a.mu.Lock()
	for n := int(a.committed/a.up.PartSize) + 1; ; n++ {
		_, done := a.partsDone[n]
		st, ok := a.states[n]
		if !done || !ok {
			break
		}
		to, state = a.partEnd(n), st
	}
	a.mu.Unlock()
	if to <= a.committed {
		return nil
	}
	return a.commitLocked(ctx, to, state, nil, 0)
}

// keepState records the hash state over the bytes received so far as
// part n's, to commit once the part is stored.
func (a *appender) keepState(n int) error {
	state, err := a.hashState()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.states[n] = state
	a.mu.Unlock()
	return nil
}

// hashState is the hash state over the bytes received so far.
func (a *appender) hashState() ([]byte, error) {
	return a.hash.(encoding.BinaryMarshaler).MarshalBinary()
}

// settle waits until the full parts are stored and committed, then makes
// the bytes received after them durable before committing them: the
// upload's last part goes to the multipart upload; any other remainder
// (shorter than a part, or a deferred upload's last full part) is the
// tail, whose new bytes go to a new segment that the commit adds to it.
func (a *appender) settle(ctx context.Context) error {
	if err := a.waitFlushed(); err != nil {
		return err
	}
	up := a.up
	if up.Offset == a.committed {
		return nil
	}
	state, err := a.hashState()
	if err != nil {
		return err
	}
	n := a.partOf(up.Offset - 1)
	if !up.LengthDeferred && up.Offset == up.Length {
		a.mu.Lock()
		a.states[n] = state
		a.mu.Unlock()
		if err := a.queue(ctx, n); err != nil {
			return err
		}
		if err := a.waitFlushed(); err != nil {
			return err
		}
		if a.committed != up.Offset {
			return fmt.Errorf("upload %s: committed %d of its %d bytes", up.ID, a.committed, up.Offset)
		}
		return nil
	}
	start := int64(n-1) * up.PartSize
	from, segs := a.committed-start, a.tail
	if from <= 0 || len(segs) >= maxTailSegments {
		// A new tail (the committed offset is at the part's start), or
		// one of many segments: store it whole.
		from, segs = 0, nil
	}
	seg, err := a.storeTail(ctx, n, from, up.Offset-start)
	if err != nil {
		return err
	}
	return a.commit(ctx, up.Offset, state, append(slices.Clip(segs), seg), up.Offset-start)
}

// commit records offset, the hash state over exactly the bytes below it,
// the sniffed type and the tail segments (tail, of tailSize bytes
// together) holding the bytes after the last stored part, if any. Every
// byte below offset must be in the object store already: the spool is a
// cache of this replica's, not a store the next PATCH can count on.
// Segments of the previous tail that the new one does not list are
// deleted.
func (a *appender) commit(ctx context.Context, offset int64, state []byte, tail []string, tailSize int64) error {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	return a.commitLocked(ctx, offset, state, tail, tailSize)
}

func (a *appender) commitLocked(ctx context.Context, offset int64, state []byte, tail []string, tailSize int64) error {
	ctx = context.WithoutCancel(ctx)
	now := a.s.db.now()
	exp := now.Add(a.s.cfg.TTL).UTC().Truncate(time.Millisecond)
	res, err := a.s.db.exec(ctx, `UPDATE uploads SET upload_offset = ?, hash_state = ?, kind = ?, content_type = ?, tail_segments = ?, tail_size = ?, updated_at = ?, expires_at = ? WHERE id = ? AND lease_owner = ?`,
		offset, state, string(a.up.Kind), a.up.ContentType, strings.Join(tail, " "), tailSize, ms(now), ms(exp), a.up.ID, a.owner)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", a.up.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		// Another writer has the upload now; a segment just stored is
		// ours alone (its id is new), so it goes.
		a.deleteTail(ctx, tail, a.tail)
		return domain.Errorf(domain.ErrConflict, "lost the claim on this upload; retry")
	}
	old := a.tail
	a.committed, a.tail, a.up.ExpiresAt = offset, tail, exp
	if len(tail) > 0 {
		a.markTail(tail[len(tail)-1])
	}
	a.deleteTail(ctx, old, tail)
	return nil
}

// sniff checks the real type once the first bytes are in, before any part
// leaves the spool, and applies that kind's size limit.
func (a *appender) sniff() error {
	head := make([]byte, min(SniffLen, a.end()))
	f, err := os.Open(a.spoolPath(1))
	if err != nil {
		return fmt.Errorf("sniff: %w", err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("sniff: %w", err)
	}
	return a.checkType(head)
}

// checkType sniffs the file's first bytes and applies that kind's size
// limit (to a deferred length when it is declared: DeclareLength).
func (a *appender) checkType(head []byte) error {
	kind, ct, ok := Sniff(head)
	if !ok {
		return domain.Errorf(domain.ErrUnsupportedType, "the file is not a video, image or PDF that siteinspect accepts (MP4, MOV, WebM, MKV, JPEG, PNG, HEIC, PDF)")
	}
	if limit := a.s.cfg.Limits[kind]; a.up.Length > limit {
		return domain.Coded(domain.ErrTooLarge, "file_too_large", fmt.Sprintf("a %s may have at most %d bytes; this one has %d", kind, limit, a.up.Length))
	}
	a.up.Kind, a.up.ContentType = kind, ct
	return nil
}

// receive copies body into spool files part by part, hands each full part
// to the flushers, and finishes the upload when the last byte is in.
func (a *appender) receive(ctx context.Context, body io.Reader, sum *domain.Checksum) (*domain.Evidence, error) {
	up := a.up
	end := a.end()
	defer a.waitFlushed() // no flusher outlives the request
	defer a.abortStream() // before waiting: a stream cut short ends
	// Full parts left over from an interrupted request go first.
	for n := 1; int64(n)*up.PartSize <= up.Offset && up.Offset < end; n++ {
		if !a.done(n) {
			if err := a.queue(ctx, n); err != nil {
				a.waitFlushed()
				return nil, err
			}
		}
	}
	var chunk hash.Hash
	if sum != nil {
		chunk = sha256.New()
	}
	// A chunk with a checksum, or of undeclared length, is appended whole
	// or not at all: its full parts wait for the end of the body.
	_, unsized := body.(domain.UnsizedBody)
	whole := sum != nil || unsized
	a.bodyStart, a.bodyEnd = up.Offset, -1
	if sb, ok := body.(domain.SizedBody); ok {
		a.bodyEnd = up.Offset + sb.Size
	}
	if ps, ok := a.s.objects.(partStreamer); ok && ps.CanStreamParts() {
		a.streamer = ps
		a.slots = make(chan struct{}, a.s.cfg.PartConcurrency)
	}
	// stop is where this request stops reading: the end, or where the
	// company's quota runs out.
	stop := end
	if a.quotaBound && a.quotaEnd < stop {
		stop = a.quotaEnd
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	in := io.LimitReader(body, stop-up.Offset)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var full []int
	var readErr error
	for up.Offset < stop {
		n := a.partOf(up.Offset)
		if f == nil {
			var err error
			if f, err = os.OpenFile(a.spoolPath(n), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
		}
		room := int64(n)*up.PartSize - up.Offset
		k, err := in.Read(buf[:min(int64(len(buf)), room)])
		if k > 0 {
			if _, werr := f.Write(buf[:k]); werr != nil {
				return nil, fmt.Errorf("spool: %w", werr)
			}
			a.hash.Write(buf[:k])
			if chunk != nil {
				chunk.Write(buf[:k])
			}
			up.Offset += int64(k)
			// A partial upload's type is checked on the joined bytes.
			if up.Kind == "" && up.Concat != domain.ConcatPartial && up.Offset >= min(SniffLen, end) {
				if err := a.sniff(); err != nil {
					f.Close()
					f = nil
					if errors.Is(err, domain.ErrUnsupportedType) || errors.Is(err, domain.ErrTooLarge) {
						if derr := a.s.discard(context.WithoutCancel(ctx), up); derr != nil {
							return nil, derr
						}
					}
					return nil, err
				}
			}
			// Part n has all its bytes: it is full, or the upload's last.
			ends := up.Offset == int64(n)*up.PartSize || (!up.LengthDeferred && up.Offset == up.Length)
			streamed := a.cur != nil
			if streamed || a.canStream(n, whole) {
				if ends {
					// Its state is in place before its PUT can end.
					if err := a.keepState(n); err != nil {
						return nil, err
					}
				}
				if streamed {
					a.cur.grow(int64(k))
				} else {
					// This chunk is in the spool: the PUT starts with it.
					var err error
					if streamed, err = a.startStream(ctx, n, up.Offset-int64(n-1)*up.PartSize); err != nil {
						return nil, err
					}
				}
			}
			if streamed {
				if ends {
					a.endStream()
					f.Close()
					f = nil
				}
			} else if up.Offset == int64(n)*up.PartSize && up.Offset < end {
				// Part n is full; its bytes count once it is stored.
				if err := a.keepState(n); err != nil {
					return nil, err
				}
				if whole {
					full = append(full, n)
				} else if err := a.queue(ctx, n); err != nil {
					return nil, err
				}
				f.Close()
				f = nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	a.abortStream()
	if readErr == nil && up.Offset == end && !up.LengthDeferred {
		// The upload is full; a body that still has bytes is longer than
		// the upload (tus: 413). Nothing of it is committed: the next
		// request's resume cuts the spool back to the committed offset.
		var probe [1]byte
		if k, _ := io.ReadFull(body, probe[:]); k > 0 {
			a.waitFlushed()
			if !whole {
				// Parts filled earlier in this body are committed already;
				// its tail is not, and the upload does not complete.
				return nil, domain.Coded(domain.ErrTooLarge, domain.CodeChunkPastLength, "the body runs past Upload-Length; the upload was not completed by it: resume from HEAD's offset with the right bytes")
			}
			return nil, domain.Coded(domain.ErrTooLarge, domain.CodeChunkPastLength, "the body runs past Upload-Length; nothing of it was kept")
		}
	}
	// A body that runs past the company's quota keeps what came before it
	// (none, for a chunk appended whole) and is refused for the rest.
	var overQuota error
	if readErr == nil && up.Offset == stop && stop < end {
		var probe [1]byte
		if k, _ := io.ReadFull(body, probe[:]); k > 0 {
			if whole {
				a.waitFlushed()
				return nil, a.s.quotaExceeded("nothing of this chunk was kept")
			}
			overQuota = a.s.quotaExceeded(fmt.Sprintf("the bytes up to offset %d are kept", up.Offset))
		}
	}
	if whole && readErr != nil {
		// A partial chunk cannot be verified (or may be longer than it
		// may be): keep none of it. The next request's resume cuts the
		// spool back to the committed offset.
		return nil, bodyBroken(readErr, "none of this chunk was kept")
	}
	if sum != nil {
		if !bytes.Equal(chunk.Sum(nil), sum.Sum) {
			return nil, domain.Errorf(domain.ErrChecksumMismatch, "the chunk's sha256 does not match Upload-Checksum; it was not appended")
		}
	}
	for _, n := range full {
		if err := a.queue(ctx, n); err != nil {
			return nil, err
		}
	}
	// The bytes received are kept even when the client has gone.
	if err := a.settle(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, bodyBroken(readErr, fmt.Sprintf("the bytes received are kept; resume at offset %d", up.Offset))
	}
	if overQuota != nil {
		return nil, overQuota
	}
	if up.Offset < up.Length || up.LengthDeferred {
		return nil, nil
	}
	return a.finish(ctx)
}

// bodyBroken reports a request body that ended before its end: the
// client's connection broke. It is the client's side that failed, so it is
// an ErrInvalid, not a server error.
func bodyBroken(cause error, what string) error {
	return &domain.Error{Kind: domain.ErrInvalid, Message: "the request body broke off (" + cause.Error() + "); " + what}
}

// completeParts stores the last parts and joins them into the upload's
// object; a partial upload's type is checked later, on the joined bytes.
func (a *appender) completeParts(ctx context.Context) error {
	up := a.up
	if up.Kind == "" && up.Concat != domain.ConcatPartial {
		if err := a.sniff(); err != nil {
			if errors.Is(err, domain.ErrUnsupportedType) || errors.Is(err, domain.ErrTooLarge) {
				a.s.discard(ctx, up)
			}
			return err
		}
	}
	lastPart := a.partOf(up.Length - 1)
	for n := 1; n <= lastPart; n++ {
		if !a.done(n) {
			if err := a.queue(ctx, n); err != nil {
				a.waitFlushed()
				return err
			}
		}
	}
	if err := a.waitFlushed(); err != nil {
		return err
	}
	parts := make([]objects.Part, 0, lastPart)
	var total int64
	for n := 1; n <= lastPart; n++ {
		p, ok := a.partsDone[n]
		if !ok {
			return fmt.Errorf("upload %s: part %d missing at completion", up.ID, n)
		}
		parts = append(parts, p)
		total += p.Size
	}
	if total != up.Length {
		return fmt.Errorf("upload %s: parts hold %d bytes, want %d", up.ID, total, up.Length)
	}
	err := a.s.objects.CompleteMultipart(ctx, up.ObjectKey, up.MultipartID, parts)
	if errors.Is(err, domain.ErrNotFound) {
		// Completed before a crash kept us from recording it.
		if info, serr := a.s.objects.Stat(ctx, up.ObjectKey); serr == nil && info.Size == up.Length {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	return nil
}

// finish stores the last part, joins the parts into the original object,
// and records the evidence item, its processing job and the upload's
// completion in one transaction.
func (a *appender) finish(ctx context.Context) (*domain.Evidence, error) {
	up := a.up
	ctx = context.WithoutCancel(ctx)
	switch {
	case up.Concat == domain.ConcatFinal:
		// tus concatenation: join the partial uploads' objects.
		if err := a.join(ctx); err != nil {
			return nil, err
		}
	case up.Concat == domain.ConcatPartial:
		if err := a.completeParts(ctx); err != nil {
			return nil, err
		}
		return nil, a.completePartial(ctx)
	default:
		if err := a.completeParts(ctx); err != nil {
			return nil, err
		}
	}
	ev := &domain.Evidence{
		ID: up.EvidenceID, CaseID: up.CaseID, Kind: up.Kind, Filename: up.Filename, ContentType: up.ContentType,
		Size: up.Length, SHA256: hex.EncodeToString(a.hash.Sum(nil)), Status: domain.EvidenceProcessing, UploadedBy: up.UserID,
		CreatedAt: a.s.db.now().UTC().Truncate(time.Millisecond), ObjectKey: up.ObjectKey, Slot: up.Metadata[domain.MetaSlot],
	}
	// The phone's continuous take may carry its shot marks (guided filming).
	var checklist []domain.ChecklistItem
	if up.LiveSessionID != "" && up.Metadata[domain.MetaShots] != "" {
		cs, err := a.s.db.CaseCore(ctx, up.CaseID)
		if err != nil {
			return nil, err
		}
		pt, err := a.s.db.CasePermitType(ctx, cs)
		if err != nil {
			return nil, err
		}
		checklist = pt.Checklist
	}
	err := a.s.db.tx(ctx, func(tx *wtx) error {
		var extra map[string]any
		if up.LiveSessionID != "" {
			extra = map[string]any{"live_session": up.LiveSessionID}
		}
		by, err := uploaderOf(func(q string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, q, args...) }, up)
		if err != nil {
			return err
		}
		if err := addEvidence(ctx, tx, ev, "evidence.uploaded", extra, up.Rule(), by); err != nil {
			return err
		}
		if checklist != nil {
			if err := addUploadShots(ctx, tx, up, ev, checklist); err != nil {
				return err
			}
		}
		if up.Rule() == domain.ActionDeliverOwed {
			if err := deliverOwed(ctx, tx, up, ev); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = ?`, up.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE uploads SET state = ?, hash_state = NULL, tail_segments = '', tail_size = 0, updated_at = ? WHERE id = ? AND lease_owner = ?`,
			domain.UploadComplete, ms(ev.CreatedAt), up.ID, a.owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return domain.Errorf(domain.ErrConflict, "lost the claim on this upload; retry")
		}
		return nil
	})
	if refusedEvidence(err) || refusedUploader(err) {
		// The case stopped taking evidence, or the uploader lost the right
		// to add to it, while the last bytes arrived: nothing of the upload
		// is kept, the object included.
		if derr := a.s.objects.Delete(ctx, up.ObjectKey); derr != nil {
			a.s.cfg.Logger.Warn("delete refused upload's object", "upload", up.ID, "err", derr)
		}
		return nil, a.s.refuse(ctx, up, err)
	}
	if err != nil {
		return nil, fmt.Errorf("complete upload %s: %w", up.ID, err)
	}
	up.State = domain.UploadComplete
	a.deleteTail(ctx, a.tail, nil)
	a.s.purgeTails(ctx, up.CaseID, up.ID)
	if up.Concat == domain.ConcatFinal {
		a.s.dropPartials(ctx, up)
	}
	if err := os.RemoveAll(a.s.spoolDir(up.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.s.cfg.Logger.Warn("remove spool", "upload", up.ID, "err", err)
	}
	return ev, nil
}
