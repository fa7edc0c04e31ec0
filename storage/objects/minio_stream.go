package objects

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/minio/minio-go/v7"
)

// CanStreamParts says whether m takes parts through StreamPart: only on
// plain http, as putPartFile (over TLS a part goes through minio-go,
// whose retries need a body it can read again).
func (m *MinIO) CanStreamParts() bool {
	return m.partClient != nil && m.core.Client.EndpointURL().Scheme == "http"
}

// errPartAnswered fails writes into a PartWriter whose PUT has its answer.
var errPartAnswered = errors.New("the part's PUT was answered before its body was sent")

// StreamPart starts storing part n (1-based) of size bytes whose body the
// caller then sends, as it arrives, through the returned PartWriter: one
// PUT to a presigned UploadPart URL on a TCP connection of its own, so
// that storing a part overlaps receiving it instead of following it, and
// the caller sends each stretch of the body from its spool file with
// sendfile (SendFrom; through net/http the body would go through a pipe
// and 32 KiB copies). It makes one
// attempt and never retries, since the body cannot be read twice: the
// caller keeps a copy to retry from (PutPart from its spool file). A body
// that ends early (Abort) fails the part, and S3 keeps nothing of it. ctx
// bounds the whole PUT, a stalled body included: when it ends, the
// connection is closed.
func (m *MinIO) StreamPart(ctx context.Context, key, uploadID string, n int, size int64) (*PartWriter, error) {
	what := fmt.Sprintf("stream part %d of %s", n, key)
	if !m.CanStreamParts() {
		return nil, fmt.Errorf("%s: not on plain http", what)
	}
	presign := m.presignPart
	if m.presignHook != nil {
		presign = m.presignHook
	}
	u, err := presign(ctx, key, uploadID, n)
	if err != nil {
		return nil, fmt.Errorf("%s: presign: %w", what, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	conn := c.(*net.TCPConn)
	w := &PartWriter{what: what, conn: conn, left: size, done: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() { w.fail(ctx.Err()) })
	head := "PUT " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: siteinspect\r\nContent-Length: " + strconv.FormatInt(size, 10) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		w.fail(err)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	go w.readAnswer()
	return w, nil
}

// PartWriter is the body of a part being stored by StreamPart.
type PartWriter struct {
	what string
	conn *net.TCPConn
	left int64 // bytes of the body still to write
	stop func() bool
	done chan struct{}

	mu   sync.Mutex
	err  error // first failure
	etag string
}

// fail records err, unless a failure came first, and closes the connection.
func (w *PartWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil && w.etag == "" {
		w.err = err
	}
	w.mu.Unlock()
	w.conn.Close()
}

// readAnswer waits for the PUT's answer. An answer that comes before the
// whole body was written is a refusal: the connection is closed so that
// the writer's next write fails instead of waiting.
func (w *PartWriter) readAnswer() {
	defer close(w.done)
	defer w.stop()
	resp, err := http.ReadResponse(bufio.NewReaderSize(w.conn, 4<<10), &http.Request{Method: http.MethodPut})
	if err != nil {
		w.fail(err)
		return
	}
	etag, err, _ := readPartResponse(resp)
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		err = translate(me, fmt.Sprintf("%s (HTTP %d %s)", w.what, me.StatusCode, me.Code))
	}
	if err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	w.etag = etag
	early := w.left > 0
	w.mu.Unlock()
	if early {
		w.fail(errPartAnswered)
		return
	}
	w.conn.Close()
}

// SendFrom sends the next n bytes of the part's body from f, from f's
// offset on (which it advances), with sendfile(2): the bytes go from the
// page cache to the socket without a copy through user space. It fails
// once the PUT has failed, been answered, or would get more than its size.
func (w *PartWriter) SendFrom(f *os.File, n int64) error {
	w.mu.Lock()
	err, left := w.err, w.left
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	if n > left {
		err := fmt.Errorf("%s: %d bytes past the part's end", w.what, n-left)
		w.fail(err)
		return err
	}
	k, err := w.conn.ReadFrom(&io.LimitedReader{R: f, N: n})
	w.mu.Lock()
	w.left -= k
	w.mu.Unlock()
	if err == nil && k < n {
		err = fmt.Errorf("%w: sent %d of %d bytes", errPartFileShort, k, n)
	}
	if err != nil {
		w.fail(err)
		return fmt.Errorf("%s: %w", w.what, err)
	}
	return nil
}

// Abort fails the PUT: S3 gets a body shorter than announced and keeps
// nothing of the part.
func (w *PartWriter) Abort(cause error) { w.fail(cause) }

// Wait returns the part's ETag once S3 has answered, or the PUT's failure.
func (w *PartWriter) Wait() (string, error) {
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return "", fmt.Errorf("%s: %w", w.what, w.err)
	}
	return w.etag, nil
}
