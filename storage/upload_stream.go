package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

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
// arrive. The receiving loop writes each chunk to the part's spool file and
// then tells the stream (grow); the stream's goroutine sends what the
// spool holds beyond what it sent, with sendfile, as it comes. The spool
// decouples the two (the loop never waits for the object store), holds
// everything the PUT was given, and is what a failed part is sent again
// from. The goroutine owns the part: the loop never queues it.
type partStream struct {
	mu   sync.Mutex
	cond *sync.Cond
	// spooled is how many of the part's bytes are in the spool; ended says
	// the part is complete there, aborted that the body ended before it
	// did (the part stays in the spool, as without streaming); timedOut
	// that the PUT's context ended.
	spooled                  int64
	ended, aborted, timedOut bool
}

func (st *partStream) set(f func()) {
	st.mu.Lock()
	f()
	st.mu.Unlock()
	st.cond.Broadcast()
}

// grow says k more bytes of the part are in the spool.
func (st *partStream) grow(k int64) { st.set(func() { st.spooled += k }) }

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
	return n > a.tried && start >= a.bodyStart && end <= a.bodyEnd && (end < up.Length || a.bodyEnd == up.Length)
}

// startStream starts part n's PUT, of which the spool file holds the first
// have bytes. It waits for a free slot while PartConcurrency parts are in
// flight, which slows the client down as queue does. When the PUT cannot
// start, the part goes the old way (false).
func (a *appender) startStream(ctx context.Context, n int, have int64) (bool, error) {
	a.tried = n
	a.mu.Lock()
	err := a.flushErr
	a.mu.Unlock()
	if err != nil {
		return false, err
	}
	if err := a.ensureMultipart(ctx); err != nil {
		return false, err
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		<-a.slots
		return false, fmt.Errorf("spool: %w", err)
	}
	size := a.partLen(n)
	// The PUT ends with the request (its context) or after the part
	// timeout: a client that stalls mid-part does not hold it open.
	pctx, cancel := context.WithTimeout(ctx, a.s.cfg.PartTimeout)
	w, err := a.streamer.StreamPart(pctx, a.up.ObjectKey, a.up.MultipartID, n, size)
	if err != nil {
		cancel()
		f.Close()
		<-a.slots
		a.s.cfg.Logger.Info("streamed part not started", "upload", a.up.ID, "part", n, "err", err)
		return false, nil
	}
	st := &partStream{spooled: have}
	st.cond = sync.NewCond(&st.mu)
	stop := context.AfterFunc(pctx, func() { st.set(func() { st.timedOut = true }) })
	a.cur = st
	a.streams.Add(1)
	go func() {
		defer a.streams.Done()
		defer func() { <-a.slots }()
		defer f.Close()
		defer cancel()
		defer stop()
		err := a.sendStream(st, w, f, size)
		if err == nil {
			var etag string
			if etag, err = w.Wait(); err == nil {
				err = a.recordPart(context.WithoutCancel(ctx), n, etag, size)
				a.failFlush(err)
				return
			}
		} else {
			w.Abort(err)
		}
		// The part goes from the spool once it is complete there.
		st.mu.Lock()
		for !st.ended && !st.aborted {
			st.cond.Wait()
		}
		ended := st.ended
		st.mu.Unlock()
		if !ended {
			a.s.cfg.Logger.Info("streamed part abandoned", "upload", a.up.ID, "part", n, "err", err)
			return
		}
		a.s.cfg.Logger.Info("streamed part failed; sending it from the spool", "upload", a.up.ID, "part", n, "err", err)
		a.failFlush(a.flushPart(n))
	}()
	return true, nil
}

// sendStream sends the part's bytes from the spool as they arrive there,
// until all size are sent, the body ends before the part does, or the PUT
// fails or times out.
func (a *appender) sendStream(st *partStream, w *objects.PartWriter, f *os.File, size int64) error {
	var sent int64
	for sent < size {
		st.mu.Lock()
		for st.spooled == sent && !st.aborted && !st.timedOut {
			st.cond.Wait()
		}
		have, aborted, timedOut := st.spooled, st.aborted, st.timedOut
		st.mu.Unlock()
		switch {
		case aborted:
			return errBodyEnded
		case timedOut:
			return context.DeadlineExceeded
		}
		if err := w.SendFrom(f, have-sent); err != nil {
			return err
		}
		sent = have
	}
	return nil
}

// failFlush keeps err, if any, as the first failure of a part.
func (a *appender) failFlush(err error) {
	if err == nil {
		return
	}
	a.mu.Lock()
	if a.flushErr == nil {
		a.flushErr = err
	}
	a.mu.Unlock()
}

// endStream says the current part is complete in the spool.
func (a *appender) endStream() {
	st := a.cur
	a.cur = nil
	st.set(func() { st.ended = true })
}

// abortStream fails the current part's PUT when the body ended before the
// part did: its bytes stay in the spool, as a body that broke off leaves
// them without a stream.
func (a *appender) abortStream() {
	if st := a.cur; st != nil {
		a.cur = nil
		st.set(func() { st.aborted = true })
	}
}
