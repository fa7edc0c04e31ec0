package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
	"siteinspect/web"
)

// TestContentSecurityPolicy checks the policy on the UI's pages and modules,
// a deep API route and a 404, and that index.html holds nothing the policy
// would block (inline script, inline style).
func TestContentSecurityPolicy(t *testing.T) {
	e := newEnv(t)
	ui, err := web.FS()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Web: ui})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	cs := e.newCase("appA")
	want := []string{"default-src 'self'", "script-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:",
		"connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"}
	for _, tt := range []struct {
		user, path string
		code       int
	}{
		{"", "/", 200},
		{"", "/views/live/room.js", 200},
		{"", "/no/such/page", 404},
		{"appA", "/api/v1/cases/" + cs.ID + "/evidence", 200},
		{"", "/api/v1/cases/" + cs.ID, 401},
	} {
		w := e.req(tt.user, "GET", tt.path, nil, nil)
		if w.Code != tt.code {
			t.Errorf("GET %s: got %d, want %d", tt.path, w.Code, tt.code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		directives := map[string]bool{}
		for _, d := range strings.Split(csp, ";") {
			directives[strings.TrimSpace(d)] = true
		}
		for _, d := range want {
			if !directives[d] {
				t.Errorf("GET %s: got Content-Security-Policy %q, want it to hold %q", tt.path, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: got Content-Security-Policy %q, want no unsafe- or wildcard sources", tt.path, csp)
		}
	}

	page := e.req("", "GET", "/", nil, nil).Body.String()
	if !regexp.MustCompile(`<script type="module" src="app(\.[0-9a-f]+)?\.js"></script>`).MatchString(page) {
		t.Errorf("index.html: got %q, want it to load app.js (content-hashed or not)", page)
	}
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html: got %q, want every script loaded from a file", m[0])
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html: got %q, which the policy blocks", m)
		}
	}
}

// TestEvidenceCaching checks that evidence and its renditions are kept by
// browsers only to be revalidated (private, no-cache), with a strong ETag
// that a conditional GET turns into a bodiless 304, and that Range still
// works.
func TestEvidenceCaching(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cs := e.newCase("appA")
	data := video(50_000)
	id := e.upload("appA", cs.ID, "site.mp4", data)
	sum := sha256.Sum256(data)
	orig := `"` + hex.EncodeToString(sum[:]) + `"`

	poster := bytes.Repeat([]byte("jpeg"), 1000)
	if err := e.objects.Put(ctx, domain.DerivedKey(cs.ID, id, domain.DerivedPoster), bytes.NewReader(poster), int64(len(poster)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	dur, w, h, fps := int64(5000), 320, 180, 30.0
	if err := e.db.SetEvidenceResult(ctx, id, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur, Width: &w, Height: &h, FPS: &fps, VideoCodec: "h264"}, &domain.Derived{Poster: true}); err != nil {
		t.Fatal(err)
	}

	base := "/api/v1/evidence/" + id
	for _, tt := range []struct {
		path     string
		body     []byte
		wantETag string // "" for any strong one
	}{
		{base + "/content", data, orig},
		{base + "/playback", data, orig},
		{base + "/poster", poster, ""},
	} {
		t.Run(tt.path[strings.LastIndex(tt.path, "/")+1:], func(t *testing.T) {
			w := e.req("appA", "GET", tt.path, nil, nil)
			etag := w.Header().Get("ETag")
			if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), tt.body) {
				t.Fatalf("GET: got %d with %d bytes, want 200 with %d", w.Code, w.Body.Len(), len(tt.body))
			}
			if cc := w.Header().Get("Cache-Control"); cc != "private, no-cache" {
				t.Errorf("GET: got Cache-Control %q, want %q", cc, "private, no-cache")
			}
			if tt.wantETag != "" && etag != tt.wantETag {
				t.Errorf("GET: got ETag %s, want %s", etag, tt.wantETag)
			}
			if len(etag) < 3 || strings.HasPrefix(etag, "W/") || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Errorf("GET: got ETag %q, want a strong one", etag)
			}
			if again := e.req("appA", "GET", tt.path, nil, nil).Header().Get("ETag"); again != etag {
				t.Errorf("GET again: got ETag %s, want the same %s", again, etag)
			}

			w = e.req("appA", "GET", tt.path, nil, map[string]string{"If-None-Match": etag})
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Errorf("If-None-Match %s: got %d with %d bytes, want 304 empty", etag, w.Code, w.Body.Len())
			}
			if w.Header().Get("ETag") != etag || w.Header().Get("Cache-Control") != "private, no-cache" {
				t.Errorf("304: got ETag %q Cache-Control %q, want %s and private, no-cache", w.Header().Get("ETag"), w.Header().Get("Cache-Control"), etag)
			}
			if w := e.req("appA", "GET", tt.path, nil, map[string]string{"If-None-Match": `"something-else"`}); w.Code != 200 {
				t.Errorf("If-None-Match another tag: got %d, want 200", w.Code)
			}

			w = e.req("appA", "GET", tt.path, nil, map[string]string{"Range": "bytes=100-199", "If-Range": etag})
			if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), tt.body[100:200]) {
				t.Errorf("Range with If-Range: got %d with %d bytes, want 206 with bytes 100-199", w.Code, w.Body.Len())
			}
			if got, want := w.Header().Get("Content-Range"), "bytes 100-199/"+strconv.Itoa(len(tt.body)); got != want {
				t.Errorf("Range: got Content-Range %q, want %q", got, want)
			}
			if w := e.req("appA", "GET", tt.path, nil, map[string]string{"Range": "bytes=100-199", "If-Range": `"stale"`}); w.Code != 200 || w.Body.Len() != len(tt.body) {
				t.Errorf("Range with a stale If-Range: got %d with %d bytes, want 200 with all %d", w.Code, w.Body.Len(), len(tt.body))
			}
		})
	}

	// A rendition made again with other bytes gets another ETag.
	w1 := e.req("appA", "GET", base+"/poster", nil, nil).Header().Get("ETag")
	time.Sleep(5 * time.Millisecond)
	poster2 := bytes.Repeat([]byte("JPEG!"), 1000)
	if err := e.objects.Put(ctx, domain.DerivedKey(cs.ID, id, domain.DerivedPoster), bytes.NewReader(poster2), int64(len(poster2)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if w2 := e.req("appA", "GET", base+"/poster", nil, nil).Header().Get("ETag"); w2 == w1 {
		t.Errorf("poster made again: got the same ETag %s, want a new one", w2)
	}
}

// TestPlaylistNamedMP4IsRefused is the outside probe's finding: an HLS
// playlist uploaded as x.mp4 (video/mp4) is refused by the sniffer with
// 415 and never becomes evidence.
func TestPlaylistNamedMP4IsRefused(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	playlist := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
	// The same with a forged atom at offset 4, which the sniffer used to take for QuickTime.
	forged := append([]byte("\x00\x00\x00\x08wide"), playlist...)
	for name, data := range map[string][]byte{"playlist": playlist, "forged": forged} {
		w := e.req("appA", "POST", "/api/v1/cases/"+cs.ID+"/uploads", nil, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)),
			"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("x.mp4")) + ",filetype " + base64.StdEncoding.EncodeToString([]byte("video/mp4")),
		})
		if w.Code != http.StatusCreated {
			t.Fatalf("%s: create upload: got %d %s, want 201", name, w.Code, w.Body)
		}
		w = e.req("appA", "PATCH", w.Header().Get("Location"), bytes.NewReader(data), map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
		})
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusUnsupportedMediaType || body.Error.Code != "unsupported_media_type" {
			t.Errorf("%s: PATCH: got %d %s, want 415 unsupported_media_type", name, w.Code, w.Body)
		}
	}
	var list []json.RawMessage
	e.json("appA", "GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, http.StatusOK, &list)
	if len(list) != 0 {
		t.Errorf("got %d evidence items, want none", len(list))
	}
}
