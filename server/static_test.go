package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"

	"siteinspect/web"
)

func mustStaticSite(tb testing.TB) *staticSite {
	tb.Helper()
	fsys, err := web.FS()
	if err != nil {
		tb.Fatalf("web.FS(): %v", err)
	}
	site, err := newStaticSite(fsys)
	if err != nil {
		tb.Fatalf("newStaticSite: %v", err)
	}
	return site
}

// staticGet sends one request to the site with the given headers.
func staticGet(tb testing.TB, h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(tb testing.TB, coding string, body []byte) []byte {
	tb.Helper()
	var r io.Reader
	switch coding {
	case "":
		return body
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			tb.Fatalf("gzip reader: %v", err)
		}
		r = zr
	default:
		tb.Fatalf("unexpected coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("decode %s: %v", coding, err)
	}
	return out
}

var hashedRefRE = regexp.MustCompile(`\.[0-9a-f]{12}\.(js|css)$`)

// Every URL the page and its modules name is hashed, answers 200 with the
// year-long immutable policy, and the whole import graph is reachable from
// index.html without a single plain module path.
func TestStaticHashedGraph(t *testing.T) {
	site := mustStaticSite(t)
	index := staticGet(t, site, http.MethodGet, "/")
	if index.Code != http.StatusOK {
		t.Fatalf("GET /: got %d, want 200", index.Code)
	}
	if got := index.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("GET / Cache-Control: got %q, want no-cache", got)
	}
	if index.Header().Get("ETag") == "" {
		t.Errorf("GET /: got no ETag, want one")
	}
	html := index.Body.String()
	refs := regexp.MustCompile(`(?:src|href)="([^":#]+)"`).FindAllStringSubmatch(html, -1)
	queue := []string{}
	for _, m := range refs {
		if m[1] == "manifest.webmanifest" {
			continue
		}
		if !hashedRefRE.MatchString(m[1]) {
			t.Errorf("index.html refers to %q: got a plain name, want a hashed one", m[1])
		}
		queue = append(queue, m[1])
	}
	if !strings.Contains(html, `<script type="module" src="app.`) {
		t.Errorf("index.html: got no hashed app.js module script, want one in\n%s", html)
	}
	preloads := regexp.MustCompile(`rel="modulepreload" href="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(preloads) < 4 {
		t.Errorf("index.html: got %d modulepreload links, want the login route's modules (≥ 4)", len(preloads))
	}
	// Walk the import graph from the page through the served (rewritten) modules.
	spec := regexp.MustCompile(`(?:from\s*|import\s*\(?\s*|new URL\()'(\.{1,2}/[^']+)'`)
	seen := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		rec := staticGet(t, site, http.MethodGet, "/"+p)
		if rec.Code != http.StatusOK {
			t.Errorf("GET /%s: got %d, want 200", p, rec.Code)
			continue
		}
		if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET /%s Cache-Control: got %q, want the immutable policy", p, got)
		}
		if !strings.HasSuffix(p, ".js") {
			continue
		}
		for _, m := range spec.FindAllStringSubmatch(rec.Body.String(), -1) {
			if !hashedRefRE.MatchString(m[1]) {
				t.Errorf("/%s imports %q: got a plain name, want a hashed one", p, m[1])
			}
			queue = append(queue, path.Join(path.Dir(p), m[1]))
		}
	}
	// Views are imported when their route opens, so the graph holds them
	// only through dynamic imports; all of them must be reachable.
	for _, view := range []string{"views.", "review.", "live.", "views/login.", "views/cases.", "views/case.", "views/join.", "views/live.", "views/review/workspace."} {
		found := false
		for p := range seen {
			if strings.HasPrefix(p, view) {
				found = true
			}
		}
		if !found {
			t.Errorf("import graph from index.html: got no %s*, want it reachable", view)
		}
	}
	// A plain path still answers (old links, tools), but must be revalidated.
	rec := staticGet(t, site, http.MethodGet, "/app.js")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET /app.js: got %d %q, want 200 no-cache", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := staticGet(t, site, http.MethodGet, "/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nope.js: got %d, want 404", rec.Code)
	}
}

// A change to a module (or a file a module names with new URL) renames it
// and every module that imports it, and leaves unrelated files alone; a
// missing import fails at start-up.
func TestStaticHashFollowsImports(t *testing.T) {
	base := func(b string) fstest.MapFS {
		return fstest.MapFS{
			"index.html": {Data: []byte(`<html><head><link rel="stylesheet" href="s.css"><script type="module" src="a.js"></script></head></html>`)},
			"a.js":       {Data: []byte("import { b } from './lib/b.js';\nexport const v = () => import('./c.js');\n")},
			"lib/b.js":   {Data: []byte(b)},
			"c.js":       {Data: []byte("export const c = 1;\nexport const css = new URL('./lib/t.css', import.meta.url);\n")},
			"lib/t.css":  {Data: []byte(b)},
			"s.css":      {Data: []byte("body { color: black; }\n")},
		}
	}
	one, err := newStaticSite(base("export const b = 1;\n"))
	if err != nil {
		t.Fatalf("newStaticSite: %v", err)
	}
	two, err := newStaticSite(base("export const b = 2;\n"))
	if err != nil {
		t.Fatalf("newStaticSite: %v", err)
	}
	for _, tc := range []struct {
		name     string
		wantSame bool
	}{{"a.js", false}, {"lib/b.js", false}, {"c.js", false}, {"lib/t.css", false}, {"s.css", true}} {
		h1, h2 := one.byPath[tc.name].hashed, two.byPath[tc.name].hashed
		if (h1 == h2) != tc.wantSame {
			t.Errorf("%s: got hashed names %q and %q, want same=%v", tc.name, h1, h2, tc.wantSame)
		}
	}
	a := string(one.byPath["a.js"].body)
	wantB := "'./" + path.Base(one.byPath["lib/b.js"].hashed) + "'"
	if !strings.Contains(a, "from './lib/"+strings.Trim(wantB, "'./")+"'") {
		t.Errorf("a.js: got %q, want the import of lib/b.js rewritten to %s", a, wantB)
	}
	if !strings.Contains(a, "import('./"+one.byPath["c.js"].hashed+"')") {
		t.Errorf("a.js: got %q, want the dynamic import rewritten to ./%s", a, one.byPath["c.js"].hashed)
	}
	if c := string(one.byPath["c.js"].body); !strings.Contains(c, "new URL('./"+one.byPath["lib/t.css"].hashed+"', import.meta.url)") {
		t.Errorf("c.js: got %q, want the new URL rewritten to ./%s", c, one.byPath["lib/t.css"].hashed)
	}
	idx := string(one.byPath["index.html"].body)
	for _, want := range []string{
		`src="` + one.byPath["a.js"].hashed + `"`,
		`href="` + one.byPath["s.css"].hashed + `"`,
		`<link rel="modulepreload" href="` + one.byPath["lib/b.js"].hashed + `">`,
	} {
		if !strings.Contains(idx, want) {
			t.Errorf("index.html: got %q, want it to contain %q", idx, want)
		}
	}
	if strings.Contains(idx, one.byPath["c.js"].hashed) {
		t.Errorf("index.html: got a preload of the dynamically imported c.js, want none: %q", idx)
	}

	broken := base("import { x } from './missing.js';\n")
	if _, err := newStaticSite(broken); err == nil || !strings.Contains(err.Error(), "missing.js") {
		t.Errorf("newStaticSite with a missing import: got %v, want an error naming missing.js", err)
	}
}

// Each Accept-Encoding gets the best coding it allows, the body decodes to
// the same bytes, and caches are told the answer depends on the header.
func TestStaticEncodings(t *testing.T) {
	site := mustStaticSite(t)
	f := site.byPath["strings.js"]
	if f == nil || f.br == nil || f.gz == nil {
		t.Fatalf("strings.js: got %+v, want brotli and gzip copies", f)
	}
	if len(f.br) >= len(f.gz) || len(f.gz) >= len(f.body)/2 {
		t.Errorf("strings.js sizes: got br %d, gzip %d, identity %d; want br < gzip < identity/2", len(f.br), len(f.gz), len(f.body))
	}
	for _, tc := range []struct {
		accept, want string
	}{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip;q=0.5", "gzip"},
		{"", ""},
		{"identity", ""},
		{"*", "br"},
		{"br;q=0, gzip;q=0", ""},
		{"x-gzip", "gzip"},
	} {
		rec := staticGet(t, site, http.MethodGet, "/"+f.hashed, "Accept-Encoding", tc.accept)
		if rec.Code != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: got %d, want 200", tc.accept, rec.Code)
		}
		h := rec.Header()
		if got := h.Get("Content-Encoding"); got != tc.want {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q, want %q", tc.accept, got, tc.want)
		}
		if got := h.Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: got Vary %q, want Accept-Encoding", tc.accept, got)
		}
		if got := h.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: got Content-Type %q, want text/javascript", tc.accept, got)
		}
		if got, want := h.Get("Content-Length"), rec.Body.Len(); got != strconv.Itoa(want) {
			t.Errorf("Accept-Encoding %q: got Content-Length %s, want %d", tc.accept, got, want)
		}
		if got := decode(t, tc.want, rec.Body.Bytes()); !bytes.Equal(got, f.body) {
			t.Errorf("Accept-Encoding %q: decoded body differs from the file (%d vs %d bytes)", tc.accept, len(got), len(f.body))
		}
	}
	// HEAD: the headers of GET, no body.
	rec := staticGet(t, site, http.MethodHead, "/"+f.hashed, "Accept-Encoding", "br")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(f.br)) {
		t.Errorf("HEAD: got %d, %d body bytes, Content-Length %q; want 200, 0, %d", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"), len(f.br))
	}
	if rec := staticGet(t, site, http.MethodPost, "/"+f.hashed); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d, want 405", rec.Code)
	}
}

// If-None-Match naming the current version, in any encoding or weakly,
// gets 304 with no body; an old or foreign tag gets the file.
func TestStaticNotModified(t *testing.T) {
	site := mustStaticSite(t)
	first := staticGet(t, site, http.MethodGet, "/", "Accept-Encoding", "br")
	etag := first.Header().Get("ETag")
	if !strings.HasSuffix(etag, `-br"`) {
		t.Fatalf("GET / with br: got ETag %q, want a br-specific tag", etag)
	}
	gzTag := strings.Replace(etag, "-br", "-gzip", 1)
	for _, tc := range []struct {
		name, inm string
		want      int
	}{
		{"same tag", etag, http.StatusNotModified},
		{"weak tag", "W/" + etag, http.StatusNotModified},
		{"other encoding of the same version", gzTag, http.StatusNotModified},
		{"list with the tag", `"old", ` + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"old version", `"0123456789abcdef0123456789abcdef-br"`, http.StatusOK},
		{"none", "", http.StatusOK},
	} {
		rec := staticGet(t, site, http.MethodGet, "/", "Accept-Encoding", "br", "If-None-Match", tc.inm)
		if rec.Code != tc.want {
			t.Errorf("%s (If-None-Match %q): got %d, want %d", tc.name, tc.inm, rec.Code, tc.want)
			continue
		}
		if tc.want == http.StatusNotModified {
			if rec.Body.Len() != 0 {
				t.Errorf("%s: got %d body bytes with 304, want 0", tc.name, rec.Body.Len())
			}
			for _, h := range []string{"ETag", "Cache-Control", "Vary"} {
				if rec.Header().Get(h) == "" {
					t.Errorf("%s: 304 has no %s, want it (RFC 9110 §15.4.5)", tc.name, h)
				}
			}
		}
	}
}

// index.html has no inline script the Content-Security-Policy
// (script-src 'self') would block.
func TestStaticUnderSecurityHeaders(t *testing.T) {
	site := mustStaticSite(t)
	html := string(site.byPath["index.html"].body)
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, "src=") {
			t.Errorf("index.html: got inline script %q, want only src= scripts (CSP script-src 'self')", m)
		}
	}
	if strings.Contains(html, "importmap") {
		t.Errorf("index.html: got an import map, want none (it would be an inline script)")
	}
}

// BenchmarkStaticStartup measures building the site from the embedded UI
// (hashing, rewriting, gzip and brotli), which every
// start of the server pays once.
func BenchmarkStaticStartup(b *testing.B) {
	for b.Loop() {
		mustStaticSite(b)
	}
}

// The service worker precaches the page, the stylesheets and the shell
// modules by their hashed URLs, not the officers' review code, and its
// bytes change with the shell (so browsers see an update).
func TestStaticServiceWorkerShell(t *testing.T) {
	site := mustStaticSite(t)
	sw := site.byPath["sw.js"]
	if sw == nil || sw.immutable {
		t.Fatalf("sw.js: got %+v, want a stable (not hashed) file", sw)
	}
	m := regexp.MustCompile(`const SHELL = (\[[^\]]*\]);`).FindSubmatch(sw.body)
	if m == nil {
		t.Fatalf("sw.js: got no filled-in SHELL list")
	}
	var shell []string
	if err := json.Unmarshal(m[1], &shell); err != nil {
		t.Fatalf("sw.js SHELL %s: %v", m[1], err)
	}
	total := 0
	has := map[string]bool{}
	for _, u := range shell {
		p := strings.TrimPrefix(u, "./")
		if p == "" {
			p = "index.html"
		}
		f := site.byPath[p]
		if f == nil {
			t.Errorf("SHELL names %q: got no such file, want one", u)
			continue
		}
		if p != "index.html" && p != f.hashed {
			t.Errorf("SHELL names %q: got a plain name, want the hashed one", u)
		}
		has[f.name] = true
		total += len(f.br)
	}
	for _, want := range []string{"index.html", "app.js", "app.css", "views/login.js", "views/cases.js", "views/case.js", "views/newcase.js", "uploads.js"} {
		if !has[want] {
			t.Errorf("SHELL: got no %s, want it", want)
		}
	}
	for _, not := range []string{"views/review/workspace.js", "views/live.js", "views/join.js"} {
		if has[not] {
			t.Errorf("SHELL: got %s, want it left to the officers' first visit", not)
		}
	}
	// The video player and PDF pager load when a file is first opened
	// (views/viewer.js); the files they show need the network anyway.
	for _, not := range []string{"views/player.js", "views/pdfviewer.js", "views/watermark.js"} {
		if has[not] {
			t.Errorf("SHELL: got %s, want it left to the first file opened", not)
		}
	}
	t.Logf("shell: %d files, %d bytes brotli", len(shell), total)
	if got := staticGet(t, site, http.MethodGet, "/sw.js").Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("GET /sw.js Cache-Control: got %q, want no-cache", got)
	}
}

// TestStaticBigFileBestBrotli: a big module (strings.js, which every page
// after the login form loads) is served at brotli's best level, smaller than the usual
// level gives, and still decodes to the file.
func TestStaticBigFileBestBrotli(t *testing.T) {
	fsys, err := web.FS()
	if err != nil {
		t.Fatalf("web.FS(): %v", err)
	}
	body, err := fs.ReadFile(fsys, "strings.js")
	if err != nil {
		t.Fatalf("read strings.js: %v", err)
	}
	if len(body) < staticBigFile {
		t.Fatalf("strings.js: got %d bytes, want ≥ %d for this test to mean anything", len(body), staticBigFile)
	}
	f, err := newStaticFile("strings.js", "", body)
	if err != nil {
		t.Fatalf("newStaticFile: %v", err)
	}
	var usual bytes.Buffer
	bw := brotli.NewWriterLevel(&usual, staticBrotliLevel)
	if _, err := bw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.br) == 0 || len(f.br) >= usual.Len() {
		t.Errorf("strings.js brotli: got %d bytes, want fewer than level %d's %d", len(f.br), staticBrotliLevel, usual.Len())
	}
	got, err := io.ReadAll(brotli.NewReader(bytes.NewReader(f.br)))
	if err != nil {
		t.Fatalf("decode strings.js brotli: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("strings.js brotli decodes to %d bytes, want the file's %d", len(got), len(body))
	}
	again, err := newStaticFile("strings.js", "", body)
	if err != nil {
		t.Fatalf("newStaticFile again: %v", err)
	}
	if !bytes.Equal(again.br, f.br) {
		t.Errorf("second start: got a different brotli copy (%d bytes), want the cached %d", len(again.br), len(f.br))
	}
	t.Logf("strings.js: %d bytes, brotli %d (level %d would give %d)", len(body), len(f.br), staticBrotliLevel, usual.Len())
}
