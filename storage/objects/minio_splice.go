package objects

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
)

// Splicer is implemented by objects that can send bytes straight from the
// store's socket into a writer's ReadFrom, which for an HTTP response on a
// TCP connection is splice(2): the bytes never enter user space. ok false
// means nothing was sent and the caller copies as usual.
type Splicer interface {
	SpliceTo(w io.Writer, n int64) (written int64, ok bool, err error)
}

// spliceGetTTL is how long the presigned URL of a spliceable GET works;
// it is used once, at once.
const spliceGetTTL = 15 * time.Minute

// rawGet sends a GET for key, with the Range header rng unless it is
// empty, on a TCP connection of its own, so that the body can later be
// spliced from that socket. It works only with plain HTTP: ok false (and
// no error) asks the caller to use minio-go, as for TLS, a proxy, or a
// response without a Content-Length.
func (m *MinIO) rawGet(ctx context.Context, key, rng string) (body *rawBody, st minio.ObjectInfo, h http.Header, ok bool, err error) {
	if m.core.Client.EndpointURL().Scheme != "http" {
		return nil, st, nil, false, nil
	}
	u, err := m.core.Client.PresignedGetObject(ctx, m.bucket, key, spliceGetTTL, nil)
	if err != nil {
		return nil, st, nil, false, translate(err, "presign "+key)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, st, nil, false, fmt.Errorf("get object %s: %w", key, err)
	}
	conn := c.(*net.TCPConn)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	closeAll := func() { stop(); conn.Close() }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		closeAll()
		return nil, st, nil, false, fmt.Errorf("get object %s: %w", key, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	if err := req.Write(conn); err != nil {
		closeAll()
		return nil, st, nil, false, fmt.Errorf("get object %s: %w", key, err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		closeAll()
		return nil, st, nil, false, fmt.Errorf("get object %s: %w", key, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		closeAll()
		return nil, st, nil, false, fmt.Errorf("get object %s: %w", key, domain.ErrNotFound)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		closeAll()
		return nil, st, nil, false, minio.ErrorResponse{Code: "InvalidRange", StatusCode: resp.StatusCode}
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent,
		resp.ContentLength < 0, len(resp.TransferEncoding) > 0:
		closeAll()
		return nil, st, nil, false, nil
	}
	st.Size = resp.ContentLength
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		st.LastModified = t
	}
	return &rawBody{conn: conn, br: br, left: resp.ContentLength, stop: stop}, st, resp.Header, true, nil
}

// rawBody is the body of a rawGet, read through br (which holds what
// arrived with the headers) and then from conn.
type rawBody struct {
	conn *net.TCPConn
	br   *bufio.Reader
	left int64
	stop func() bool
	// lowat is the socket's SO_RCVLOWAT as last set (0: never set).
	lowat int
}

func (b *rawBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *rawBody) Close() error {
	b.stop()
	return b.conn.Close()
}

// spliceTo sends n bytes of the body to w: those already buffered, then
// the rest from the socket through w's ReadFrom.
func (b *rawBody) spliceTo(w io.Writer, n int64) (int64, error) {
	var written int64
	if k := min(int64(b.br.Buffered()), n); k > 0 {
		p, _ := b.br.Peek(int(k))
		m, err := w.Write(p)
		b.br.Discard(m)
		written, b.left = int64(m), b.left-int64(m)
		if err != nil {
			return written, err
		}
	}
	if written == n {
		return written, nil
	}
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		m, err := io.Copy(w, io.LimitReader(b.conn, n-written))
		written, b.left = written+m, b.left-m
		if err == nil && written < n {
			err = io.ErrUnexpectedEOF
		}
		return written, err
	}
	// All but the last spliceLowat bytes with the low-water mark up, the
	// rest with it back at one byte: a wait with the mark up always has at
	// least spliceLowat bytes still to come, so none stalls on a tail.
	for _, part := range []struct {
		lowat int
		upTo  int64
	}{{spliceLowat, n - spliceLowat}, {1, n}} {
		if written >= part.upTo {
			continue
		}
		if part.lowat > 1 && n-written < 2*spliceLowat {
			continue // too short to be worth two system calls
		}
		if part.lowat > 1 || b.lowat > 1 {
			b.setLowat(part.lowat)
		}
		m, err := rf.ReadFrom(io.LimitReader(b.conn, part.upTo-written))
		written, b.left = written+m, b.left-m
		if err != nil {
			return written, err
		}
		if written < part.upTo {
			return written, io.ErrUnexpectedEOF
		}
	}
	return written, nil
}

// spliceLowat is the receive low-water mark (SO_RCVLOWAT) of the store's
// socket while a long body is spliced: the relay is woken when this much
// has arrived rather than at every segment, so that the store, the relay
// and the client take fewer and longer turns on the CPUs (on 2 cores
// 512 KiB about halved the relay's context switches and 1 MiB cut its CPU
// a little more: docs/BENCHMARKS.md). The kernel raises the socket's
// receive buffer to twice the mark; Go's splice moves up to 1 MiB a call.
const spliceLowat = 1 << 20

// setLowat sets the socket's SO_RCVLOWAT to n bytes; b.lowat records it
// when it took. A mark that could not be raised only costs wake-ups.
func (b *rawBody) setLowat(n int) {
	rc, err := b.conn.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n) == nil {
			b.lowat = n
		}
	})
}

// SpliceTo implements Splicer when the object's body came from rawGet and
// holds the n bytes from the current offset.
func (o *minioObject) SpliceTo(w io.Writer, n int64) (int64, bool, error) {
	rb, ok := o.body.(*rawBody)
	if !ok || o.bodyOff != o.off || o.off+n > o.bodyEnd {
		return 0, false, nil
	}
	written, err := rb.spliceTo(w, n)
	o.off += written
	o.bodyOff = o.off
	return written, true, err
}
