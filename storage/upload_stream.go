package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"siteinspect/domain"
	"siteinspect/storage/objects"
)

// partStreamer is the object store's side of a part sent while its bytes
// arrive (objects.MinIO.StreamPart).
type partStreamer interface {
	CanStreamParts() bool
	StreamPart(ctx context.Context, key, uploadID string, n int, size int64) (*objects.PartWriter, error)
}

// errBodyEnded fails a streamed part's PUT when the request's body ended
// (or broke off) before the part did.
var errBodyEnded = errors.New("the request body ended before the part")

// partStream is a part on its way to the object store while its bytes
// arrive. The receiving loop writes each chunk to the part's spool file
// first and then into w, so the spool always holds what the PUT was
// given, and a part whose PUT fails is sent again from there.
type partStream struct {
	n    int
	size int64
	w    *objects.PartWriter
	// failed says a write into w failed: the loop stops writing and the
	// part goes the old way, from the spool once full.
	failed bool
	// whole receives, once, the loop's verdict: true when every byte of
	// the part was written into w (the stream then owns the part and, if
	// its PUT fails, sends it again from the spool), false when the part
	// goes the old way or stays in the spool.
	whole chan bool
}

// send writes p, already in the spool, into the PUT.
func (st *partStream) send(p []byte) {
	if st.failed {
		return
	}
	if _, err := st.w.Write(p); err != nil {
		st.failed = true
		st.whole <- false
	}
}

// canStream says whether part n goes to the object store while its bytes
// arrive: the store can take it so, the body's length is known and it
// covers the whole part (or the upload's last part, ending where the
// upload ends), the part began in this body (so this request's spool holds
// its bytes from its first), its length is known (not a deferred upload)
// and the type is checked (before any byte leaves). A chunk with a
// checksum or of undeclared length (whole) is appended whole or not at
// all, so its parts wait for its end.
func (a *appender) canStream(n int, whole bool) bool {
	up := a.up
	if a.streamer == nil || whole || up.LengthDeferred || a.bodyEnd < 0 {
		return false
	}
	if up.Kind == "" && up.Concat != domain.ConcatPartial {
		return false
	}
	start, end := int64(n-1)*up.PartSize, a.partEnd(n)
	return start >= a.bodyStart && end <= a.bodyEnd && (end < up.Length || a.bodyEnd == up.Length)
}

// startStream starts part n's PUT and sends it the have bytes already in
// its spool file (the last of which are chunk, usually all of them); the
// loop then sends the rest. It waits for a free slot while
// PartConcurrency parts are in flight, which slows the client down as
// queue does.
func (a *appender) startStream(ctx context.Context, n int, have int64, chunk []byte) error {
	a.mu.Lock()
	err := a.flushErr
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if err := a.ensureMultipart(ctx); err != nil {
		return err
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	size := a.partLen(n)
	// The PUT ends with the request (its context) or after the part
	// timeout: a client that stalls mid-part does not hold it open.
	pctx, cancel := context.WithTimeout(ctx, a.s.cfg.PartTimeout)
	w, err := a.streamer.StreamPart(pctx, a.up.ObjectKey, a.up.MultipartID, n, size)
	if err != nil {
		// The part goes the old way.
		cancel()
		<-a.slots
		a.s.cfg.Logger.Info("streamed part not started", "upload", a.up.ID, "part", n, "err", err)
		a.cur = &partStream{n: n, size: size, failed: true}
		return nil
	}
	st := &partStream{n: n, size: size, w: w, whole: make(chan bool, 1)}
	a.cur = st
	a.streams.Add(1)
	go func() {
		defer a.streams.Done()
		defer func() { <-a.slots }()
		etag, err := w.Wait()
		cancel()
		whole := <-st.whole
		switch {
		case err == nil && whole:
			err = a.recordPart(context.WithoutCancel(ctx), n, etag, size)
		case whole:
			// Every byte was sent and the loop has moved on: send the
			// part again from the spool (sendfile, with retries).
			a.s.cfg.Logger.Info("streamed part failed; sending it from the spool", "upload", a.up.ID, "part", n, "err", err)
			err = a.flushPart(n)
		default:
			// The loop saw a write fail, or the body ended first: the part
			// stays in the spool and goes the old way.
			a.s.cfg.Logger.Info("streamed part abandoned", "upload", a.up.ID, "part", n, "err", err)
			return
		}
		if err != nil {
			a.mu.Lock()
			if a.flushErr == nil {
				a.flushErr = err
			}
			a.mu.Unlock()
		}
	}()
	if int64(len(chunk)) == have {
		st.send(chunk)
		return nil
	}
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for off := int64(0); off < have && !st.failed; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), have-off)], off)
		if k > 0 {
			st.send(buf[:k])
			off += int64(k)
		}
		if err != nil && !(err == io.EOF && off == have) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// endStream ends the current part's stream once the part's last byte was
// written into it, and says whether the stream carries the part (no write
// into it failed); if not, the part goes the old way.
func (a *appender) endStream() bool {
	st := a.cur
	a.cur = nil
	if st.failed {
		return false
	}
	st.whole <- true
	return true
}

// abortStream fails the current part's PUT when the body ended before the
// part did: its bytes stay in the spool, as a body that broke off leaves
// them without a stream.
func (a *appender) abortStream() {
	st := a.cur
	a.cur = nil
	if st == nil || st.failed {
		return
	}
	st.w.Abort(errBodyEnded)
	st.whole <- false
}
