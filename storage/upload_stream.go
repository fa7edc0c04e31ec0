package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"siteinspect/domain"
)

// partStreamer is the object store's side of a part sent while its bytes
// arrive (objects.MinIO.StreamPart).
type partStreamer interface {
	CanStreamParts() bool
	StreamPart(ctx context.Context, key, uploadID string, n int, body io.Reader, size int64) (string, error)
}

var (
	// errBodyEnded ends a streamed part's body when the request's body
	// ended (or broke off) before the part did.
	errBodyEnded = errors.New("the request body ended before the part")
	// errStreamOver fails writes into a streamed part whose PUT has ended.
	errStreamOver = errors.New("the part's PUT has ended")
)

// partStream is a part on its way to the object store while its bytes
// arrive. The receiving loop writes each chunk to the part's spool file
// first and then into pw; the PUT reads the spool's earlier bytes of the
// part (prefix) and then pr. So the spool always holds what the PUT was
// given, and a part whose PUT fails is sent again from there.
type partStream struct {
	n    int
	size int64
	pw   *io.PipeWriter
	pr   *io.PipeReader
	body io.Reader
	// taken counts the bytes the PUT has read: all of them (size) means
	// every write into pw succeeded, so the loop counts on the stream to
	// store the part and the stream, if its PUT then fails, sends the part
	// again from the spool.
	taken atomic.Int64
	// failed says a write into pw failed (the PUT ended early): the loop
	// stops writing and the part goes the old way, from the spool once full.
	failed bool
}

func (st *partStream) Read(p []byte) (int, error) {
	k, err := st.body.Read(p)
	st.taken.Add(int64(k))
	return k, err
}

// send writes p, already in the spool, into the PUT.
func (st *partStream) send(p []byte) {
	if st.failed {
		return
	}
	if _, err := st.pw.Write(p); err != nil {
		st.failed = true
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

// startStream starts part n's PUT, giving it first the have bytes already
// in its spool file; the loop then sends the rest through the stream. It
// waits for a free slot while PartConcurrency parts are in flight, which
// slows the client down as queue does.
func (a *appender) startStream(ctx context.Context, n int, have int64) error {
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
	f, err := os.Open(a.spoolPath(n))
	if err != nil {
		<-a.slots
		return fmt.Errorf("spool: %w", err)
	}
	pr, pw := io.Pipe()
	st := &partStream{n: n, size: a.partLen(n), pw: pw, pr: pr}
	st.body = io.MultiReader(io.NewSectionReader(f, 0, have), pr)
	a.cur = st
	key, mp := a.up.ObjectKey, a.up.MultipartID
	// The PUT ends with the request (its context) or after the part
	// timeout: a client that stalls mid-part does not hold it open.
	pctx, cancel := context.WithTimeout(ctx, a.s.cfg.PartTimeout)
	a.streams.Add(1)
	go func() {
		defer a.streams.Done()
		defer func() { <-a.slots }()
		defer f.Close()
		etag, err := a.streamer.StreamPart(pctx, key, mp, n, st, st.size)
		cancel()
		pr.CloseWithError(errStreamOver)
		switch {
		case err == nil:
			err = a.recordPart(context.WithoutCancel(ctx), n, etag, st.size)
		case st.taken.Load() == st.size:
			// Every byte was sent and the loop has moved on: send the
			// part again from the spool (sendfile, with retries).
			a.s.cfg.Logger.Info("streamed part failed; sending it from the spool", "upload", a.up.ID, "part", n, "err", err)
			err = a.flushPart(n)
		default:
			// The loop saw its write fail, or the body ended first: the
			// part stays in the spool and goes the old way.
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
	return nil
}

// endStream closes the current part's stream once the part's last byte
// was written into it, and says whether the stream carries the part (no
// write into it failed); if not, the part goes the old way.
func (a *appender) endStream() bool {
	st := a.cur
	a.cur = nil
	st.pw.Close()
	return !st.failed
}

// abortStream fails the current part's PUT when the body ended before the
// part did: its bytes stay in the spool, as a body that broke off leaves
// them without a stream.
func (a *appender) abortStream() {
	if a.cur != nil {
		a.cur.pw.CloseWithError(errBodyEnded)
		a.cur = nil
	}
}
