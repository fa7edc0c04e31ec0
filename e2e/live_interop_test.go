package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// whipWhepVersion is the WHIP client the interop test runs: medooze's
// whip-whep (github.com/medooze/whip-whep-js), a plain ES module with no
// imports, so Chromium loads it straight from node_modules.
const whipWhepVersion = "1.2.0"

// livePageJS is the test page's script. It publishes the fake camera and
// microphone with sendonly transceivers, either through whip-whep's
// WHIPClient (publishLib) or through a minimal WHIP client of its own
// (publishPlain: one fetch POST of a complete offer, as docs/LIVE.md
// describes for phones). window.live tells the test what happened, with
// times as epoch milliseconds (Date.now), the clock Go's time.Now reads too.
const livePageJS = `
const live = window.live = { states: [], connectedAt: 0, stoppedAt: 0, resource: '' };
let pc, client;

async function camera () {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: true });
  pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  // addEventListener, not onconnectionstatechange: WHIPClient sets that.
  pc.addEventListener('connectionstatechange', () => {
    live.states.push(pc.connectionState);
    if (pc.connectionState === 'connected' && !live.connectedAt) live.connectedAt = Date.now();
  });
}

window.publishLib = async (url, token) => {
  const { WHIPClient } = await import('./whip.js');
  await camera();
  client = new WHIPClient();
  await client.publish(pc, url, token);
  live.resource = client.resourceURL.href;
  return true;
};

window.stopLib = async () => {
  live.stoppedAt = Date.now();
  await client.stop(); // closes the PeerConnection, then DELETEs the resource
  return true;
};

window.publishPlain = async (url, token) => {
  await camera();
  await pc.setLocalDescription(await pc.createOffer());
  // No trickle: wait for every candidate, so the offer carries them all.
  await new Promise((resolve) => {
    const done = () => pc.iceGatheringState === 'complete' && resolve();
    pc.addEventListener('icegatheringstatechange', done);
    done();
  });
  const resp = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
    body: pc.localDescription.sdp
  });
  if (resp.status !== 201) throw new Error('WHIP POST: ' + resp.status + ' ' + await resp.text());
  live.resource = new URL(resp.headers.get('Location'), url).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
  return true;
};

// sent says what the browser is sending: codec and encoder per kind.
window.sent = async () => {
  const stats = [...(await pc.getStats()).values()];
  const out = [];
  for (const s of stats.filter((s) => s.type === 'outbound-rtp')) {
    const codec = stats.find((c) => c.id === s.codecId);
    out.push(s.kind + ' ' + (codec ? codec.mimeType : '?') + (s.encoderImplementation ? ' (' + s.encoderImplementation + ')' : '') +
      ' ' + (s.framesEncoded !== undefined ? s.framesEncoded + ' frames, ' : '') + s.packetsSent + ' packets');
  }
  return out.join('; ');
};

window.videoPacketsSent = async () => {
  let n = 0;
  for (const s of (await pc.getStats()).values()) if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.packetsSent;
  return n;
};
`

// livePage is the state window.live reports.
type livePage struct {
	States      []string `json:"states"`
	ConnectedAt int64    `json:"connectedAt"`
	StoppedAt   int64    `json:"stoppedAt"`
	Resource    string   `json:"resource"`
}

// serveLivePage serves the test page at / and, when modules is set,
// whip-whep's whip.js from its node_modules, on a port of its own: the
// page publishes cross-origin, as a WHIP client on another site would,
// which needs the WHIP endpoints' CORS headers.
func serveLivePage(t *testing.T, modules string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>WHIP test</title><script type=module>%s</script>", livePageJS)
	})
	if modules != "" {
		mux.HandleFunc("GET /whip.js", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(modules, "node_modules", "whip-whep", "whip.js"))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// mustWhipWhep returns a folder whose node_modules holds whip-whep,
// installed once into the OS temp folder (never into the repo) and reused,
// as mustTusJS does; `scripts/deps.sh test` puts it there beforehand. It
// fails the test when it is missing and cannot be installed: an interop
// test that skips itself offline would pass without ever running.
func mustWhipWhep(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("npm is not installed: the whip-whep interop test needs it (`make test` installs it via scripts/deps.sh)")
	}
	cache := filepath.Join(os.TempDir(), "siteinspect-whip-whep-"+whipWhepVersion)
	installed := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "whip-whep", "package.json"))
		var pkg struct{ Version string }
		_, jsErr := os.Stat(filepath.Join(dir, "node_modules", "whip-whep", "whip.js"))
		return err == nil && jsErr == nil && json.Unmarshal(b, &pkg) == nil && pkg.Version == whipWhepVersion
	}
	if installed(cache) {
		return cache
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "siteinspect-whip-whep-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", "whip-whep@"+whipWhepVersion).CombinedOutput()
	if err != nil || !installed(tmp) {
		t.Fatalf("whip-whep@%s is not in %s and npm could not install it (run scripts/deps.sh test where the registry is reachable): %v\n%s", whipWhepVersion, cache, err, out)
	}
	// A broken or other-version leftover goes; a copy another test
	// process installed meanwhile, perhaps in use, stays.
	if !installed(cache) {
		os.RemoveAll(cache)
	}
	if err := os.Rename(tmp, cache); err != nil && !installed(cache) {
		t.Fatalf("install whip-whep into %s: %v", cache, err)
	}
	return cache
}

// mustFakeCamera makes the video Chromium's fake camera shows: 3 s of
// testsrc at 640x360, 30 fps, which Chromium loops.
func mustFakeCamera(t *testing.T) string {
	t.Helper()
	y4m := filepath.Join(t.TempDir(), "camera.y4m")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-t", "3", "-pix_fmt", "yuv420p", y4m)
	return y4m
}

// liveBrowser is a headless Chromium with a fake camera and microphone, in
// a process group of its own so the test can kill it as a crash would.
type liveBrowser struct {
	*browser
	dataDir string

	// The page's requests to WHIP endpoints in order, "METHOD status".
	whipMu   sync.Mutex
	whipReqs []string
	methods  map[network.RequestID]string
}

// recordWHIP keeps the method and status of each request the page sends
// to the server's WHIP endpoints; with browser.record it is the tab's
// listener. CORS preflights (OPTIONS) are left out.
func (lb *liveBrowser) recordWHIP(ev any) {
	lb.record(ev)
	lb.whipMu.Lock()
	defer lb.whipMu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.Contains(ev.Request.URL, "/api/v1/live/") && ev.Request.Method != http.MethodOptions {
			lb.methods[ev.RequestID] = ev.Request.Method
		}
	case *network.EventResponseReceived:
		if m, ok := lb.methods[ev.RequestID]; ok {
			lb.whipReqs = append(lb.whipReqs, fmt.Sprintf("%s %d", m, ev.Response.Status))
			delete(lb.methods, ev.RequestID) // Chromium cancels unread 204 bodies later: not a failure
		}
	case *network.EventLoadingFailed:
		if m, ok := lb.methods[ev.RequestID]; ok {
			lb.whipReqs = append(lb.whipReqs, fmt.Sprintf("%s failed: %s", m, ev.ErrorText))
		}
	}
}

// whipRequests returns the page's WHIP requests so far.
func (lb *liveBrowser) whipRequests() []string {
	lb.whipMu.Lock()
	defer lb.whipMu.Unlock()
	return slices.Clone(lb.whipReqs)
}

// mustLiveBrowser starts Chromium with the flags of mustBrowser, a fake
// camera showing y4m, and loopback ICE candidates (the sandbox has only
// loopback), and stops it at cleanup. The test fails if the page threw an
// uncaught exception.
func mustLiveBrowser(t *testing.T, y4m string) *liveBrowser {
	t.Helper()
	lb := &liveBrowser{browser: &browser{}, dataDir: t.TempDir(), methods: map[network.RequestID]string{}}
	opts := chromiumOptions(t, lb.dataDir, phoneWidth, phoneHeight,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own group, for kill; Pdeathsig as chromedp's default
			// has it, so a crashed test leaves no browser behind.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(lb.recordWHIP))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		lb.kill() // whatever is left
		lb.mu.Lock()
		defer lb.mu.Unlock()
		for _, line := range lb.console {
			t.Logf("browser console: %s", line)
		}
		for _, e := range lb.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	// The first Run starts the browser and lives as long as its context, so
	// it gets no timeout; the steps after it do.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	lb.ctx = ctx
	lb.end = time.Now().Add(browserBudget)
	return lb
}

// kill SIGKILLs the browser's process group and then, by PID, any process
// still running with its profile folder (Chromium's zygote may leave the
// group; chromedp's killLeftovers looks for them the same way). It returns
// when none is left.
func (lb *liveBrowser) kill() {
	if lb.ctx == nil {
		return // it never started
	}
	if c := chromedp.FromContext(lb.ctx); c != nil && c.Browser != nil {
		if p := c.Browser.Process(); p != nil {
			syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	want := []byte("--user-data-dir=" + lb.dataDir + "\x00")
	for quiet, deadline := 0, time.Now().Add(3*time.Second); quiet < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		quiet++
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(cmdline), string(want)) {
				syscall.Kill(pid, syscall.SIGKILL)
				quiet = 0
			}
		}
	}
}

// page reads window.live.
func (lb *liveBrowser) page(t *testing.T) livePage {
	t.Helper()
	return mustRun(t, lb.browser, "read window.live", chromedp.Evaluate[livePage](`window.live`))
}

// mustPublish opens the test page and publishes with the page function fn
// (publishLib or publishPlain) to the session's WHIP endpoint, then waits
// for the PeerConnection to be connected. It returns the page's state and
// what the browser sends.
func (lb *liveBrowser) mustPublish(t *testing.T, pageURL, fn, whipURL, token string) (livePage, string) {
	t.Helper()
	lb.mustDo(t, "open the test page", chromedp.Navigate(pageURL), chromedp.WaitReady("body"))
	mustPoll[bool](t, lb.browser, "the page script", `() => typeof window.publishPlain === 'function'`)
	mustRun(t, lb.browser, fn, chromedp.Evaluate[bool](fmt.Sprintf(`%s(%q, %q)`, fn, whipURL, token), chromedp.EvalAwaitPromise))
	mustPoll[bool](t, lb.browser, "the PeerConnection to connect", `() => window.live.connectedAt > 0 || null`)
	// Chromium sends its first frames a moment after connecting.
	mustPoll[bool](t, lb.browser, "the first video frames", `async () => (await window.videoPacketsSent()) > 0 || null`)
	return lb.page(t), mustRun(t, lb.browser, "read the stats", chromedp.Evaluate[string](`window.sent()`, chromedp.EvalAwaitPromise))
}

// liveStatus is GET /api/v1/live/{lid} as the test needs it.
type liveStatus struct {
	Status      string `json:"status"`
	Publishing  bool   `json:"publishing"`
	Viewers     int    `json:"viewers"`
	RecordingMS int64  `json:"recording_ms"`
	VideoCodec  string `json:"video_codec"`
}

// mustEndLive ends the session as the inspector and waits for the
// recording to be processed; it returns the ready recording, checked to be
// WebM with its SHA-256, decoding without a single ffmpeg error, with
// strictly increasing video timestamps.
func mustEndLive(t *testing.T, insp *harness.Client, lid string) domain.Evidence {
	t.Helper()
	var ended struct {
		Session  harness.LiveSession `json:"session"`
		Evidence *domain.Evidence    `json:"evidence"`
	}
	insp.MustJSON("POST", "/api/v1/live/"+lid+"/end", nil, http.StatusOK, &ended)
	if ended.Session.Status != "ended" || ended.Evidence == nil || ended.Evidence.Kind != domain.KindRecording {
		t.Fatalf("end: got %+v, want an ended session with a recording", ended)
	}
	rec := insp.MustEvidenceDone(ended.Evidence.ID, time.Minute)
	if rec.Status != domain.EvidenceReady || rec.ContentType != "video/webm" || rec.Media == nil || rec.Media.DurationMS == nil {
		t.Fatalf("recording: got %s %s %+v (%s), want ready video/webm with a duration", rec.Status, rec.ContentType, rec.Media, rec.StatusReason)
	}
	resp := insp.Do("GET", "/api/v1/evidence/"+rec.ID+"/content", nil, nil)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || sha256Hex(b) != rec.SHA256 {
		t.Fatalf("recording content: got %d, %d bytes, sha256 %s (%v); want 200 and sha256 %s", resp.StatusCode, len(b), sha256Hex(b), err, rec.SHA256)
	}
	file := filepath.Join(t.TempDir(), "recording.webm")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Every frame decodes (Chromium's fake camera under load sent frames
	// at 4520 and 4533 ms); the file's timestamps, checked below, increase
	// strictly.
	testenv.MustDecodeClean(t, file)
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe the recording's video packets: %v", err)
	}
	var prev int64 = -1
	for i, f := range strings.Fields(string(out)) {
		pts, err := strconv.ParseInt(f, 10, 64)
		if err != nil || pts <= prev {
			t.Errorf("recording's video packet %d: got pts %q after %d, want a strictly increasing number", i, f, prev)
			break
		}
		prev = pts
	}
	return rec
}

// logServerProblems logs, at cleanup, the server's warnings and errors:
// what a real client provokes that the test's assertions may not see.
func logServerProblems(t *testing.T, p *harness.Proc) {
	t.Cleanup(func() {
		for line := range strings.Lines(p.Log()) {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				t.Logf("server: %s", strings.TrimSpace(line))
			}
		}
	})
}

// TestLiveWHIPClientInterop publishes from Chromium with a WHIP client
// nobody here wrote, whip-whep's WHIPClient: it POSTs an offer without
// candidates, trickles them with PATCH (If-Match: the ETag), reads the
// Link headers and leaves with a DELETE, all cross-origin. A Go WHEP viewer
// receives the video meanwhile, and the recording is clean WebM as long as
// the browser was connected.
func TestLiveWHIPClientInterop(t *testing.T) {
	modules := mustWhipWhep(t)
	y4m := mustFakeCamera(t)
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback"}, harness.S3Args(t)...)...)
	logServerProblems(t, p)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	site := serveLivePage(t, modules)

	b := mustLiveBrowser(t, y4m)
	start, sent := b.mustPublish(t, site.URL+"/", "publishLib", p.URL+ls.PublishURL, ls.PublishToken)
	if !strings.HasPrefix(start.Resource, p.URL+"/api/v1/live/"+ls.ID+"/whip/") {
		t.Errorf("WHIP resource: got %q, want one under %s/api/v1/live/%s/whip/", start.Resource, p.URL, ls.ID)
	}
	var st liveStatus
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &st)
	if !st.Publishing {
		t.Fatalf("session while the browser publishes: got %+v, want publishing", st)
	}
	t.Logf("Chromium sends %s; the server negotiated %s", sent, st.VideoCodec)

	viewer := testenv.View(t, harness.WHEP(t, p.URL, ls.ID, insp.Token))
	defer viewer.PC.Close()
	const publish = 5 * time.Second
	time.Sleep(publish - time.Since(time.UnixMilli(start.ConnectedAt)))
	if n := viewer.VideoPackets.Load(); n == 0 {
		t.Error("the WHEP viewer received no video packets, want some")
	} else {
		t.Logf("the WHEP viewer received %d video and %d audio packets", n, viewer.AudioPackets.Load())
	}

	sent = mustRun(t, b.browser, "read the stats", chromedp.Evaluate[string](`window.sent()`, chromedp.EvalAwaitPromise))
	mustRun(t, b.browser, "stop", chromedp.Evaluate[bool](`stopLib()`, chromedp.EvalAwaitPromise))
	end := b.page(t)
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &st)
	if st.Publishing || st.Status != "open" {
		t.Errorf("session after the client's DELETE: got %+v, want open and not publishing", st)
	}
	viewer.PC.Close()

	rec := mustEndLive(t, insp, ls.ID)
	// The recording starts at the first keyframe, which Chromium sends as
	// soon as the connection is up, and ends when the client closes its
	// PeerConnection, so it lasts from "connected" to stop, as the page
	// measured it; what is lost in flight at either end is a frame or two.
	published := time.Duration(end.StoppedAt-end.ConnectedAt) * time.Millisecond
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	if d := got - published; d < -published/20 || d > published/20 {
		t.Errorf("recording lasts %s; the page was connected for %s (want within 5%%)", got, published)
	}
	// whip-whep POSTs an offer without candidates and trickles them all
	// (RFC 9725 §4.3.1), so the PATCHes must have worked. Its stop()
	// closes the PeerConnection before the DELETE; the server may have
	// seen the DTLS close and dropped the publisher already, and still
	// answers the DELETE of a resource it issued with 200.
	var reqs []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The DevTools events may trail the page's promise a little.
		if reqs = b.whipRequests(); len(reqs) > 0 && strings.HasPrefix(reqs[len(reqs)-1], "DELETE") || time.Now().After(deadline) {
			break
		}
	}
	if n := len(reqs); n < 3 || reqs[0] != "POST 201" || reqs[n-1] != "DELETE 200" ||
		slices.ContainsFunc(reqs[1:n-1], func(r string) bool { return r != "PATCH 204" }) {
		t.Errorf("whip-whep's requests: got %v, want POST 201, PATCH 204 (one or more), DELETE 200", reqs)
	}
	t.Logf("whip-whep %s: %v; connected for %s (%v), sent %s; recording %s (%s/%s), %d bytes",
		whipWhepVersion, reqs, published, end.States, sent, got, rec.Media.VideoCodec, rec.Media.AudioCodec, rec.Size)
}

// TestLivePublisherKilled: Chromium publishing with a plain fetch WHIP POST
// is killed (SIGKILL, as a phone losing power or a crashed tab): no DELETE,
// no DTLS close. The server notices by ICE consent going silent
// (--webrtc-disconnected-timeout, --webrtc-failed-timeout), stops counting
// a publisher, and the recording it stored up to then is clean.
func TestLivePublisherKilled(t *testing.T) {
	y4m := mustFakeCamera(t)
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--webrtc-loopback",
		"--webrtc-disconnected-timeout", "1s", "--webrtc-failed-timeout", "3s"}, harness.S3Args(t)...)...)
	logServerProblems(t, p)
	_, insp, caseID := harness.LiveCase(t, p)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	site := serveLivePage(t, "")

	b := mustLiveBrowser(t, y4m)
	start, sent := b.mustPublish(t, site.URL+"/", "publishPlain", p.URL+ls.PublishURL, ls.PublishToken)
	if !strings.HasPrefix(start.Resource, p.URL+"/api/v1/live/"+ls.ID+"/whip/") {
		t.Errorf("WHIP resource: got %q, want one under %s/api/v1/live/%s/whip/", start.Resource, p.URL, ls.ID)
	}
	const publish = 4 * time.Second
	time.Sleep(publish - time.Since(time.UnixMilli(start.ConnectedAt)))
	sent = mustRun(t, b.browser, "read the stats", chromedp.Evaluate[string](`window.sent()`, chromedp.EvalAwaitPromise))
	var st liveStatus
	insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &st)
	if !st.Publishing {
		t.Fatalf("session while the browser publishes: got %+v, want publishing", st)
	}

	killed := time.Now()
	b.kill()
	published := killed.Sub(time.UnixMilli(start.ConnectedAt))
	var noticed time.Duration
	for deadline := killed.Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		insp.MustJSON("GET", "/api/v1/live/"+ls.ID, nil, http.StatusOK, &st)
		if !st.Publishing {
			noticed = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session 10 s after the browser was killed: got %+v, want not publishing", st)
		}
	}
	if st.Status != "open" {
		t.Errorf("session after its publisher vanished: got status %q, want open (the phone may come back)", st.Status)
	}

	rec := mustEndLive(t, insp, ls.ID)
	// The browser published from "connected" to the kill. The recording
	// may lack what was in flight or still in Chromium's encoder and pacer
	// when it died (up to a few hundred ms), and the samplebuilder drops an
	// incomplete last frame, so allow 1 s or 15 %, whichever is larger. It
	// must not be longer by more than that either: the silence until the
	// server noticed is not recorded.
	got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
	tol := max(time.Second, published*15/100)
	if d := got - published; d < -tol || d > tol {
		t.Errorf("recording lasts %s; the browser published for %s before it was killed (want within %s)", got, published, tol)
	}
	t.Logf("Chromium sent %s; killed after %s; the server noticed in %s; recording %s (%s/%s)",
		sent, published, noticed.Round(time.Millisecond), got, rec.Media.VideoCodec, rec.Media.AudioCodec)
}
