package objects_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage/objects"
)

// partFile writes b to a temp file and returns it open for reading.
func partFile(t *testing.T, b []byte) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// countPresigns makes m's part URLs as it would, counting them.
func countPresigns(m *objects.MinIO) *atomic.Int32 {
	var n atomic.Int32
	objects.SetPartPresigner(m, func(ctx context.Context, key, uploadID string, part int) (*url.URL, error) {
		n.Add(1)
		return objects.PresignPart(ctx, m, key, uploadID, part)
	})
	return &n
}

// storedParts lists the parts S3 holds for the multipart upload.
func storedParts(t *testing.T, m *objects.MinIO, key, uploadID string) []minio.ObjectPart {
	t.Helper()
	res, err := minio.Core{Client: m.Client()}.ListObjectParts(context.Background(), m.Bucket(), key, uploadID, 0, 100)
	if err != nil {
		t.Fatalf("list parts of %s: %v", key, err)
	}
	return res.ObjectParts
}

func md5Hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// TestPutPartFromFile: parts read from files go out through the presigned
// PUT (sendfile), from the file's offset, and the completed object is the
// bytes sent, byte for byte; a part from any other reader still goes
// through minio-go.
func TestPutPartFromFile(t *testing.T) {
	m := testenv.NewMinIO(t)
	presigns := countPresigns(m)
	ctx := context.Background()
	const key = "parts/from-file"
	id, err := m.CreateMultipart(ctx, key, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	p1 := randomBytes(t, objects.MinPartSize+12345)
	p2 := randomBytes(t, objects.MinPartSize+7)
	p3 := randomBytes(t, 777)

	f1, _ := partFile(t, p1)
	// Part 2 starts 100 bytes into its file, after bytes that must not be sent.
	f2, _ := partFile(t, append(bytes.Repeat([]byte("x"), 100), p2...))
	if _, err := f2.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var parts []objects.Part
	for i, put := range []struct {
		r    io.Reader
		size int64
		want []byte
	}{{f1, int64(len(p1)), p1}, {f2, int64(len(p2)), p2}, {bytes.NewReader(p3), int64(len(p3)), p3}} {
		n := i + 1
		etag, err := m.PutPart(ctx, key, id, n, put.r, put.size)
		if err != nil {
			t.Fatalf("put part %d: %v", n, err)
		}
		if want := md5Hex(put.want); etag != want {
			t.Errorf("part %d: ETag %q, want %q (the MD5 of its bytes)", n, etag, want)
		}
		parts = append(parts, objects.Part{Number: n, ETag: etag, Size: put.size})
	}
	if got := presigns.Load(); got != 2 {
		t.Errorf("presigned URLs: got %d, want 2 (the two parts from files; the bytes.Reader goes through minio-go)", got)
	}
	if err := m.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	whole := append(append(append([]byte{}, p1...), p2...), p3...)
	got := read(t, m, key)
	gotSum, wantSum := sha256.Sum256([]byte(got)), sha256.Sum256(whole)
	if len(got) != len(whole) || gotSum != wantSum {
		t.Fatalf("object: %d bytes sha256 %x, want %d bytes sha256 %x", len(got), gotSum, len(whole), wantSum)
	}
}

// TestPutPartFileShort: a file with fewer bytes than the part's size is an
// error, whether it is short before the PUT or becomes short while the
// PUT is being prepared, and S3 keeps no part.
func TestPutPartFileShort(t *testing.T) {
	m := testenv.NewMinIO(t)
	ctx := context.Background()
	const key = "parts/short"
	id, err := m.CreateMultipart(ctx, key, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 2<<20)

	presigns := countPresigns(m)
	f, _ := partFile(t, data[:len(data)-1000])
	etag, err := m.PutPart(ctx, key, id, 1, f, int64(len(data)))
	if err == nil || !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("short file: ETag %q, err %v; want an ErrInvalid error", etag, err)
	}
	if got := presigns.Load(); got != 0 {
		t.Errorf("short file: %d PUTs, want 0", got)
	}

	// The file shrinks after the check, before its PUT: the body the
	// transport sends is short, and a retry would be as short.
	f2, path := partFile(t, data)
	var puts atomic.Int32
	objects.SetPartPresigner(m, func(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
		puts.Add(1)
		if err := os.Truncate(path, int64(len(data))/2); err != nil {
			return nil, err
		}
		return objects.PresignPart(ctx, m, key, uploadID, n)
	})
	etag, err = m.PutPart(ctx, key, id, 1, f2, int64(len(data)))
	if err == nil || !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("file cut during the PUT: ETag %q, err %v; want an ErrInvalid error", etag, err)
	}
	if got := puts.Load(); got != 1 {
		t.Errorf("file cut during the PUT: %d attempts, want 1", got)
	}
	if got := storedParts(t, m, key, id); len(got) != 0 {
		t.Fatalf("parts stored: %d (first %d bytes), want none", len(got), got[0].Size)
	}
	if err := m.CompleteMultipart(ctx, key, id, []objects.Part{{Number: 1, ETag: md5Hex(data), Size: int64(len(data))}}); err == nil {
		t.Fatal("complete without a stored part: no error, want one")
	}
	if _, err := m.Stat(ctx, key); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("stat %s: %v, want ErrNotFound", key, err)
	}
}

// TestPutPartPresignRefused: S3 refusing the presigned URL (expired, or a
// bad signature) is an error carrying its status and code, not retried,
// and no part is stored.
func TestPutPartPresignRefused(t *testing.T) {
	m := testenv.NewMinIO(t)
	ctx := context.Background()
	data := randomBytes(t, 256<<10)
	for _, tc := range []struct {
		name, wantCode string
		presign        func(ctx context.Context, key, uploadID string, n int) (*url.URL, error)
	}{
		{"expired", "AccessDenied", func(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
			u, err := m.Client().Presign(ctx, http.MethodPut, m.Bucket(), key, time.Second,
				url.Values{"partNumber": {"1"}, "uploadId": {uploadID}})
			time.Sleep(2100 * time.Millisecond) // until the URL has expired
			return u, err
		}},
		{"bad signature", "SignatureDoesNotMatch", func(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
			u, err := objects.PresignPart(ctx, m, key, uploadID, n)
			if err != nil {
				return nil, err
			}
			q := u.Query()
			sig := []byte(q.Get("X-Amz-Signature"))
			// Still hex, another value: the first character was '0' or
			// '1' in one run of eight when this kept bit 0 of it.
			if sig[0] == '0' {
				sig[0] = '1'
			} else {
				sig[0] = '0'
			}
			q.Set("X-Amz-Signature", string(sig))
			u.RawQuery = q.Encode()
			return u, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "parts/refused-" + strings.ReplaceAll(tc.name, " ", "-")
			id, err := m.CreateMultipart(ctx, key, "application/octet-stream")
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			objects.SetPartPresigner(m, func(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
				calls.Add(1)
				return tc.presign(ctx, key, uploadID, n)
			})
			f, _ := partFile(t, data)
			etag, err := m.PutPart(ctx, key, id, 1, f, int64(len(data)))
			var me minio.ErrorResponse
			if err == nil || !errors.As(err, &me) {
				t.Fatalf("got ETag %q, err %v; want an S3 error", etag, err)
			}
			if me.StatusCode != http.StatusForbidden || me.Code != tc.wantCode {
				t.Errorf("got HTTP %d %s, want 403 %s", me.StatusCode, me.Code, tc.wantCode)
			}
			if !strings.Contains(err.Error(), "HTTP 403 "+tc.wantCode) {
				t.Errorf("error %q does not name the status", err)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("attempts: got %d, want 1 (a refusal is not retried)", got)
			}
			if got := storedParts(t, m, key, id); len(got) != 0 {
				t.Errorf("parts stored: %d, want none", len(got))
			}
		})
	}
}

// TestPutPartRetries: a part from a file is retried as minio-go retries
// (503 SlowDown and a dropped connection are tried again, from the same
// offset), and not retried after a 400; a fake front of the real MinIO
// gives the failures.
func TestPutPartRetries(t *testing.T) {
	m := testenv.NewMinIO(t)
	ctx := context.Background()
	target, err := url.Parse(m.Client().EndpointURL().String())
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	var fail func(n int32, w http.ResponseWriter) bool
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(requests.Add(1), w) {
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	objects.SetPartPresigner(m, func(ctx context.Context, key, uploadID string, n int) (*url.URL, error) {
		u, err := objects.PresignPart(ctx, m, key, uploadID, n)
		if err == nil {
			u.Host = strings.TrimPrefix(front.URL, "http://") // the proxy sends the signed Host on
		}
		return u, err
	})
	s3Error := func(w http.ResponseWriter, status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>provoked</Message></Error>`)
	}
	data := randomBytes(t, 3<<20)
	for _, tc := range []struct {
		name         string
		fail         func(n int32, w http.ResponseWriter) bool
		wantRequests int32
		wantStatus   int // 0: the part is stored
	}{
		{"503 then stored", func(n int32, w http.ResponseWriter) bool {
			if n == 1 {
				s3Error(w, http.StatusServiceUnavailable, "SlowDown")
			}
			return n == 1
		}, 2, 0},
		{"dropped connection then stored", func(n int32, w http.ResponseWriter) bool {
			if n == 1 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			}
			return n == 1
		}, 2, 0},
		{"400 not retried", func(n int32, w http.ResponseWriter) bool {
			s3Error(w, http.StatusBadRequest, "InvalidArgument")
			return true
		}, 1, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "parts/retry-" + strings.ReplaceAll(tc.name, " ", "-")
			id, err := m.CreateMultipart(ctx, key, "application/octet-stream")
			if err != nil {
				t.Fatal(err)
			}
			requests.Store(0)
			fail = tc.fail
			f, _ := partFile(t, data)
			etag, err := m.PutPart(ctx, key, id, 1, f, int64(len(data)))
			if got := requests.Load(); got != tc.wantRequests {
				t.Errorf("requests: got %d, want %d", got, tc.wantRequests)
			}
			if tc.wantStatus != 0 {
				var me minio.ErrorResponse
				if !errors.As(err, &me) || me.StatusCode != tc.wantStatus {
					t.Fatalf("got ETag %q, err %v; want an S3 error with HTTP %d", etag, err, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("put part: %v", err)
			}
			if want := md5Hex(data); etag != want {
				t.Fatalf("ETag %q, want %q", etag, want)
			}
			if err := m.CompleteMultipart(ctx, key, id, []objects.Part{{Number: 1, ETag: etag, Size: int64(len(data))}}); err != nil {
				t.Fatal(err)
			}
			if got := read(t, m, key); got != string(data) {
				t.Fatalf("object: %d bytes, want the %d bytes sent", len(got), len(data))
			}
		})
	}
}
