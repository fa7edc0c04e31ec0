package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/bits"
	"mime"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// The UI is served the way a CDN would serve a built front end, without a
// build step: at start-up every embedded file gets a content hash, a gzip
// and a brotli copy, and a second URL with the hash in its name
// (app.js → app.1a2b3c4d5e6f.js). Modules and index.html are rewritten to
// point at the hashed URLs, so a browser may keep them for a year
// ("immutable") and a release changes the URL of exactly the files that
// changed, and of the modules that import them. Only the entry points keep
// a stable URL, revalidated on every visit with an ETag: index.html (and
// "/"), the service worker and the web app manifest.
//
// Rewriting import specifiers, rather than an import map, keeps the page
// free of inline scripts: the Content-Security-Policy (script-src 'self')
// would block an inline <script type="importmap">, and browsers do not load
// import maps from a URL.

// Cache-Control values: hashed URLs never change; everything else is
// checked with the server on each use (RFC 9111 §5.2.2.4, and RFC 8246
// for immutable).
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// staticStable are the files whose URL must not change between releases:
// the page itself, the service worker (browsers look for updates at the
// URL it was registered with) and the manifest (an installed app keeps its
// URL). They are served with no-cache and an ETag, and never hashed.
var staticStable = map[string]bool{
	"index.html":           true,
	"sw.js":                true,
	"manifest.webmanifest": true,
}

// staticShellPlaceholder in sw.js is replaced at start-up by the JSON list
// of the hashed URLs the service worker precaches, so its bytes (and so
// the browser's update check) change whenever the app shell changes.
const staticShellPlaceholder = "[/*SHELL*/]"

// staticShellEntries are the modules, with everything they import
// statically, that make up the app shell: the page, the start-up module,
// the words of the pages after the login form (strings.js, which app.js
// imports when the first such page opens) and the views an applicant with
// no signal needs to open the app.
var staticShellEntries = []string{"app.js", "strings.js", "views/login.js", "views/cases.js", "views/case.js", "views/newcase.js"}

// importRE finds the relative specifiers of static imports and re-exports
// (from '…', import '…') and of dynamic imports with a literal specifier
// (import('…')). Bare specifiers and URLs are left alone.
var importRE = regexp.MustCompile(`(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}/[^'"\s]+)(['"])`)

// assetURLRE finds the files a module names with new URL('./x',
// import.meta.url), the standard way for a module to refer to a file next
// to it (a stylesheet it loads on demand).
var assetURLRE = regexp.MustCompile(`(\bnew URL\(\s*)(['"])(\.{1,2}/[^'"\s]+)(['"]\s*,\s*import\.meta\.url\s*\))`)

// htmlRefRE finds src and href attributes in index.html.
var htmlRefRE = regexp.MustCompile(`\b(src|href)="([^"]+)"`)

// moduleScriptRE finds the start-up module of index.html.
var moduleScriptRE = regexp.MustCompile(`<script type="module" src="([^"]+)"></script>`)

// preloadRE finds the modulepreload links already in index.html.
var preloadRE = regexp.MustCompile(`<link rel="modulepreload" href="([^"]+)">`)

// staticFile is one representation set of a file: its body, the
// compressed copies that are smaller than it, and its headers.
type staticFile struct {
	name      string // path in the UI tree, e.g. "views/login.js"
	hashed    string // the immutable URL path, e.g. "views/login.0a1b2c3d4e5f.js"; "" for a stable file
	ctype     string
	hash      string // hex content hash of the served body
	body      []byte
	gz, br    []byte // nil when compression does not pay
	immutable bool   // served under the hashed name
}

// staticSite serves the processed UI tree. It is built once and only read
// afterwards, so it needs no lock.
type staticSite struct {
	byPath map[string]*staticFile // both plain and hashed paths, without the leading slash
}

// newStaticSite reads the UI tree, hashes, rewrites and compresses it. It
// fails if a module imports a file that does not exist, so a broken
// import stops the server at start-up rather than a page in the field.
func newStaticSite(fsys fs.FS) (*staticSite, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		raw[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: walk UI tree: %w", err)
	}
	if _, ok := raw["index.html"]; !ok {
		return nil, fmt.Errorf("static: no index.html in the UI tree")
	}

	// The direct imports of each module: all of them for the hashes, the
	// static ones alone for the preloads (a dynamic import waits for its
	// route).
	deps, staticDeps := map[string][]string{}, map[string][]string{}
	for name, b := range raw {
		if path.Ext(name) != ".js" || staticStable[name] {
			continue
		}
		refs := append(importRE.FindAllSubmatch(b, -1), assetURLRE.FindAllSubmatch(b, -1)...)
		for _, m := range refs {
			target := path.Join(path.Dir(name), string(m[3]))
			if _, ok := raw[target]; !ok {
				return nil, fmt.Errorf("static: %s refers to %s: no such file", name, m[3])
			}
			if !slices.Contains(deps[name], target) {
				deps[name] = append(deps[name], target)
			}
			// from '…' and import '…' are static; import('…') and new URL are not.
			static := bytes.HasPrefix(m[1], []byte("from")) || !bytes.ContainsAny(m[1], "(")
			if static && !slices.Contains(staticDeps[name], target) {
				staticDeps[name] = append(staticDeps[name], target)
			}
		}
	}

	// A module's hash covers its own bytes and those of every module it
	// reaches, so a change deep in the graph renames every importer on the
	// way up. Hashing the reachable set, not the rewritten text, stays
	// well defined if modules import each other in a cycle.
	rawHash := map[string]string{}
	for name, b := range raw {
		sum := sha256.Sum256(b)
		rawHash[name] = hex.EncodeToString(sum[:])
	}
	hashed := map[string]string{}
	for name := range raw {
		if staticStable[name] {
			continue
		}
		h := sha256.New()
		for _, dep := range closure(deps, name) {
			fmt.Fprintf(h, "%s %s\n", dep, rawHash[dep])
		}
		hashed[name] = hashedName(name, hex.EncodeToString(h.Sum(nil))[:12])
	}

	site := &staticSite{byPath: map[string]*staticFile{}}
	for name, b := range raw {
		switch {
		case name == "index.html":
			b, err = rewriteIndex(b, staticDeps, hashed)
		case name == "sw.js":
			b, err = rewriteServiceWorker(b, staticDeps, hashed)
		case path.Ext(name) == ".js":
			b = rewriteImports(name, b, hashed)
		}
		if err != nil {
			return nil, fmt.Errorf("static: %s: %w", name, err)
		}
		f, err := newStaticFile(name, hashed[name], b)
		if err != nil {
			return nil, fmt.Errorf("static: %s: %w", name, err)
		}
		site.byPath[name] = f
		if f.immutable {
			site.byPath[f.hashed] = f
		}
	}
	return site, nil
}

// closure lists name and every module it reaches through deps, sorted.
func closure(deps map[string][]string, names ...string) []string {
	seen := map[string]bool{}
	stack := slices.Clone(names)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, deps[n]...)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// hashedName puts the hash before the extension: views/a.js → views/a.<hash>.js.
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// rewriteImports points each relative specifier and new URL of module
// name at the hashed file, keeping it relative so the UI works under any path prefix.
func rewriteImports(name string, b []byte, hashed map[string]string) []byte {
	return rewriteRefs(assetURLRE, name, rewriteRefs(importRE, name, b, hashed), hashed)
}

// rewriteRefs rewrites the specifiers (group 3) that re finds.
func rewriteRefs(re *regexp.Regexp, name string, b []byte, hashed map[string]string) []byte {
	return re.ReplaceAllFunc(b, func(m []byte) []byte {
		sm := re.FindSubmatch(m)
		spec := string(sm[3])
		target := path.Join(path.Dir(name), spec)
		newSpec := path.Join(path.Dir(spec), path.Base(hashed[target]))
		if !strings.HasPrefix(newSpec, ".") {
			newSpec = "./" + newSpec
		}
		return slices.Concat(sm[1], sm[2], []byte(newSpec), sm[4])
	})
}

// rewriteIndex points src and href at hashed files and adds a
// modulepreload link for every module the start-up module and the listed
// preloads import statically, so the browser fetches them all in one round
// instead of discovering them one import level at a time.
func rewriteIndex(b []byte, deps map[string][]string, hashed map[string]string) ([]byte, error) {
	entry := moduleScriptRE.FindSubmatch(b)
	if entry == nil {
		return nil, fmt.Errorf(`no <script type="module" src="…"></script>`)
	}
	roots := []string{string(entry[1])}
	have := map[string]bool{string(entry[1]): true}
	for _, m := range preloadRE.FindAllSubmatch(b, -1) {
		roots = append(roots, string(m[1]))
		have[string(m[1])] = true
	}
	var links bytes.Buffer
	for _, dep := range closure(deps, roots...) {
		if !have[dep] {
			fmt.Fprintf(&links, "<link rel=\"modulepreload\" href=\"%s\">\n  ", dep)
		}
	}
	at := bytes.Index(b, entry[0])
	b = slices.Concat(b[:at], links.Bytes(), b[at:])
	var missing error
	b = htmlRefRE.ReplaceAllFunc(b, func(m []byte) []byte {
		sm := htmlRefRE.FindSubmatch(m)
		ref := string(sm[2])
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "#") {
			return m
		}
		name := path.Clean(ref)
		if staticStable[name] {
			return m
		}
		h, ok := hashed[name]
		if !ok {
			missing = fmt.Errorf("%s=%q: no such file", sm[1], ref)
			return m
		}
		return []byte(fmt.Sprintf(`%s="%s"`, sm[1], h))
	})
	return b, missing
}

// rewriteServiceWorker fills in the list of hashed URLs the service
// worker precaches: the stylesheets and the shell modules with their
// static imports.
func rewriteServiceWorker(b []byte, deps map[string][]string, hashed map[string]string) ([]byte, error) {
	if !bytes.Contains(b, []byte(staticShellPlaceholder)) {
		return nil, fmt.Errorf("no %s placeholder", staticShellPlaceholder)
	}
	shell := []string{"./"}
	for name, h := range hashed {
		if path.Ext(name) == ".css" {
			shell = append(shell, "./"+h)
		}
	}
	for _, name := range closure(deps, staticShellEntries...) {
		h, ok := hashed[name]
		if !ok {
			return nil, fmt.Errorf("shell module %s: no such file", name)
		}
		shell = append(shell, "./"+h)
	}
	slices.Sort(shell)
	list, err := json.Marshal(shell)
	if err != nil {
		return nil, fmt.Errorf("shell list: %w", err)
	}
	return bytes.Replace(b, []byte(staticShellPlaceholder), list, 1), nil
}

// compressible are the types worth compressing; images and media are
// compressed already.
func compressible(ctype string) bool {
	base, _, _ := strings.Cut(ctype, ";")
	return strings.HasPrefix(base, "text/") || strings.HasSuffix(base, "json") ||
		strings.HasSuffix(base, "javascript") || strings.HasSuffix(base, "+xml")
}

// Compression levels. Every start of the server (and of each test that
// starts one) compresses the whole UI, about 340 KB. Measured on the
// 2-core build machine for the whole tree: brotli 5 took 64 ms for 110 KB,
// brotli 9 433 ms for 109 KB, brotli 11 1.75 s for 100 KB; gzip 6 took
// 20 ms for 117 KB and gzip 9 44 ms for 117 KB. The best levels would save
// under 10 % of the bytes for a start-up twenty times slower.
//
// A file of staticBigFile bytes or more (today only strings.js, which
// every page after the login form loads) gets brotli's best level instead:
// for the words it holds (then in i18n.js) it took 204 ms for 24,211 bytes
// against 6 ms for 26,950 at level 5. The result
// is kept for the life of the process by content hash, so tests that
// start many servers pay for it once.
const (
	staticBrotliLevel     = 5
	staticBrotliBestLevel = 11
	staticBigFile         = 32 << 10
	staticGzipLevel       = gzip.DefaultCompression
)

// bestBrotli holds the best-level brotli copies of big files, by the
// SHA-256 of their bodies.
var bestBrotli sync.Map // [32]byte -> []byte

// brotliBody compresses body at the level its size calls for.
func brotliBody(body []byte, sum [32]byte) ([]byte, error) {
	level := staticBrotliLevel
	if len(body) >= staticBigFile {
		if v, ok := bestBrotli.Load(sum); ok {
			return v.([]byte), nil
		}
		level = staticBrotliBestLevel
	}
	var br bytes.Buffer
	// A window no larger than the file: the same bytes out, and a quarter
	// of the memory at the best level (96 KB of words: 11 MiB allocated instead
	// of 41 MiB with the default 4 MiB window), which would otherwise stay
	// in the server's peak RSS.
	lgwin := min(max(bits.Len(uint(len(body)+16)), 10), 24)
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: level, LGWin: lgwin})
	if _, err := bw.Write(body); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	if err := bw.Close(); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	if level == staticBrotliBestLevel {
		bestBrotli.Store(sum, br.Bytes())
	}
	return br.Bytes(), nil
}

// newStaticFile builds the served representations of one file.
func newStaticFile(name, hashed string, body []byte) (*staticFile, error) {
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".webmanifest":
		ctype = "application/manifest+json"
	}
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	sum := sha256.Sum256(body)
	f := &staticFile{
		name: name, hashed: hashed, ctype: ctype, body: body,
		hash: hex.EncodeToString(sum[:16]), immutable: hashed != "",
	}
	if !compressible(ctype) || len(body) < 256 {
		return f, nil
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, staticGzipLevel)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if gz.Len() < len(body) {
		f.gz = gz.Bytes()
	}
	br, err := brotliBody(body, sum)
	if err != nil {
		return nil, err
	}
	if len(br) < len(body) {
		f.br = br
	}
	return f, nil
}

// ServeHTTP answers GET and HEAD for the UI: the best encoding the client
// accepts, the file's cache policy and 304 Not Modified when its
// If-None-Match names the current version.
func (s *staticSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if p == "" {
		p = "index.html"
	}
	f, ok := s.byPath[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, coding := f.body, ""
	switch pickEncoding(r.Header.Get("Accept-Encoding"), f.br != nil, f.gz != nil) {
	case "br":
		body, coding = f.br, "br"
	case "gzip":
		body, coding = f.gz, "gzip"
	}
	h := w.Header()
	if f.br != nil || f.gz != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	// A strong ETag names one representation (RFC 9110 §8.8.3), so each
	// encoding gets its own.
	etag := `"` + f.hash + `"`
	if coding != "" {
		etag = `"` + f.hash + "-" + coding + `"`
	}
	h.Set("ETag", etag)
	if f.immutable && p == f.hashed {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheRevalidate)
	}
	if etagMatches(r.Header.Get("If-None-Match"), f.hash) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ctype)
	if coding != "" {
		h.Set("Content-Encoding", coding)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// pickEncoding chooses br over gzip over identity among the codings the
// Accept-Encoding header allows (RFC 9110 §12.5.3): a coding with q=0 is
// refused, "*" stands for any coding not named.
func pickEncoding(header string, haveBr, haveGzip bool) string {
	q := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		weight := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					weight = f
				}
			}
		}
		q[coding] = weight
	}
	allowed := func(coding string) bool {
		if w, ok := q[coding]; ok {
			return w > 0
		}
		w, ok := q["*"]
		return ok && w > 0
	}
	switch {
	case haveBr && allowed("br"):
		return "br"
	case haveGzip && (allowed("gzip") || allowed("x-gzip")):
		return "gzip"
	}
	return ""
}

// etagMatches reports whether an If-None-Match header names the file in
// any of its encodings, or is "*". If-None-Match uses the weak comparison
// (RFC 9110 §13.1.2), so a W/ prefix (which some proxies add when they
// recompress) still matches.
func etagMatches(header, hash string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" {
			return true
		}
		tag = strings.Trim(tag, `"`)
		base, _, _ := strings.Cut(tag, "-")
		if base == hash {
			return true
		}
	}
	return false
}
