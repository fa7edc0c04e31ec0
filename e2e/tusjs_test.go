package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/internal/harness"
)

const tusJSVersion = "4.3.1"

// tusJSScript drives tus-js-client from the command line, one phase per
// run so the test can look at the server in between:
//
//	node tus.js start FILE ENDPOINT   uploads until a chunk is accepted, aborts, prints the URL
//	node tus.js resume FILE URL       resumes that upload to the end
//	node tus.js whole FILE ENDPOINT OPTIONS  uploads the whole file with extra options (JSON)
//
// It prints one JSON object per line; SITEINSPECT_TOKEN is the bearer token.
const tusJSScript = `'use strict'
const fs = require('fs')
const tus = require('tus-js-client')

const [mode, file, target, extraJSON] = process.argv.slice(2)
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const fail = (err) => { say({ event: 'error', message: String(err) }); process.exit(1) }

function options (extra) {
  return Object.assign({
    uploadSize: fs.statSync(file).size,
    chunkSize: 1 << 20,
    headers: { Authorization: 'Bearer ' + process.env.SITEINSPECT_TOKEN },
    metadata: { filename: 'site-walk.mp4', filetype: 'video/mp4' },
    // Fail at once: the test wants to see errors, not hide them in retries.
    retryDelays: null,
    onBeforeRequest (req) {
      if (req.getMethod() === 'PATCH') say({ event: 'patch', offset: Number(req.getHeader('Upload-Offset')) })
    },
    onError: fail
  }, extra)
}

if (mode === 'start') {
  let stopping = false
  const upload = new tus.Upload(fs.createReadStream(file), options({
    endpoint: target,
    onChunkComplete (chunkSize, accepted) {
      if (stopping) return
      stopping = true
      upload.abort().then(() => { say({ event: 'aborted', url: upload.url, accepted }); process.exit(0) }, fail)
    },
    onSuccess () { fail(new Error('the upload finished before it could be aborted')) }
  }))
  upload.start()
} else if (mode === 'resume') {
  const upload = new tus.Upload(fs.createReadStream(file), options({
    uploadUrl: target,
    onSuccess ({ lastResponse }) {
      say({ event: 'success', url: upload.url, evidence_id: lastResponse.getHeader('Evidence-Id') })
      process.exit(0)
    }
  }))
  upload.start()
} else if (mode === 'whole') {
  // "stream": true reads the file as a plain stream of unknown length (as
  // from a recorder) instead of a file tus-js-client may slice.
  const extra = JSON.parse(extraJSON || '{}')
  const source = extra.stream ? fs.createReadStream(file).pipe(new (require('stream').PassThrough)()) : fs.createReadStream(file)
  delete extra.stream
  const upload = new tus.Upload(source, options(Object.assign({
    endpoint: target,
    onSuccess ({ lastResponse }) {
      say({ event: 'success', url: upload.url, evidence_id: lastResponse.getHeader('Evidence-Id') })
      process.exit(0)
    }
  }, extra)))
  upload.start()
} else {
  fail(new Error('usage: node tus.js start|resume|whole FILE URL [OPTIONS]'))
}
`

// mustTusJS returns a folder whose node_modules holds tus-js-client. It is
// installed once into the OS temp folder and reused by later runs; a run
// that finds it missing installs into a fresh folder and renames it into
// place, so concurrent runs never see half an install.
func mustTusJS(tb testing.TB) string {
	tb.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("%s is not installed: the tus-js-client interop test needs Node 20 and npm (`make test` installs them via scripts/deps.sh)", tool)
		}
	}
	cache := filepath.Join(os.TempDir(), "siteinspect-tus-js-client-"+tusJSVersion)
	installed := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "tus-js-client", "package.json"))
		var pkg struct{ Version string }
		return err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Version == tusJSVersion
	}
	if installed(cache) {
		return cache
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "siteinspect-tus-js-client-install-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", "tus-js-client@"+tusJSVersion).CombinedOutput()
	if err != nil || !installed(tmp) {
		tb.Fatalf("npm install tus-js-client@%s: %v\n%s", tusJSVersion, err, out)
	}
	// A broken or other-version leftover goes; a copy another test
	// process installed meanwhile, perhaps in use, stays.
	if !installed(cache) {
		os.RemoveAll(cache)
	}
	if err := os.Rename(tmp, cache); err != nil && !installed(cache) {
		tb.Fatalf("install tus-js-client into %s: %v", cache, err)
	}
	return cache
}

// tusJSEvent is one line the script prints.
type tusJSEvent struct {
	Event      string `json:"event"`
	URL        string `json:"url"`
	Offset     int64  `json:"offset"`
	Accepted   int64  `json:"accepted"`
	EvidenceID string `json:"evidence_id"`
	Message    string `json:"message"`
}

// mustRunTusJS runs one phase of the script and returns what it printed.
func mustRunTusJS(tb testing.TB, modules, script, token string, args ...string) []tusJSEvent {
	tb.Helper()
	// Long enough for 200 MiB on a busy two-core machine.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(modules, "node_modules"), "SITEINSPECT_TOKEN="+token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, &stderr)
	}
	var events []tusJSEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e tusJSEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatalf("node %s printed %q: %v", args[0], sc.Text(), err)
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		tb.Fatalf("node %s: got no output, want JSON lines\nstderr:\n%s", args[0], &stderr)
	}
	return events
}

// TestTusJSClientInterop uploads with the official tus-js-client in Node:
// it aborts after the first chunk, then a new client resumes from the URL
// alone, as a browser would after a reload.
func TestTusJSClientInterop(t *testing.T) {
	modules := mustTusJS(t)
	dir := t.TempDir()
	file, data := mustNoisyMP4(t, dir, "0.5")
	if len(data) < 3<<20 {
		t.Fatalf("test video: got %d bytes, want over 3 MiB (several 1 MiB chunks)", len(data))
	}
	script := filepath.Join(dir, "tus.js")
	if err := os.WriteFile(script, []byte(tusJSScript), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.StartServer(t, harness.S3Args(t)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()

	first := mustRunTusJS(t, modules, script, app.Token, "start", file, p.URL+"/api/v1/cases/"+cs.ID+"/uploads")
	last := first[len(first)-1]
	if last.Event != "aborted" || !strings.HasPrefix(last.URL, p.URL+"/api/v1/uploads/") || last.Accepted <= 0 || last.Accepted >= int64(len(data)) {
		t.Fatalf("first run: got %+v, want an abort with an upload URL under %s after 0 < n < %d bytes", first, p.URL, len(data))
	}
	loc := strings.TrimPrefix(last.URL, p.URL)
	waitIdle(t, p.URL)
	off := app.Offset(loc)
	if off != last.Accepted {
		t.Fatalf("offset after the abort: got %d, want %d, what the client saw accepted", off, last.Accepted)
	}

	second := mustRunTusJS(t, modules, script, app.Token, "resume", file, last.URL)
	var patches []int64
	for _, e := range second {
		if e.Event == "patch" {
			patches = append(patches, e.Offset)
		}
	}
	done := second[len(second)-1]
	if len(patches) == 0 || patches[0] != off || done.Event != "success" || done.EvidenceID == "" || done.URL != last.URL {
		t.Fatalf("resumed run: got %+v, want PATCHes from %d and success with an Evidence-Id at %s", second, off, last.URL)
	}
	t.Logf("aborted at %d of %d bytes; resumed with PATCHes at %v", off, len(data), patches)
	mustEvidence(t, app, cs.ID, loc, done.EvidenceID, data)
}
