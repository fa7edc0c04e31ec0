package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// refusingProxy stands for an office proxy that refuses PATCH and DELETE
// with its own error page (405, HTML, no Tus-Resumable) and passes
// everything else on. It counts what it saw.
type refusingProxy struct {
	*httptest.Server
	// rate, when set, slows each overridden request's body to that many
	// bytes a second, so a test can act while an upload is under way.
	rate float64

	mu         sync.Mutex
	refused    int
	overridden []overrideSeen
	completed  int // overridden PATCHes answered 204
}

// overrideSeen is one POST with X-HTTP-Method-Override that passed: its
// Upload-Offset and the body bytes that went through.
type overrideSeen struct {
	method, path string
	offset, size int64
}

func newRefusingProxy(tb testing.TB, target string, rate float64) *refusingProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &refusingProxy{rate: rate}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch || r.Method == http.MethodDelete {
			p.mu.Lock()
			p.refused++
			p.mu.Unlock()
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusMethodNotAllowed)
			io.WriteString(w, "<html><body><h1>405 Method Not Allowed</h1></body></html>")
			return
		}
		m := r.Header.Get("X-HTTP-Method-Override")
		if m == "" || r.Method != http.MethodPost {
			rp.ServeHTTP(w, r)
			return
		}
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		p.mu.Lock()
		i := len(p.overridden)
		p.overridden = append(p.overridden, overrideSeen{method: m, path: r.URL.Path, offset: off})
		p.mu.Unlock()
		body := &slowReader{r: r.Body, rate: p.rate, start: time.Now()}
		r.Body = io.NopCloser(body)
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		p.mu.Lock()
		p.overridden[i].size = body.n
		if m == http.MethodPatch && sw.status == http.StatusNoContent {
			p.completed++
		}
		p.mu.Unlock()
	}))
	tb.Cleanup(p.Close)
	return p
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// slowReader counts what is read through it and, when rate is set, paces
// reads to rate bytes a second.
type slowReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (s *slowReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), 32<<10)])
	s.n += int64(n)
	if s.rate <= 0 {
		return n, err
	}
	if due := time.Duration(float64(s.n) / s.rate * float64(time.Second)); due > time.Since(s.start) {
		time.Sleep(due - time.Since(s.start))
	}
	return n, err
}

// counts returns how many requests were refused and the overridden ones.
func (p *refusingProxy) counts() (int, []overrideSeen) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused, append([]overrideSeen(nil), p.overridden...)
}

// mustEvidenceSHA checks evidence eid's record and streamed content
// against a source file's size and SHA-256 (hex).
func mustEvidenceSHA(tb testing.TB, c *harness.Client, eid string, size int64, sum string) {
	tb.Helper()
	var ev domain.Evidence
	c.MustJSON("GET", "/api/v1/evidence/"+eid, nil, http.StatusOK, &ev)
	if ev.SHA256 != sum || ev.Size != size || ev.Kind != domain.KindVideo {
		tb.Errorf("evidence %s: got sha256 %s size %d kind %s, want %s %d video", eid, ev.SHA256, ev.Size, ev.Kind, sum, size)
	}
	resp := c.Do("GET", "/api/v1/evidence/"+eid+"/content", nil, nil)
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if got := hex.EncodeToString(h.Sum(nil)); resp.StatusCode != http.StatusOK || err != nil || n != size || got != sum {
		tb.Errorf("content of %s: got %d, %d bytes, sha256 %s (%v); want 200, %d bytes, %s", eid, resp.StatusCode, n, got, err, size, sum)
	}
}

// TestTusJSConcatAndOverride200MiB: tus-js-client uploads 200 MiB as four
// partial uploads joined by a final one, again with its length deferred to
// the last PATCH, and again with every PATCH sent as POST with
// X-HTTP-Method-Override through a proxy that refuses PATCH; every stored
// object is the source, byte for byte, in real MinIO.
func TestTusJSConcatAndOverride200MiB(t *testing.T) {
	modules := mustTusJS(t)
	dir := t.TempDir()
	const size = 200 << 20
	file, sum := harness.MakeSource(t, dir, size)
	script := filepath.Join(dir, "tus.js")
	if err := os.WriteFile(script, []byte(tusJSScript), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.StartServer(t, harness.S3Args(t)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()

	t.Run("parallelUploads 4", func(t *testing.T) {
		start := time.Now()
		out := mustRunTusJS(t, modules, script, app.Token, "whole", file, p.URL+"/api/v1/cases/"+cs.ID+"/uploads",
			`{"parallelUploads": 4, "chunkSize": 16777216, "uploadSize": null}`)
		done := out[len(out)-1]
		if done.Event != "success" || done.EvidenceID == "" || !strings.HasPrefix(done.URL, p.URL+"/api/v1/uploads/") {
			t.Fatalf("got %+v, want success with an Evidence-Id and a final upload URL", out)
		}
		t.Logf("200 MiB in 4 partial uploads: %v", time.Since(start).Round(time.Millisecond))
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(line, "joined partial uploads") {
				t.Logf("server: %s", line) // the compose and hash times (docs/UPLOADS.md)
			}
		}
		mustEvidenceSHA(t, app, done.EvidenceID, size, sum)
		var up struct {
			Concat     string  `json:"concat"`
			EvidenceID *string `json:"evidence_id"`
		}
		app.MustJSON("GET", strings.TrimPrefix(done.URL, p.URL), nil, http.StatusOK, &up)
		if up.Concat != domain.ConcatFinal || up.EvidenceID == nil || *up.EvidenceID != done.EvidenceID {
			t.Fatalf("final upload: got concat %q evidence %v, want final naming %s", up.Concat, up.EvidenceID, done.EvidenceID)
		}
	})

	// From a stream of unknown length: tus-js-client 4.3.1 declares a wrong
	// Content-Length for the last chunk of a deferred upload read from a file
	// path (FileSource sizes a slice by the chunk size, not the file's end).
	t.Run("uploadLengthDeferred", func(t *testing.T) {
		out := mustRunTusJS(t, modules, script, app.Token, "whole", file, p.URL+"/api/v1/cases/"+cs.ID+"/uploads",
			`{"uploadLengthDeferred": true, "uploadSize": null, "chunkSize": 16777216, "stream": true}`)
		done := out[len(out)-1]
		if done.Event != "success" || done.EvidenceID == "" {
			t.Fatalf("got %+v, want success with an Evidence-Id", out)
		}
		mustEvidenceSHA(t, app, done.EvidenceID, size, sum)
	})

	t.Run("overridePatchMethod", func(t *testing.T) {
		px := newRefusingProxy(t, p.URL, 0)
		start := time.Now()
		out := mustRunTusJS(t, modules, script, app.Token, "whole", file, px.URL+"/api/v1/cases/"+cs.ID+"/uploads",
			`{"overridePatchMethod": true, "chunkSize": 16777216}`)
		done := out[len(out)-1]
		if done.Event != "success" || done.EvidenceID == "" {
			t.Fatalf("got %+v, want success with an Evidence-Id", out)
		}
		t.Logf("200 MiB as POST + X-HTTP-Method-Override: %v", time.Since(start).Round(time.Millisecond))
		refused, seen := px.counts()
		var sent int64
		for _, o := range seen {
			if o.method != http.MethodPatch {
				t.Errorf("override through the proxy: got %s, want PATCH", o.method)
			}
			sent += o.size
		}
		if refused != 0 || len(seen) != size/(16<<20)+1 || sent != size {
			t.Fatalf("through the proxy: got %d refused, %d overridden PATCHes with %d bytes; want 0, %d, %d", refused, len(seen), sent, size/(16<<20)+1, size)
		}
		mustEvidenceSHA(t, app, done.EvidenceID, size, sum)
	})
}

// TestTusOverrideAndConcatOwnership: every tus method of an upload URL can
// come as POST with X-HTTP-Method-Override (HEAD was a 404 once), and a
// final upload naming another user's or another case's partial uploads is
// refused without claiming them.
func TestTusOverrideAndConcatOwnership(t *testing.T) {
	p := harness.StartServer(t)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	other := harness.Login(t, p.URL, "applicant2", p.Demo["applicant2"])
	cs, cs2, theirs := app.NewCase(), app.NewCase(), other.NewCase()
	data := mustBigMP4(t)[:3<<20]
	tus := func(c *harness.Client, method, path string, body []byte, hdr map[string]string) *http.Response {
		t.Helper()
		return c.Tus(method, path, body, hdr)
	}
	partial := func(c *harness.Client, caseID string, chunk []byte) string {
		t.Helper()
		resp := tus(c, "POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{"Upload-Concat": "partial", "Upload-Length": strconv.Itoa(len(chunk))})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusCreated || loc == "" {
			t.Fatalf("create partial: got %d, Location %q; want 201", resp.StatusCode, loc)
		}
		// PATCH as POST with the override.
		resp = tus(c, "POST", loc, chunk, map[string]string{"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(chunk)) || resp.Header.Get("Evidence-Id") != "" {
			t.Fatalf("overridden PATCH: got %d, Upload-Offset %q, Evidence-Id %q; want 204, %d, none", resp.StatusCode, resp.Header.Get("Upload-Offset"), resp.Header.Get("Evidence-Id"), len(chunk))
		}
		return loc
	}
	half := len(data) / 2
	a, b := partial(app, cs.ID, data[:half]), partial(app, cs.ID, data[half:])

	// HEAD as POST with the override.
	resp := tus(app, "POST", a, nil, map[string]string{"X-HTTP-Method-Override": "HEAD"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != strconv.Itoa(half) || resp.Header.Get("Upload-Concat") != "partial" {
		t.Fatalf("overridden HEAD: got %d, Upload-Offset %q, Upload-Concat %q; want 200, %d, partial", resp.StatusCode, resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Concat"), half)
	}
	// OPTIONS lists exactly what is supported.
	resp = tus(app, "OPTIONS", "/api/v1/uploads/x", nil, nil)
	wantExt := "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum,concatenation"
	if got := resp.Header.Get("Tus-Extension"); got != wantExt {
		t.Fatalf("Tus-Extension: got %q, want %q", got, wantExt)
	}

	final := func(c *harness.Client, caseID string, refs ...string) *http.Response {
		return tus(c, "POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
			"Upload-Concat": "final;" + strings.Join(refs, " "), "Upload-Metadata": "filename " + b64("walk.mp4"),
		})
	}
	foreign := partial(other, theirs.ID, data[half:])
	otherCase := partial(app, cs2.ID, data[half:])
	for _, tt := range []struct {
		name string
		refs []string
		want int
	}{
		{"another user's partial", []string{a, foreign}, http.StatusNotFound},
		{"another case's partial", []string{a, otherCase}, http.StatusForbidden},
		{"not an upload URL", []string{a, "/api/v1/cases/" + cs.ID}, http.StatusBadRequest},
	} {
		if resp := final(app, cs.ID, tt.refs...); resp.StatusCode != tt.want {
			t.Errorf("final naming %s: got %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	// The refusals claimed nothing: the right partials join, given as absolute URLs.
	resp = final(app, cs.ID, p.URL+a, p.URL+b)
	eid := resp.Header.Get("Evidence-Id")
	if resp.StatusCode != http.StatusCreated || eid == "" || !strings.HasPrefix(resp.Header.Get("Location"), "/api/v1/uploads/") {
		t.Fatalf("final: got %d, Evidence-Id %q, Location %q; want 201 with both", resp.StatusCode, eid, resp.Header.Get("Location"))
	}
	mustEvidence(t, app, cs.ID, resp.Header.Get("Location"), eid, data)
	// The same final POST again (its answer lost on the way) gets the same
	// upload and evidence; any other use of the partials is refused.
	if again := final(app, cs.ID, a, b); again.StatusCode != http.StatusCreated || again.Header.Get("Evidence-Id") != eid || again.Header.Get("Location") != resp.Header.Get("Location") {
		t.Fatalf("the same final again: got %d, Evidence-Id %q, Location %q; want 201, %s, %s", again.StatusCode, again.Header.Get("Evidence-Id"), again.Header.Get("Location"), eid, resp.Header.Get("Location"))
	}
	if again := final(app, cs.ID, b, a); again.StatusCode != http.StatusConflict {
		t.Fatalf("final naming used partials in another order: got %d, want 409", again.StatusCode)
	}
	// A final upload takes no PATCH, even overridden.
	resp = tus(app, "POST", resp.Header.Get("Location"), data[:10], map[string]string{"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"})
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PATCH of a final upload: got %d, want 403 (or 404)", resp.StatusCode)
	}
	// DELETE as POST with the override terminates the other case's unused partial.
	if resp := tus(app, "POST", otherCase, nil, map[string]string{"X-HTTP-Method-Override": "DELETE"}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("overridden DELETE: got %d, want 204", resp.StatusCode)
	}
	if resp := tus(app, "HEAD", otherCase, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after the overridden DELETE: got %d, want 404", resp.StatusCode)
	}
}

// b64 is an Upload-Metadata value.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestTusDeferLengthGrowingFile: a recording is uploaded while it is still
// being written (Upload-Defer-Length: 1); the PATCH that carries its last
// bytes declares the length, and the evidence is the finished file.
func TestTusDeferLengthGrowingFile(t *testing.T) {
	p := harness.StartServer(t, harness.S3Args(t)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	src := mustBigMP4(t)
	path := filepath.Join(t.TempDir(), "recording.mp4")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// The recorder: writes the file in uneven bursts, then closes it. It
	// writes the next burst once the uploader has sent a PATCH since the
	// last (or after a second): the file grows between PATCHes however
	// long each takes on a busy machine.
	written := make(chan struct{})
	patched := make(chan struct{}, 1)
	go func() {
		defer close(written)
		defer w.Close()
		for off := 0; off < len(src); {
			n := min(len(src)-off, 1<<20+off%4093)
			w.Write(src[off : off+n])
			off += n
			select {
			case <-patched:
			case <-time.After(time.Second):
			}
		}
	}()
	resp := app.Do("POST", "/api/v1/cases/"+cs.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1", "Upload-Metadata": "filename " + b64("recording.mp4"),
	})
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("create: got %d, want 201 with a Location", resp.StatusCode)
	}
	resp = app.Do("HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	resp.Body.Close()
	if resp.Header.Get("Upload-Defer-Length") != "1" || resp.Header.Get("Upload-Length") != "" {
		t.Fatalf("HEAD of a deferred upload: got Upload-Defer-Length %q, Upload-Length %q; want 1 and none", resp.Header.Get("Upload-Defer-Length"), resp.Header.Get("Upload-Length"))
	}
	// The uploader: sends what the file holds so far; once the recorder is
	// done, the last PATCH names the length.
	var off int64
	patches, eid := 0, ""
	for eid == "" {
		finished := false
		select {
		case <-written:
			finished = true
		default:
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		end := st.Size()
		if end == off && !finished {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		hdr := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(off, 10),
			"Content-Type": "application/offset+octet-stream", "Content-Length": strconv.FormatInt(end-off, 10)}
		if finished {
			hdr["Upload-Length"] = strconv.FormatInt(end, 10)
		}
		resp := app.Do("PATCH", loc, io.NewSectionReader(f, off, end-off), hdr)
		resp.Body.Close()
		f.Close()
		patches++
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.FormatInt(end, 10) {
			t.Fatalf("PATCH %d at %d: got %d, Upload-Offset %q; want 204, %d", patches, off, resp.StatusCode, resp.Header.Get("Upload-Offset"), end)
		}
		off = end
		select {
		case patched <- struct{}{}:
		default:
		}
		if finished {
			eid = resp.Header.Get("Evidence-Id")
			if eid == "" {
				t.Fatalf("last PATCH (with Upload-Length %d): no Evidence-Id", end)
			}
		}
	}
	if patches < 3 {
		t.Fatalf("PATCHes: got %d, want several while the file grew", patches)
	}
	t.Logf("%d bytes in %d PATCHes while the file grew", off, patches)
	mustEvidence(t, app, cs.ID, loc, eid, src)
	// Once set, the length cannot change.
	resp = app.Do("PATCH", loc, bytes.NewReader(nil), map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": fmt.Sprint(len(src)),
		"Content-Type": "application/offset+octet-stream", "Upload-Length": fmt.Sprint(len(src) + 1)})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PATCH changing Upload-Length: got %d, want 400", resp.StatusCode)
	}
}

// TestBrowserUploadOverrideResumes: behind a proxy that refuses PATCH and
// DELETE, the page's tus client (web/static/tus.js in Chromium) switches
// to POST with X-HTTP-Method-Override and remembers that for the session;
// a 72 MiB file goes as four partial uploads at once; a page reload in the
// middle loses only what was in flight, and choosing the file again
// finishes it. The evidence is the file, byte for byte.
func TestBrowserUploadOverrideResumes(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	const size = 72 << 20
	const chunk = 8 << 20 // tus.js DEFAULT_CHUNK_SIZE
	file, sum := harness.MakeSource(t, t.TempDir(), size)
	// 3 MiB/s for each of the four connections: the upload takes about six
	// seconds, time enough to reload in the middle.
	px := newRefusingProxy(t, p.URL, 3<<20)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()

	b := mustBrowser(t)
	// The page asks before leaving while an upload runs; the user says leave.
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	b.mustLogin(t, px.URL, "applicant", p.Demo["applicant"])
	open := func(what string) {
		b.mustDo(t, what, chromedp.Navigate(px.URL+"/#/cases/"+cs.ID), chromedp.WaitReady(chromedp.ID("upload-input")))
		b.mustDo(t, "choose the file", chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{file}))
	}
	open("open the case")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		px.mu.Lock()
		completed, seen := px.completed, len(px.overridden)
		px.mu.Unlock()
		if completed >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 60 s for two chunks through the proxy: got %d overridden, %d completed; upload row %s: %s",
				seen, completed, b.readAttr(".upload-row", "data-state"), b.readAttr(".upload-row .upload-msg", "text"))
		}
	}
	refusedBefore, before := px.counts()
	stored := mustRun(t, b, "read what the page remembers", chromedp.Evaluate[string](`JSON.stringify(Object.entries(localStorage).filter(([k]) => k.startsWith('siteinspect.tus.')).map(([, v]) => JSON.parse(v)))`))
	b.mustDo(t, "reload the page", chromedp.Reload())
	open("open the case again")
	state := mustPoll[string](t, b, "the upload to end",
		`() => { const r = document.querySelector('.upload-row'); return r && ['done', 'error'].includes(r.dataset.state) ? r.dataset.state : null; }`)
	if state != "done" {
		t.Fatalf("upload row: got state %q (%s), want done", state, b.readAttr(".upload-row .upload-msg", "text"))
	}

	refused, all := px.counts()
	after := all[len(before):]
	if refusedBefore < 1 || refused != refusedBefore {
		t.Errorf("PATCHes refused by the proxy: got %d before the reload and %d after, want at least 1 and then none (override kept in sessionStorage)", refusedBefore, refused-refusedBefore)
	}
	if !strings.Contains(stored, `"parts":["http`) {
		t.Errorf("remembered upload before the reload: got %s, want four partial upload URLs", stored)
	}
	parts := map[string]bool{}
	resumed := false
	var sent int64
	for i, o := range all {
		sent += o.size
		parts[o.path] = true
		if i >= len(before) && o.offset > 0 && !slicesContainsPath(after[:i-len(before)], o.path) {
			resumed = true // the first PATCH of a partial after the reload starts where it stopped
		}
	}
	if len(parts) != 4 || !resumed || sent >= size+4*chunk {
		t.Errorf("overridden PATCHes: got %d partial uploads, resumed %t, %d bytes sent; want 4, true, under %d", len(parts), resumed, sent, size+4*chunk)
	}
	t.Logf("%d PATCHes refused, %d overridden (%d before the reload), %d bytes sent for %d", refused, len(all), len(before), sent, size)

	var evs []domain.Evidence
	app.MustJSON("GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, http.StatusOK, &evs)
	if len(evs) != 1 {
		t.Fatalf("evidence of the case: got %d items, want 1", len(evs))
	}
	mustEvidenceSHA(t, app, evs[0].ID, size, sum)
}

// slicesContainsPath says whether an overridden request went to path.
func slicesContainsPath(seen []overrideSeen, path string) bool {
	for _, o := range seen {
		if o.path == path {
			return true
		}
	}
	return false
}

// TestTusPhoneRecordingDeferredOverride: the phone's own recording goes by
// the live session's upload URLs with the publish token, with its length
// deferred and every PATCH sent as POST with X-HTTP-Method-Override.
func TestTusPhoneRecordingDeferredOverride(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1"}, harness.S3Args(t)...)...)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	file := filepath.Join(t.TempDir(), "phone.webm")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "2", "-c:v", "libvpx", "-b:v", "300k", "-live", "1", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	phone := harness.WithToken(t, p.URL, ls.PublishToken)
	base := "/api/v1/live/" + ls.ID + "/uploads"
	meta := "filename " + b64("phone.webm")
	send := func(method, path string, body []byte, hdr map[string]string) *http.Response {
		t.Helper()
		return phone.Tus(method, path, body, hdr)
	}

	// Deferred length, overridden PATCHes.
	resp := send("POST", base, nil, map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": meta})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, base+"/") {
		t.Fatalf("create deferred: got %d, Location %q; want 201 under %s", resp.StatusCode, loc, base)
	}
	half := len(data) / 2
	resp = send("POST", loc, data[:half], map[string]string{"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") != "" {
		t.Fatalf("first overridden PATCH: got %d, Evidence-Id %q; want 204 and none", resp.StatusCode, resp.Header.Get("Evidence-Id"))
	}
	resp = send("POST", loc, data[half:], map[string]string{"X-HTTP-Method-Override": "PATCH", "Upload-Offset": strconv.Itoa(half), "Upload-Length": strconv.Itoa(len(data))})
	eid := resp.Header.Get("Evidence-Id")
	if resp.StatusCode != http.StatusNoContent || eid == "" {
		t.Fatalf("last overridden PATCH with Upload-Length: got %d, Evidence-Id %q; want 204 and an id", resp.StatusCode, eid)
	}
	sum := sha256.Sum256(data)
	mustEvidenceSHA(t, insp, eid, int64(len(data)), hex.EncodeToString(sum[:]))

}

// TestTusDeferLengthQuota: an upload of deferred length counts the bytes
// it has received against its company's daily quota, so it can be
// created when a largest file would not fit; a PATCH that runs past the
// quota keeps the bytes before it (HEAD says where) and answers 413
// upload_quota_exceeded, which the next upload of the company gets too.
func TestTusDeferLengthQuota(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--company-daily-bytes", "3000"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	resp := app.Do("POST", "/api/v1/cases/"+cs.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1", "Upload-Metadata": "filename " + b64("take.webm"),
	})
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("create a deferred upload under a 3000-byte quota: got %d, want 201", resp.StatusCode)
	}
	resp, body := app.PatchBody(loc, 0, make([]byte, 5000))
	var eb errorBody
	json.Unmarshal(body, &eb)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || eb.Error.Code != "upload_quota_exceeded" {
		t.Fatalf("PATCH of 5000 bytes: got %d %s, want 413 upload_quota_exceeded", resp.StatusCode, body)
	}
	resp = app.Do("HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	resp.Body.Close()
	if got := resp.Header.Get("Upload-Offset"); got != "3000" {
		t.Fatalf("HEAD after the refusal: got Upload-Offset %q, want 3000 (the bytes within the quota kept)", got)
	}
	resp = app.Do("POST", "/api/v1/cases/"+cs.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": "filename " + b64("x.jpg"),
	})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "upload_quota_exceeded") {
		t.Fatalf("one more byte: got %d %s, want 413 upload_quota_exceeded", resp.StatusCode, b)
	}
}
