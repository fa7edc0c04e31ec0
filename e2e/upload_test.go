package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"siteinspect/domain"
	"siteinspect/internal/harness"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const mib = 1 << 20

// The server's metrics the tests poll to know where a request stands
// instead of sleeping: bytes the PATCH handlers have read, and PATCH
// requests not yet finished (their upload lease released).
const (
	metricUploadBytes = "siteinspect_upload_bytes_total"
	metricInFlight    = "siteinspect_uploads_in_flight"
)

// mustNoisyMP4 makes an H.264 MP4 of noise, which hardly compresses: at
// 640x360 and -crf 10 about 7.5 MiB a second, in a second of CPU or two.
// It returns the file's path and bytes.
func mustNoisyMP4(tb testing.TB, dir, seconds string) (string, []byte) {
	tb.Helper()
	b, err := noisyMP4(dir, seconds)
	if err != nil {
		tb.Fatal(err)
	}
	return noisyPath(dir, seconds), b
}

func noisyPath(dir, seconds string) string { return filepath.Join(dir, "noise-"+seconds+"s.mp4") }

func noisyMP4(dir, seconds string) ([]byte, error) {
	p := noisyPath(dir, seconds)
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-vf", "noise=alls=80:allf=t", "-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
		"-pix_fmt", "yuv420p", p).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}
	return os.ReadFile(p)
}

var (
	bigOnce sync.Once
	bigData []byte
	bigErr  error
)

// mustBigMP4 returns a ~37 MiB MP4 (over seven 5 MiB parts), made once per
// test run and shared read-only by the tests.
func mustBigMP4(tb testing.TB) []byte {
	tb.Helper()
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "siteinspect-big-")
		if err != nil {
			bigErr = err
			return
		}
		defer os.RemoveAll(dir)
		bigData, bigErr = noisyMP4(dir, "5")
	})
	if bigErr != nil {
		tb.Fatal(bigErr)
	}
	if len(bigData) < 30*mib {
		tb.Fatalf("test video: got %d bytes, want at least 30 MiB", len(bigData))
	}
	return bigData
}

// mustMetric reads an unlabelled series from the server's /metrics.
func mustMetric(tb testing.TB, base, name string) float64 {
	tb.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("metric %s: got %q, want a number", name, v)
			}
			return f
		}
	}
	tb.Fatalf("GET /metrics: got no %s series (status %d)", name, resp.StatusCode)
	return 0
}

// waitRead waits until the server's PATCH handlers have read n body bytes
// in all.
func waitRead(tb testing.TB, base string, n int64) {
	tb.Helper()
	harness.WaitFor(tb, 20*time.Second, fmt.Sprintf("the server to read %d upload bytes", n), func() bool {
		return mustMetric(tb, base, metricUploadBytes) >= float64(n)
	})
}

// waitIdle waits until no PATCH is being handled, so every upload's
// offset is committed and its lease released.
func waitIdle(tb testing.TB, base string) {
	tb.Helper()
	harness.WaitFor(tb, 20*time.Second, "the server to finish every PATCH", func() bool {
		return mustMetric(tb, base, metricInFlight) == 0
	})
}

// streamPatch is a tus PATCH whose body the test writes as it goes.
type streamPatch struct {
	w      *io.PipeWriter
	result chan patchResult
}

type patchResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// startPatch sends the headers of a PATCH of length bytes at offset and
// returns at once; the body is what the test writes to it.
func startPatch(tb testing.TB, c *harness.Client, loc string, offset, length int64) *streamPatch {
	tb.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, "PATCH", c.Base+loc, pr)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	// The transport waits for its body to end even when the connection
	// has failed: at the deadline, end it.
	context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	sp := &streamPatch{w: pw, result: make(chan patchResult, 1)}
	tr := &http.Transport{}
	go func() {
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			sp.result <- patchResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		sp.result <- patchResult{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	}()
	tb.Cleanup(func() { cancel(); pw.Close() })
	return sp
}

func (sp *streamPatch) mustWrite(tb testing.TB, b []byte) {
	tb.Helper()
	if _, err := sp.w.Write(b); err != nil {
		tb.Fatalf("write PATCH body: %v", err)
	}
}

// wait returns the PATCH's outcome; the request's context bounds it.
func (sp *streamPatch) wait() patchResult { return <-sp.result }

// mustFinish sends data[from:] in one PATCH, checks that it completes the
// upload, and returns the evidence id.
func mustFinish(tb testing.TB, c *harness.Client, loc string, from int64, data []byte) string {
	tb.Helper()
	resp := c.Patch(loc, from, bytes.NewReader(data[from:]), int64(len(data))-from)
	eid := resp.Header.Get("Evidence-Id")
	if resp.StatusCode != http.StatusNoContent || eid == "" || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		tb.Fatalf("PATCH %s at %d: got %d, Upload-Offset %q, Evidence-Id %q; want 204, %d and an id",
			loc, from, resp.StatusCode, resp.Header.Get("Upload-Offset"), eid, len(data))
	}
	return eid
}

// mustEvidence checks that evidence eid of case caseID is data: its record
// (size, sha256), the bytes GET …/content returns, and that the upload at
// loc names it.
func mustEvidence(tb testing.TB, c *harness.Client, caseID, loc, eid string, data []byte) {
	tb.Helper()
	var up struct {
		EvidenceID *string `json:"evidence_id"`
	}
	c.MustJSON("GET", loc, nil, http.StatusOK, &up)
	if up.EvidenceID == nil || *up.EvidenceID != eid {
		tb.Errorf("GET %s: got evidence_id %v, want %q", loc, up.EvidenceID, eid)
	}
	var ev domain.Evidence
	c.MustJSON("GET", "/api/v1/evidence/"+eid, nil, http.StatusOK, &ev)
	sum := sha256.Sum256(data)
	if ev.SHA256 != hex.EncodeToString(sum[:]) || ev.Size != int64(len(data)) || ev.CaseID != caseID || ev.Kind != domain.KindVideo {
		tb.Errorf("evidence: got sha256 %s size %d case %s kind %s, want %x %d %s video", ev.SHA256, ev.Size, ev.CaseID, ev.Kind, sum, len(data), caseID)
	}
	resp := c.Do("GET", "/api/v1/evidence/"+eid+"/content", nil, nil)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(body, data) {
		got := sha256.Sum256(body)
		tb.Errorf("content: got %d with %d bytes (sha256 %x, read error %v), want 200 with the %d bytes uploaded (%x)",
			resp.StatusCode, len(body), got, err, len(data), sum)
	}
}

// TestUploadResumesAfterKill crashes the server (SIGKILL) while a PATCH is
// streaming, restarts it on the same data folder and bucket, and finishes
// the upload from the offset it reports. A crash loses what was not in the
// object store yet (the offset counts only stored parts and tails, so that
// another replica could continue), never more, and never corrupts the hash.
func TestUploadResumesAfterKill(t *testing.T) {
	data := mustBigMP4(t)
	dir := t.TempDir()
	args := append(harness.S3Args(t), "--part-size-mib", "5", "--data", dir)
	for _, tc := range []struct {
		name string
		kill int64 // the server has read this many bytes when it dies
	}{
		{"just after a part boundary", 5*mib + 1},
		{"mid-part", 17 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := harness.StartServer(t, args...)
			app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
			cs := app.NewCase()
			loc := app.CreateUpload(cs.ID, "site-walk.mp4", int64(len(data)))
			spool := filepath.Join(dir, "spool", strings.TrimPrefix(loc, "/api/v1/uploads/"))

			sp := startPatch(t, app, loc, 0, int64(len(data)))
			sp.mustWrite(t, data[:tc.kill])
			waitRead(t, p.URL, tc.kill)
			// The parts read are stored in the background; HEAD counts them
			// once they are.
			lastBoundary := (tc.kill - 1) / (5 * mib) * (5 * mib)
			var before int64
			for deadline := time.Now().Add(10 * time.Second); before < lastBoundary && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				before = app.Offset(loc)
			}
			if before != lastBoundary {
				t.Fatalf("offset while the PATCH streams: got %d, want %d (the full parts read, once stored)", before, lastBoundary)
			}
			p.Kill()
			sp.w.CloseWithError(errors.New("the server died"))
			if r := sp.wait(); r.err == nil {
				t.Fatalf("PATCH to a killed server: got %d %s, want a broken connection", r.status, r.body)
			}
			if _, err := os.Stat(spool); err != nil {
				t.Fatalf("spool of the interrupted upload: got %v, want the folder %s", err, spool)
			}
			// As if the client's next request went to another replica:
			// nothing it needs may be on this one's disk.
			if err := os.RemoveAll(spool); err != nil {
				t.Fatal(err)
			}

			p = harness.StartServer(t, args...)
			app = harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
			off := app.Offset(loc)
			// The bytes after the last stored part were in no shared store.
			if off != lastBoundary {
				t.Fatalf("offset after restart: got %d, want %d (the server had read %d)", off, lastBoundary, tc.kill)
			}
			t.Logf("killed after %d bytes; resuming at %d", tc.kill, off)
			eid := mustFinish(t, app, loc, off, data)
			mustEvidence(t, app, cs.ID, loc, eid, data)
			if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("spool after completion: got %v, want %s gone", err, spool)
			}
		})
	}
}

// TestUploadInterruptedAtSeveralOffsets drops the connection at several
// offsets around part boundaries; each time the server must keep exactly
// the bytes it received, and the upload resumes from there. Its spool is
// deleted after each break, as if the next PATCH went to another replica:
// the bytes past the last part come back from the object store.
func TestUploadInterruptedAtSeveralOffsets(t *testing.T) {
	data := mustBigMP4(t)
	dir := t.TempDir()
	p := harness.StartServer(t, append(harness.S3Args(t), "--part-size-mib", "5", "--data", dir)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	loc := app.CreateUpload(cs.ID, "site-walk.mp4", int64(len(data)))
	spool := filepath.Join(dir, "spool", strings.TrimPrefix(loc, "/api/v1/uploads/"))
	var off, read int64
	for _, cut := range []int64{1, 4096, 5*mib - 1, 5 * mib, 5*mib + 1, 12*mib + 3*mib/10} {
		// Like a real client, announce the whole rest and stop early.
		sp := startPatch(t, app, loc, off, int64(len(data))-off)
		sp.mustWrite(t, data[off:cut])
		read += cut - off
		waitRead(t, p.URL, read)
		sp.w.CloseWithError(errors.New("client gave up"))
		if r := sp.wait(); r.err == nil {
			t.Fatalf("PATCH cut at %d: got %d %s, want a broken connection", cut, r.status, r.body)
		}
		waitIdle(t, p.URL)
		if off = app.Offset(loc); off != cut {
			t.Fatalf("offset after the connection dropped at %d: got %d, want %d", cut, off, cut)
		}
		if err := os.RemoveAll(spool); err != nil {
			t.Fatal(err)
		}
	}
	eid := mustFinish(t, app, loc, off, data)
	mustEvidence(t, app, cs.ID, loc, eid, data)
}

// TestConcurrentPatchConflict sends a second PATCH while a first one is
// streaming: it is refused rather than interleaved, with 423 Locked and a
// Retry-After (as tusd answers a locked upload; tus-js-client retries it).
func TestConcurrentPatchConflict(t *testing.T) {
	data := mustBigMP4(t)
	p := harness.StartServer(t, append(harness.S3Args(t), "--part-size-mib", "5")...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	loc := app.CreateUpload(cs.ID, "site-walk.mp4", int64(len(data)))

	sp := startPatch(t, app, loc, 0, int64(len(data)))
	sp.mustWrite(t, data[:6*mib])
	waitRead(t, p.URL, 6*mib)

	for _, off := range []int64{0, 5 * mib} {
		resp := app.Do("PATCH", loc, bytes.NewReader(data[off:off+4096]), map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(off, 10),
			"Content-Type": "application/offset+octet-stream", "Content-Length": "4096",
		})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if resp.StatusCode != http.StatusLocked || json.Unmarshal(b, &e) != nil || e.Error.Code != "upload_busy" || e.Error.Message == "" {
			t.Errorf("second PATCH at %d: got %d %s, want 423 upload_busy with a message", off, resp.StatusCode, b)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 7 {
			t.Errorf("second PATCH at %d: got Retry-After %q, want 1 to 7 seconds (the lease left)", off, resp.Header.Get("Retry-After"))
		}
	}
	// Reading the offset needs no lease: a client may ask while another
	// writes. It counts the first part once that is in the object store.
	var off int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if off = app.Offset(loc); off >= 5*mib {
			break
		}
	}
	if off != 5*mib {
		t.Errorf("HEAD while a PATCH streams: got offset %d, want %d (the part stored; the rest is in no shared store yet)", off, 5*mib)
	}

	sp.mustWrite(t, data[6*mib:])
	sp.w.Close()
	r := sp.wait()
	if r.err != nil || r.status != http.StatusNoContent || r.header.Get("Evidence-Id") == "" {
		t.Fatalf("first PATCH: got %d %s (err %v), want 204 with an Evidence-Id", r.status, r.body, r.err)
	}
	mustEvidence(t, app, cs.ID, loc, r.header.Get("Evidence-Id"), data)
}

// TestGracefulShutdownFinishesUpload sends SIGTERM while a PATCH streams:
// the server stops taking connections but finishes the upload, then exits 0.
func TestGracefulShutdownFinishesUpload(t *testing.T) {
	data := mustBigMP4(t)
	args := append(harness.S3Args(t), "--part-size-mib", "5", "--data", t.TempDir())
	p := harness.StartServer(t, args...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	loc := app.CreateUpload(cs.ID, "site-walk.mp4", int64(len(data)))

	sp := startPatch(t, app, loc, 0, int64(len(data)))
	sp.mustWrite(t, data[:3*mib])
	waitRead(t, p.URL, 3*mib)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 10*time.Second, "the server to close its listener after SIGTERM", func() bool {
		conn, err := net.Dial("tcp", u.Host)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})

	sp.mustWrite(t, data[3*mib:])
	sp.w.Close()
	r := sp.wait()
	eid := r.header.Get("Evidence-Id")
	if r.err != nil || r.status != http.StatusNoContent || eid == "" {
		t.Fatalf("PATCH across SIGTERM: got %d %s (err %v), want 204 with an Evidence-Id", r.status, r.body, r.err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("server still running 30s after its last request ended:\n%s", p.Log())
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code after SIGTERM: got %d, want 0\n%s", code, p.Log())
	}

	p = harness.StartServer(t, args...)
	app = harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	mustEvidence(t, app, cs.ID, loc, eid, data)
}
