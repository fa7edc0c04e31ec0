package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// partPut is one UploadPart PUT that reached the front of MinIO.
type partPut struct {
	part    int
	started time.Time
	ended   time.Time // zero while it runs
	status  int       // the answer's status; 0 if the PUT broke off
}

// s3Front stands between the store and the real MinIO and logs every
// UploadPart PUT; fail, when set, may answer one itself (a fake S3 front,
// for failures the real server will not give on demand).
type s3Front struct {
	mu   sync.Mutex
	puts []*partPut
	// fail answers the attempt-th PUT (1-based) of part n itself and
	// returns true, or returns false to let MinIO answer.
	fail func(n, attempt int, w http.ResponseWriter, r *http.Request) bool
	// changed is closed and replaced whenever puts changes.
	changed chan struct{}
}

// statusWriter keeps the status the proxy answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection (Hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *s3Front) note(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitFor waits until cond holds on the log, or fails the test after 20 s.
func (s *s3Front) waitFor(t *testing.T, what string, cond func(puts []*partPut) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		ok, ch := cond(s.puts), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited 20 s for %s; PUTs seen: %s", what, s.String())
		}
	}
}

// attempts returns how many PUTs of part n arrived.
func (s *s3Front) attempts(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for _, p := range s.puts {
		if p.part == n {
			k++
		}
	}
	return k
}

func (s *s3Front) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, p := range s.puts {
		b.WriteString("part " + strconv.Itoa(p.part) + " status " + strconv.Itoa(p.status) + "; ")
	}
	return b.String()
}

// newFrontFixture is newFixture on MinIO reached through an s3Front.
func newFrontFixture(t *testing.T, tweak func(*domain.UploadConfig)) (*fixture, *s3Front) {
	t.Helper()
	cfg := testenv.MinIOConfig(t)
	target, err := url.Parse("http://" + cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	front := &s3Front{changed: make(chan struct{})}
	// The Host header is kept: requests are signed for the front's.
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		if r.Method != http.MethodPut || err != nil {
			proxy.ServeHTTP(w, r)
			return
		}
		p := &partPut{part: n, started: time.Now()}
		var attempt int
		front.note(func() {
			front.puts = append(front.puts, p)
			for _, q := range front.puts {
				if q.part == n {
					attempt++
				}
			}
		})
		sw := &statusWriter{ResponseWriter: w}
		if front.fail == nil || !front.fail(n, attempt, sw, r) {
			proxy.ServeHTTP(sw, r)
		}
		front.note(func() { p.ended, p.status = time.Now(), sw.status })
	}))
	t.Cleanup(srv.Close)
	cfg.Endpoint = strings.TrimPrefix(srv.URL, "http://")

	f := newFixture(t, "disk", tweak) // the database, user and case
	if f.minio, err = objects.NewMinIO(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f.objects = f.minio
	c := domain.UploadConfig{SpoolDir: f.spool, PartSize: partSize, PartConcurrency: 2}
	if tweak != nil {
		tweak(&c)
	}
	if f.ups, err = storage.NewUploads(f.db, f.objects, c); err != nil {
		t.Fatal(err)
	}
	return f, front
}

// sized is a PATCH body of declared length, as the server passes it.
func sized(b []byte) domain.SizedBody {
	return domain.SizedBody{Reader: bytes.NewReader(b), Size: int64(len(b))}
}

// mustExact checks that the evidence and its object are data, byte for byte.
func (f *fixture) mustExact(t *testing.T, ev *domain.Evidence, data []byte) {
	t.Helper()
	if ev == nil {
		t.Fatal("no evidence item")
	}
	if ev.SHA256 != sha(data) || ev.Size != int64(len(data)) {
		t.Fatalf("evidence: got sha256 %s size %d, want %s %d", ev.SHA256, ev.Size, sha(data), len(data))
	}
	if got := f.mustContent(t, ev); !bytes.Equal(got, data) {
		t.Fatalf("stored object differs from the upload (%d bytes vs %d)", len(got), len(data))
	}
}

// TestUploadStreamsParts: one PATCH of declared length stores uploads of
// 1, 2 and 3.5 parts byte for byte, each part in one PUT.
func TestUploadStreamsParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"1 part", partSize}, {"2 parts", 2 * partSize}, {"3.5 parts", 3*partSize + partSize/2}} {
		t.Run(tc.name, func(t *testing.T) {
			f, front := newFrontFixture(t, nil)
			data := mp4Bytes(tc.size, uint64(tc.size))
			up := f.create(t, "site.mp4", int64(len(data)))
			_, ev, err := f.ups.Append(context.Background(), up.ID, 0, sized(data), nil)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			f.mustExact(t, ev, data)
			parts := (tc.size + partSize - 1) / partSize
			for n := 1; n <= parts; n++ {
				if got := front.attempts(n); got != 1 {
					t.Errorf("PUTs of part %d: got %d, want 1 (%s)", n, got, front)
				}
			}
		})
	}
}

// gatedReader yields r's bytes up to at, then waits for open before the
// rest.
type gatedReader struct {
	r    io.Reader
	at   int
	open chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.at == 0 {
		<-g.open
		g.at = -1
	}
	if g.at > 0 && len(p) > g.at {
		p = p[:g.at]
	}
	k, err := g.r.Read(p)
	if g.at > 0 {
		g.at -= k
	}
	return k, err
}

// TestUploadStreamStartsWithThePart: a part's PUT starts while its bytes
// are still arriving (here, the body holds back the second half of part
// 2), not once the part is full; a body of unknown length does not stream.
func TestUploadStreamStartsWithThePart(t *testing.T) {
	f, front := newFrontFixture(t, nil)
	data := mp4Bytes(3*partSize, 7)
	up := f.create(t, "site.mp4", int64(len(data)))
	g := &gatedReader{r: bytes.NewReader(data), at: partSize + partSize/2, open: make(chan struct{})}
	type result struct {
		ev  *domain.Evidence
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, ev, err := f.ups.Append(context.Background(), up.ID, 0, domain.SizedBody{Reader: g, Size: int64(len(data))}, nil)
		done <- result{ev, err}
	}()
	front.waitFor(t, "a PUT of part 2 while half of it has arrived", func(puts []*partPut) bool {
		for _, p := range puts {
			if p.part == 2 {
				return true
			}
		}
		return false
	})
	close(g.open)
	r := <-done
	if r.err != nil {
		t.Fatalf("append: %v", r.err)
	}
	f.mustExact(t, r.ev, data)

	// The same held back with no declared length: no PUT of part 2 until
	// it is full.
	up2 := f.create(t, "site2.mp4", int64(len(data)))
	g2 := &gatedReader{r: bytes.NewReader(data), at: partSize + partSize/2, open: make(chan struct{})}
	go func() {
		_, ev, err := f.ups.Append(context.Background(), up2.ID, 0, g2, nil)
		done <- result{ev, err}
	}()
	front.waitFor(t, "part 1 of the second upload stored", func(puts []*partPut) bool {
		k := 0
		for _, p := range puts {
			if p.part == 1 && p.status == http.StatusOK {
				k++
			}
		}
		return k == 2
	})
	time.Sleep(300 * time.Millisecond) // a PUT of part 2 would show within this
	if got := front.attempts(2); got != 1 {
		t.Errorf("PUTs of part 2 with the unsized body held mid-part: got %d, want only the first upload's 1", got)
	}
	close(g2.open)
	r = <-done
	if r.err != nil {
		t.Fatalf("append of the unsized body: %v", r.err)
	}
	f.mustExact(t, r.ev, data)
}

// TestUploadStreamBreaksOff: a body that breaks off mid-part keeps what it
// sent (the part's streamed PUT is aborted and S3 keeps none of it); the
// upload resumes at the offset HEAD reports and the object is exact.
func TestUploadStreamBreaksOff(t *testing.T) {
	f, front := newFrontFixture(t, nil)
	ctx := context.Background()
	data := mp4Bytes(3*partSize+partSize/2, 8)
	up := f.create(t, "site.mp4", int64(len(data)))
	brk := partSize + partSize/3
	body := domain.SizedBody{Reader: &brokenReader{r: bytes.NewReader(data), n: brk}, Size: int64(len(data))}
	if _, ev, err := f.ups.Append(ctx, up.ID, 0, body, nil); err == nil || ev != nil {
		t.Fatalf("append broken at %d: got err %v, evidence %v; want the read error", brk, err, ev)
	}
	got, err := f.ups.Upload(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != int64(brk) {
		t.Fatalf("offset after a break at %d: got %d, want %d (received bytes are kept)", brk, got.Offset, brk)
	}
	front.mu.Lock()
	var aborted bool
	for _, p := range front.puts {
		aborted = aborted || (p.part == 2 && p.status != http.StatusOK)
	}
	front.mu.Unlock()
	if !aborted {
		t.Errorf("part 2's streamed PUT: not seen aborted (%s)", front)
	}
	_, ev, err := f.ups.Append(ctx, up.ID, got.Offset, sized(data[got.Offset:]), nil)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	f.mustExact(t, ev, data)
}

// s3Error answers as S3 does when it refuses a request.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>provoked</Message></Error>`)
}

// TestUploadStreamedPartFails: S3 failing a streamed part, before reading
// its body or after all of it, costs one more PUT of that part, from the
// spool, and the object is exact.
func TestUploadStreamedPartFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(w http.ResponseWriter, r *http.Request)
	}{
		{"503 at once", func(w http.ResponseWriter, r *http.Request) {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		}},
		{"503 after the body", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		}},
		{"dropped after the body", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, front := newFrontFixture(t, nil)
			front.fail = func(n, attempt int, w http.ResponseWriter, r *http.Request) bool {
				if n == 2 && attempt == 1 {
					tc.fail(w, r)
					return true
				}
				return false
			}
			data := mp4Bytes(3*partSize+partSize/2, 9)
			up := f.create(t, "site.mp4", int64(len(data)))
			_, ev, err := f.ups.Append(context.Background(), up.ID, 0, sized(data), nil)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			f.mustExact(t, ev, data)
			for n, want := range map[int]int{1: 1, 2: 2, 3: 1, 4: 1} {
				if got := front.attempts(n); got != want {
					t.Errorf("PUTs of part %d: got %d, want %d (%s)", n, got, want, front)
				}
			}
		})
	}
}

// TestUploadStreamStall: a client that stalls mid-part longer than the
// part timeout fails that part's streamed PUT while it stalls, not when
// it resumes or the request ends; the part then goes from the spool and
// the object is exact.
func TestUploadStreamStall(t *testing.T) {
	const timeout = time.Second
	f, front := newFrontFixture(t, func(c *domain.UploadConfig) { c.PartTimeout = timeout })
	data := mp4Bytes(2*partSize, 10)
	up := f.create(t, "site.mp4", int64(len(data)))
	g := &gatedReader{r: bytes.NewReader(data), at: partSize / 2, open: make(chan struct{})}
	type result struct {
		ev  *domain.Evidence
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, ev, err := f.ups.Append(context.Background(), up.ID, 0, domain.SizedBody{Reader: g, Size: int64(len(data))}, nil)
		done <- result{ev, err}
	}()
	front.waitFor(t, "part 1's PUT to end while the body stalls", func(puts []*partPut) bool {
		return len(puts) > 0 && puts[0].part == 1 && !puts[0].ended.IsZero()
	})
	front.mu.Lock()
	p := *front.puts[0]
	front.mu.Unlock()
	if took := p.ended.Sub(p.started); took > 10*timeout {
		t.Errorf("stalled PUT ended after %v, want about the part timeout %v", took, timeout)
	}
	if p.status == http.StatusOK {
		t.Fatalf("stalled PUT: status 200, want it broken off")
	}
	close(g.open)
	r := <-done
	if r.err != nil {
		t.Fatalf("append: %v", r.err)
	}
	f.mustExact(t, r.ev, data)
	if got := front.attempts(1); got != 2 {
		t.Errorf("PUTs of part 1: got %d, want 2 (the stalled stream, then from the spool)", got)
	}
	if errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatal("the part timeout leaked into the request's answer")
	}
}
