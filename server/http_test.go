package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestLoginSessionsAndCSRF covers the login flow a browser and an API
// client each take.
func TestLoginSessionsAndCSRF(t *testing.T) {
	e := newEnv(t)
	w := e.req("", "POST", "/api/v1/auth/login", strings.NewReader(`{"username":"appA","password":"password-appA"}`), map[string]string{"Content-Type": "application/json"})
	if w.Code != 200 {
		t.Fatalf("login: got %d %s, want 200", w.Code, w.Body)
	}
	var session, csrf *http.Cookie
	for _, c := range w.Result().Cookies() {
		switch c.Name {
		case "siteinspect_session":
			session = c
		case "siteinspect_csrf":
			csrf = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || csrf == nil || csrf.HttpOnly {
		t.Fatalf("cookies: got session %+v csrf %+v; want an HttpOnly Lax session cookie and a readable CSRF cookie", session, csrf)
	}
	cookie := map[string]string{"Cookie": session.Name + "=" + session.Value, "Content-Type": "application/json"}
	if w := e.req("", "GET", "/api/v1/me", nil, cookie); w.Code != 200 || !strings.Contains(w.Body.String(), `"username":"appA"`) {
		t.Fatalf("me with cookie: got %d %s", w.Code, w.Body)
	}
	body := `{"permit_type":"hotel","site_name":"x","site_address":"y"}`
	if w := e.req("", "POST", "/api/v1/cases", strings.NewReader(body), cookie); w.Code != 403 {
		t.Fatalf("cookie POST without CSRF header: got %d, want 403", w.Code)
	}
	cookie["X-CSRF-Token"] = "wrong"
	if w := e.req("", "POST", "/api/v1/cases", strings.NewReader(body), cookie); w.Code != 403 {
		t.Fatalf("cookie POST with a wrong CSRF header: got %d, want 403", w.Code)
	}
	cookie["X-CSRF-Token"] = csrf.Value
	if w := e.req("", "POST", "/api/v1/cases", strings.NewReader(body), cookie); w.Code != 201 {
		t.Fatalf("cookie POST with the CSRF header: got %d %s, want 201", w.Code, w.Body)
	}
	if w := e.req("", "POST", "/api/v1/auth/logout", nil, cookie); w.Code != 204 {
		t.Fatalf("logout: got %d, want 204", w.Code)
	}
	if w := e.req("", "GET", "/api/v1/me", nil, cookie); w.Code != 401 {
		t.Fatalf("me after logout: got %d, want 401", w.Code)
	}
}

// TestLoginRateLimit: after the configured failures (3 here) a username is
// refused with 429 even with the right password, and other users are not.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	try := func(user, pw string) int {
		return e.req("", "POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, pw)), map[string]string{"Content-Type": "application/json"}).Code
	}
	for i := 0; i < 3; i++ {
		if got := try("appA", "wrong-password"); got != 401 {
			t.Fatalf("failure %d: got %d, want 401", i+1, got)
		}
	}
	if got := try("appA", "password-appA"); got != 429 {
		t.Fatalf("after 3 failures: got %d, want 429", got)
	}
	if got := try("appB", "password-appB"); got != 200 {
		t.Fatalf("another user: got %d, want 200", got)
	}
	if got := try("nobody", "whatever-password"); got != 401 {
		t.Fatalf("unknown user: got %d, want 401 (same as a wrong password)", got)
	}
}

// TestContentRanges: the player and download managers ask for ranges.
func TestContentRanges(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	data := video(100_000)
	id := e.upload("appA", cs.ID, "工地 walk-through \"final\".mp4", data)
	path := "/api/v1/evidence/" + id + "/content"
	size := len(data)
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	for _, tt := range []struct {
		rng        string
		want       int
		from, to   int // inclusive byte range expected
		wantHeader string
	}{
		{"", 200, 0, size - 1, ""},
		{"bytes=0-99", 206, 0, 99, fmt.Sprintf("bytes 0-99/%d", size)},
		{"bytes=5000-5999", 206, 5000, 5999, fmt.Sprintf("bytes 5000-5999/%d", size)},
		{"bytes=-100", 206, size - 100, size - 1, fmt.Sprintf("bytes %d-%d/%d", size-100, size-1, size)},
		{"bytes=99990-", 206, 99990, size - 1, fmt.Sprintf("bytes 99990-%d/%d", size-1, size)},
		{"bytes=99990-200000", 206, 99990, size - 1, fmt.Sprintf("bytes 99990-%d/%d", size-1, size)},
		{fmt.Sprintf("bytes=%d-", size), 416, 0, -1, fmt.Sprintf("bytes */%d", size)},
		// Refusals are the API's JSON; a suffix of no bytes names none
		// (RFC 9110 §14.1.2), and a range that runs backwards is no range.
		{"bytes=-0", 416, 0, -1, fmt.Sprintf("bytes */%d", size)},
		{"bytes=10-5", 416, 0, -1, fmt.Sprintf("bytes */%d", size)},
		{"bytes=abc", 416, 0, -1, fmt.Sprintf("bytes */%d", size)},
	} {
		hdr := map[string]string{}
		if tt.rng != "" {
			hdr["Range"] = tt.rng
		}
		w := e.req("appA", "GET", path, nil, hdr)
		if w.Code != tt.want {
			t.Errorf("Range %q: got %d, want %d", tt.rng, w.Code, tt.want)
			continue
		}
		if tt.wantHeader != "" && w.Header().Get("Content-Range") != tt.wantHeader {
			t.Errorf("Range %q: Content-Range %q, want %q", tt.rng, w.Header().Get("Content-Range"), tt.wantHeader)
		}
		if tt.want == 416 && (w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Body.String(), `"code":"range_not_satisfiable"`)) {
			t.Errorf("Range %q: got %s %q, want JSON with the code range_not_satisfiable", tt.rng, w.Header().Get("Content-Type"), w.Body)
		}
		if tt.want < 300 && !bytes.Equal(w.Body.Bytes(), data[tt.from:tt.to+1]) {
			t.Errorf("Range %q: got %d bytes, want bytes %d-%d", tt.rng, w.Body.Len(), tt.from, tt.to)
		}
		if tt.want < 300 && (w.Header().Get("ETag") != etag || w.Header().Get("Content-Type") != "video/mp4" || w.Header().Get("Accept-Ranges") != "bytes") {
			t.Errorf("Range %q: headers ETag %q Content-Type %q Accept-Ranges %q", tt.rng, w.Header().Get("ETag"), w.Header().Get("Content-Type"), w.Header().Get("Accept-Ranges"))
		}
	}
	if w := e.req("appA", "GET", path, nil, map[string]string{"If-None-Match": etag}); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: got %d with %d bytes, want 304 empty", w.Code, w.Body.Len())
	}
	w := e.req("appA", "GET", path+"?download=1", nil, nil)
	cd := w.Header().Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment; filename=") || strings.Contains(cd, "\"final\"") || !strings.Contains(cd, "filename*=UTF-8''%E5%B7%A5%E5%9C%B0") {
		t.Errorf("Content-Disposition: got %q, want attachment with a safe ASCII name and the UTF-8 name", cd)
	}
}

// TestTusProtocol checks the tus 1.0.0 details clients rely on.
func TestTusProtocol(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	uploads := "/api/v1/cases/" + cs.ID + "/uploads"
	w := e.req("", "OPTIONS", uploads, nil, nil)
	if w.Code != 204 || w.Header().Get("Tus-Version") != "1.0.0" || !strings.Contains(w.Header().Get("Tus-Extension"), "creation-with-upload") ||
		!strings.Contains(w.Header().Get("Tus-Extension"), "checksum") || w.Header().Get("Tus-Max-Size") != strconv.Itoa(8<<30) {
		t.Fatalf("OPTIONS: got %d %v", w.Code, w.Header())
	}
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("a.mp4"))
	create := func(hdr map[string]string) (int, string) {
		h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "20000", "Upload-Metadata": meta}
		for k, v := range hdr {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		w := e.req("appA", "POST", uploads, nil, h)
		return w.Code, w.Header().Get("Location")
	}
	for _, tt := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no Tus-Resumable", map[string]string{"Tus-Resumable": ""}, 412},
		{"old version", map[string]string{"Tus-Resumable": "0.2.2"}, 412},
		{"no length", map[string]string{"Upload-Length": ""}, 400},
		{"negative length", map[string]string{"Upload-Length": "-5"}, 400},
		{"deferred length with a length", map[string]string{"Upload-Defer-Length": "1"}, 400},
		{"deferred length not 1", map[string]string{"Upload-Length": "", "Upload-Defer-Length": "2"}, 400},
		{"no filename", map[string]string{"Upload-Metadata": "filetype dmlkZW8vbXA0"}, 400},
		{"metadata not base64", map[string]string{"Upload-Metadata": "filename !!!"}, 400},
		{"too large", map[string]string{"Upload-Length": strconv.Itoa(8<<30 + 1)}, 413},
		{"image too large", map[string]string{"Upload-Length": strconv.Itoa(50<<20 + 1), "Upload-Metadata": "filename eC5qcGc="}, 413},
	} {
		if got, _ := create(tt.hdr); got != tt.want {
			t.Errorf("create, %s: got %d, want %d", tt.name, got, tt.want)
		}
	}
	code, loc := create(nil)
	if code != 201 {
		t.Fatalf("create: got %d, want 201", code)
	}
	data := video(20000)
	patch := func(off int, body []byte, hdr map[string]string) *http.Response {
		h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}
		for k, v := range hdr {
			h[k] = v
		}
		return e.req("appA", "PATCH", loc, bytes.NewReader(body), h).Result()
	}
	if r := patch(0, data[:100], map[string]string{"Content-Type": "application/octet-stream"}); r.StatusCode != 415 {
		t.Errorf("PATCH with the wrong Content-Type: got %d, want 415", r.StatusCode)
	}
	if r := patch(0, bytes.Repeat([]byte{1}, 20001), nil); r.StatusCode != 413 {
		t.Errorf("PATCH past Upload-Length: got %d, want 413", r.StatusCode)
	}
	r := patch(0, data[:8000], nil)
	if r.StatusCode != 204 || r.Header.Get("Upload-Offset") != "8000" || r.Header.Get("Tus-Resumable") != "1.0.0" || r.Header.Get("Upload-Expires") == "" {
		t.Fatalf("PATCH: got %d %v", r.StatusCode, r.Header)
	}
	if r := patch(7000, data[7000:9000], nil); r.StatusCode != 409 {
		t.Errorf("PATCH at a stale offset: got %d, want 409", r.StatusCode)
	}
	bad := sha256.Sum256([]byte("other bytes"))
	if r := patch(8000, data[8000:9000], map[string]string{"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(bad[:])}); r.StatusCode != 460 {
		t.Errorf("PATCH with a wrong checksum: got %d, want 460", r.StatusCode)
	}
	if r := patch(8000, data[8000:9000], map[string]string{"Upload-Checksum": "md5 AAAA"}); r.StatusCode != 400 {
		t.Errorf("PATCH with an unsupported checksum: got %d, want 400", r.StatusCode)
	}
	head := e.req("appA", "HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if head.Code != 200 || head.Header().Get("Upload-Offset") != "8000" || head.Header().Get("Upload-Length") != "20000" ||
		head.Header().Get("Cache-Control") != "no-store" || head.Header().Get("Upload-Metadata") != meta {
		t.Fatalf("HEAD: got %d %v", head.Code, head.Header())
	}
	good := sha256.Sum256(data[8000:])
	r = patch(8000, data[8000:], map[string]string{"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(good[:])})
	if r.StatusCode != 204 || r.Header.Get("Evidence-Id") == "" {
		t.Fatalf("last PATCH: got %d, Evidence-Id %q", r.StatusCode, r.Header.Get("Evidence-Id"))
	}
	var info struct {
		EvidenceID string `json:"evidence_id"`
		Offset     int64  `json:"offset"`
	}
	e.json("appA", "GET", loc, nil, 200, &info)
	if info.EvidenceID != r.Header.Get("Evidence-Id") || info.Offset != 20000 {
		t.Errorf("GET upload: got %+v, want evidence %s at 20000", info, r.Header.Get("Evidence-Id"))
	}
	if w := e.req("appA", "DELETE", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"}); w.Code != 409 {
		t.Errorf("DELETE a finished upload: got %d, want 409", w.Code)
	}

	// creation-with-upload, then termination.
	w = e.req("appA", "POST", uploads, bytes.NewReader(data[:500]), map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "20000", "Upload-Metadata": meta, "Content-Type": "application/offset+octet-stream"})
	if w.Code != 201 || w.Header().Get("Upload-Offset") != "500" {
		t.Fatalf("creation-with-upload: got %d, Upload-Offset %q, want 201 at 500", w.Code, w.Header().Get("Upload-Offset"))
	}
	loc2 := w.Header().Get("Location")
	if w := e.req("appA", "DELETE", loc2, nil, map[string]string{"Tus-Resumable": "1.0.0"}); w.Code != 204 {
		t.Errorf("DELETE: got %d, want 204", w.Code)
	}
	if w := e.req("appA", "HEAD", loc2, nil, map[string]string{"Tus-Resumable": "1.0.0"}); w.Code != 404 {
		t.Errorf("HEAD after DELETE: got %d, want 404", w.Code)
	}

	// A text file named like a video: 415 and the upload is gone.
	code, loc3 := create(map[string]string{"Upload-Length": "3000"})
	if code != 201 {
		t.Fatalf("create: got %d", code)
	}
	if r := patch3(e, loc3, bytes.Repeat([]byte("just text\n"), 300)); r != 415 {
		t.Errorf("PATCH of text: got %d, want 415", r)
	}
	if w := e.req("appA", "HEAD", loc3, nil, map[string]string{"Tus-Resumable": "1.0.0"}); w.Code != 404 {
		t.Errorf("HEAD after a refused type: got %d, want 404", w.Code)
	}
	var list []map[string]any
	e.json("appA", "GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, 200, &list)
	if len(list) != 1 {
		t.Errorf("evidence: got %d items, want 1", len(list))
	}
}

func patch3(e *env, loc string, body []byte) int {
	return e.req("appA", "PATCH", loc, bytes.NewReader(body), map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).Code
}

// TestHealthAndMetrics: the probes operators scrape.
func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	if w := e.req("", "GET", "/healthz", nil, nil); w.Code != 200 {
		t.Fatalf("healthz: got %d, want 200", w.Code)
	}
	cs := e.newCase("appA")
	e.upload("appA", cs.ID, "a.mp4", video(12345))
	w := e.req("", "GET", "/metrics", nil, nil)
	for _, want := range []string{
		"siteinspect_upload_bytes_total 12345",
		"siteinspect_uploads_in_flight 0",
		`siteinspect_http_requests_total{code="201",method="POST",route="/api/v1/cases"} 1`,
		"siteinspect_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics: missing %q", want)
		}
	}
	if w := e.req("", "GET", "/api/v1/openapi.yaml", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "openapi: 3") {
		t.Errorf("openapi: got %d, want the document", w.Code)
	}
}
