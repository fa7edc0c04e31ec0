package web

import (
	"io/fs"
	"maps"
	"path"
	"regexp"
	"strings"
	"testing"
)

func mustFS(tb testing.TB) fs.FS {
	tb.Helper()
	fsys, err := FS()
	if err != nil {
		tb.Fatalf("FS(): %v", err)
	}
	return fsys
}

func mustRead(tb testing.TB, fsys fs.FS, name string) string {
	tb.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// jsFiles lists every module in the UI tree.
func jsFiles(tb testing.TB, fsys fs.FS) []string {
	tb.Helper()
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".js") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		tb.Fatalf("walk: %v", err)
	}
	return files
}

func TestIndexIsAtTheRoot(t *testing.T) {
	fsys := mustFS(t)
	index := mustRead(t, fsys, "index.html")
	for _, want := range []string{`name="viewport"`, `type="module" src="app.js"`, `href="app.css"`} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html: got no %q, want it", want)
		}
	}
	for _, name := range []string{"app.js", "app.css"} {
		if _, err := fs.Stat(fsys, name); err != nil {
			t.Errorf("stat %s: got %v, want the file", name, err)
		}
	}
}

// A module that imports a missing file fails only in the browser; catch it
// here: static imports, dynamic imports of a view and the files a module
// names with new URL(…, import.meta.url).
func TestEveryImportResolves(t *testing.T) {
	fsys := mustFS(t)
	importRE := regexp.MustCompile(`(?m)^import .* from '(\.[^']+)';|\bimport\('(\.[^']+)'\)|\bnew URL\('(\.[^']+)', import\.meta\.url\)`)
	files := jsFiles(t, fsys)
	if len(files) < 8 {
		t.Fatalf("got %d modules, want at least 8", len(files))
	}
	for _, file := range files {
		for _, m := range importRE.FindAllStringSubmatch(mustRead(t, fsys, file), -1) {
			spec := m[1] + m[2] + m[3] // one group matched
			target := path.Join(path.Dir(file), spec)
			if _, err := fs.Stat(fsys, target); err != nil {
				t.Errorf("%s imports %s: got %v, want the file", file, spec, err)
			}
		}
	}
}

// Every literal key passed to t() must exist in the table with both languages.
func TestEveryMessageKeyIsTranslated(t *testing.T) {
	fsys := mustFS(t)
	table := mustRead(t, fsys, "i18n.js")
	entryRE := regexp.MustCompile(`(?m)^  '([\w.]+)': \{ zh: '[^']+', en: '[^']+' \},$`)
	core := map[string]bool{} // the login page's words
	for _, m := range entryRE.FindAllStringSubmatch(table, -1) {
		core[m[1]] = true
	}
	if len(core) < 20 {
		t.Fatalf("got %d complete entries in i18n.js, want at least 20", len(core))
	}
	keys := maps.Clone(core)
	// The pages after the login form bring their words (addMessages in
	// strings.js and in some views), in the same one-line format, so the
	// login page carries less.
	files := jsFiles(t, fsys)
	for _, file := range files {
		if file == "i18n.js" || !strings.Contains(mustRead(t, fsys, file), "addMessages(") {
			continue
		}
		for _, m := range entryRE.FindAllStringSubmatch(mustRead(t, fsys, file), -1) {
			keys[m[1]] = true
		}
	}
	if len(keys) < 500 {
		t.Fatalf("got %d complete entries in i18n.js and the files that add theirs, want at least 500", len(keys))
	}
	useRE := regexp.MustCompile(`\bt\('([\w.]+)'[,)]`)
	for _, file := range files {
		for _, m := range useRE.FindAllStringSubmatch(mustRead(t, fsys, file), -1) {
			if !keys[m[1]] {
				t.Errorf("%s uses t(%q): got no complete zh/en entry, want one", file, m[1])
			}
		}
	}
	// The login page draws before strings.js loads: the modules it runs
	// (app.js and what it imports statically) find their words in i18n.js.
	staticRE := regexp.MustCompile(`(?m)^import .* from '(\.[^']+)';`)
	queue := []string{"app.js"}
	for seen := map[string]bool{}; len(queue) > 0; queue = queue[1:] {
		file := queue[0]
		if seen[file] {
			continue
		}
		seen[file] = true
		src := mustRead(t, fsys, file)
		for _, m := range staticRE.FindAllStringSubmatch(src, -1) {
			queue = append(queue, path.Join(path.Dir(file), m[1]))
		}
		for _, m := range useRE.FindAllStringSubmatch(src, -1) {
			if !core[m[1]] {
				t.Errorf("%s (on the login page) uses t(%q): got it only after strings.js loads, want it in i18n.js", file, m[1])
			}
		}
	}
	// errorText falls back on codes of its own table by name: each must be
	// in it, or the login page's error would be a TypeError.
	codeRE := regexp.MustCompile(`(?m)^  (\w+): \{ zh: '[^']+', en: '[^']+' \},$`)
	own := map[string]bool{}
	for _, m := range codeRE.FindAllStringSubmatch(table, -1) {
		own[m[1]] = true
	}
	used := regexp.MustCompile(`\bcodes\.(\w+)\[`).FindAllStringSubmatch(table, -1)
	if len(used) < 5 {
		t.Fatalf("got %d codes.<name>[…] uses in i18n.js, want errorText's fallbacks: is the scan broken?", len(used))
	}
	for _, m := range used {
		if !own[m[1]] {
			t.Errorf("i18n.js uses codes.%s, which its own table lacks", m[1])
		}
	}
	// Keys built at run time from API values must cover every value the API sends.
	for _, prefix := range []string{"status.", "role.", "evidence.kind.", "evidence.status.", "upload.state."} {
		found := 0
		for k := range keys {
			if strings.HasPrefix(k, prefix) {
				found++
			}
		}
		if found < 3 {
			t.Errorf("prefix %q: got %d keys, want at least 3", prefix, found)
		}
	}
}
