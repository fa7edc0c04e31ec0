package objects

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
)

// partPresignExpiry is how long a presigned UploadPart URL is valid. A URL
// is made for each attempt and S3 checks it when the request starts, so it
// only has to outlive the wait for a connection.
const partPresignExpiry = 15 * time.Minute

// errPartFileShort says the file a part is sent from holds fewer bytes than
// the part's size: retrying cannot help.
var errPartFileShort = errors.New("part file shorter than the part")

// putPartFile sends part n of size bytes from f, starting at f's offset, as
// the body of a plain PUT to a presigned UploadPart URL. net/http then
// writes the body with sendfile(2) from the page cache to the socket,
// where minio-go copies every byte through user space: its request body is
// an io.NopCloser, which the transport's body tracking hides from
// TCPConn.ReadFrom. partBody keeps the file visible (net's sendfile takes
// any syscall.Conn) without letting the transport close it.
//
// It retries as minio-go's PutObjectPart does (same attempts, backoff and
// retryable statuses, S3 codes and network errors), from the same offset.
func (m *MinIO) putPartFile(ctx context.Context, key, uploadID string, n int, f *os.File, size int64) (string, error) {
	what := fmt.Sprintf("put part %d of %s", n, key)
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := checkPartFile(f, start, size); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	var lastErr error
	for attempt := range minio.MaxRetry {
		if attempt > 0 {
			if err := sleepCtx(ctx, retryWait(attempt-1)); err != nil {
				break
			}
		}
		etag, err, retry := m.putPartOnce(ctx, key, uploadID, n, f, start, size)
		if err == nil {
			return etag, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
		if serr := checkPartFile(f, start, size); serr != nil {
			// The file shrank under us: a retry would send the same short body.
			lastErr = serr
			break
		}
	}
	if err := ctx.Err(); err != nil {
		// As minio-go: a cancelled or timed-out context is the answer.
		return "", fmt.Errorf("%s: %w (last attempt: %v)", what, err, lastErr)
	}
	var me minio.ErrorResponse
	if errors.As(lastErr, &me) {
		return "", translate(me, fmt.Sprintf("%s (HTTP %d %s)", what, me.StatusCode, me.Code))
	}
	return "", fmt.Errorf("%s: %w", what, lastErr)
}

// putPartOnce makes one attempt: presign, PUT, read the ETag. retry says
// whether minio-go would try again after this error.
func (m *MinIO) putPartOnce(ctx context.Context, key, uploadID string, n int, f *os.File, start, size int64) (etag string, err error, retry bool) {
	presign := m.presignPart
	if m.presignHook != nil {
		presign = m.presignHook
	}
	u, err := presign(ctx, key, uploadID, n)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err), false
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return "", err, false
	}
	body := &partBody{f: f, closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), body)
	if err != nil {
		return "", err, false
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
		body.Close()
	}
	resp, err := m.partClient.Do(req)
	if err == nil {
		etag, err, retry = readPartResponse(resp)
	} else {
		retry = ctx.Err() == nil
	}
	// The transport may still be sending the body after an early answer;
	// the next attempt seeks the same file, so wait until it lets go.
	select {
	case <-body.closed:
	case <-ctx.Done():
		return "", errors.Join(err, ctx.Err()), false
	}
	return etag, err, retry
}

// readPartResponse reads an UploadPart answer: the ETag of a 200, or the
// S3 error in the XML body as a minio.ErrorResponse carrying the status.
func readPartResponse(resp *http.Response) (etag string, err error, retry bool) {
	defer resp.Body.Close()
	// An error document is small; a bigger body is not one we understand.
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		etag = strings.Trim(resp.Header.Get("ETag"), `"`)
		if etag == "" {
			return "", errors.New("answer 200 without an ETag"), false
		}
		return etag, nil, false
	}
	me := minio.ErrorResponse{StatusCode: resp.StatusCode}
	if rerr != nil || len(b) == 0 || xml.Unmarshal(b, &me) != nil {
		me = minio.ErrorResponse{StatusCode: resp.StatusCode, Code: strconv.Itoa(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
	}
	me.StatusCode = resp.StatusCode
	me.Server = resp.Header.Get("Server")
	return "", me, retryableCodes[me.Code] || retryableStatus[resp.StatusCode]
}

// presignPart returns a URL that lets one PUT store part n.
func (m *MinIO) presignPart(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
	return m.core.Client.Presign(ctx, http.MethodPut, m.bucket, key, partPresignExpiry,
		url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {uploadID}})
}

// checkPartFile says whether f holds size bytes from start on.
func checkPartFile(f *os.File, start, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if have := st.Size() - start; have < size {
		return fmt.Errorf("%w: %d bytes from offset %d, want %d: %w", errPartFileShort, max(have, 0), start, size, domain.ErrInvalid)
	}
	return nil
}

// sendsFile says whether PutPart can send r with sendfile: a regular file,
// on a plain-http connection (over TLS every byte is encrypted in user
// space anyway, so minio-go's path costs the same).
func (m *MinIO) sendsFile(r io.Reader) (*os.File, bool) {
	f, ok := r.(*os.File)
	if !ok || m.partClient == nil {
		return nil, false
	}
	st, err := f.Stat()
	return f, err == nil && st.Mode().IsRegular()
}

// partBody is a part's request body. It exposes the file's SyscallConn,
// which is what net.TCPConn.ReadFrom needs to use sendfile, and keeps the
// file open when the transport closes the body: closed only tells the
// attempt that the transport is done with it.
type partBody struct {
	f      *os.File
	once   sync.Once
	closed chan struct{}
}

func (b *partBody) Read(p []byte) (int, error) { return b.f.Read(p) }

// SyscallConn lets net's sendfile reach the file descriptor.
func (b *partBody) SyscallConn() (syscall.RawConn, error) { return b.f.SyscallConn() }

func (b *partBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// The S3 codes and HTTP statuses minio-go v7 retries (its retry.go), so
// that a part sent from a file is retried as one sent through minio-go.
var (
	retryableCodes = map[string]bool{
		"RequestError": true, "RequestTimeout": true, "Throttling": true, "ThrottlingException": true,
		"RequestLimitExceeded": true, "RequestThrottled": true, "InternalError": true,
		"ExpiredToken": true, "ExpiredTokenException": true, "SlowDown": true, "SlowDownWrite": true, "SlowDownRead": true,
	}
	retryableStatus = map[int]bool{
		http.StatusRequestTimeout: true, http.StatusTooManyRequests: true, 499: true,
		http.StatusInternalServerError: true, http.StatusBadGateway: true,
		http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true, 520: true,
	}
)

// retryWait is minio-go's backoff: a random time up to min(1 s, 200 ms × 2^i).
func retryWait(i int) time.Duration {
	d := min(minio.DefaultRetryUnit*time.Duration(1<<min(i, 16)), minio.DefaultRetryCap)
	return d - time.Duration(rand.Float64()*float64(d)*minio.MaxJitter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
