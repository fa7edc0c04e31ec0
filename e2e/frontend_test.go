package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// The slow phone: what an applicant's phone at a site with a weak signal
// gets, as Chromium's DevTools throttling presets describe a slow 3G-ish
// link, on a phone four times slower than this machine.
const (
	slowLatencyMS = 150
	slowDownBps   = 1_600_000 / 8 // bytes per second
	slowUpBps     = 750_000 / 8
	slowCPURate   = 4
)

// Budgets of the login page on the slow phone.
const (
	coldVisibleBudget = 1000 * time.Millisecond
	warmVisibleBudget = 500 * time.Millisecond
	coldBytesBudget   = 120 * 1024
	warmBytesBudget   = 20 * 1024
)

// axeVersion is the axe-core that scripts/deps.sh test installs.
const axeVersion = "4.14.1"

// emulateNetworkConditionsParams are the parameters of the DevTools
// command Network.emulateNetworkConditions, which cdproto no longer
// generates (it is deprecated in favour of emulateNetworkConditionsByRule)
// but Chromium still runs and the budgets were first measured with.
type emulateNetworkConditionsParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

var emulateNetworkConditions = cdp.Command[emulateNetworkConditionsParams, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

// call wraps one protocol command as a chromedp action.
func call[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, cmd, params)
		return chromedp.Void{}, err
	}
}

// visibleJS runs in every new document before the page's own scripts and
// notes the time since the navigation started at the first animation frame
// in which the login form's username field is laid out: the frame that
// paints it (animation frame callbacks run just before a frame's paint).
const visibleJS = `(() => {
	const check = () => {
		const el = document.getElementById('login-username');
		if (el && el.getBoundingClientRect().height > 0) {
			window.__loginVisibleMs = performance.now();
			return;
		}
		requestAnimationFrame(check);
	};
	requestAnimationFrame(check);
})();`

// wire counts the page's requests and which of them went over the
// network (not answered by the memory or disk cache or the service worker),
// and tells when none is in flight.
type wire struct {
	mu       sync.Mutex
	urls     map[network.RequestID]string
	cached   map[network.RequestID]bool
	inFlight map[network.RequestID]bool
	last     time.Time // when a request last started or ended
}

func newWire() *wire {
	w := &wire{}
	w.reset()
	return w
}

func (w *wire) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.urls = map[network.RequestID]string{}
	w.cached = map[network.RequestID]bool{}
	w.inFlight = map[network.RequestID]bool{}
	w.last = time.Now()
}

// record runs in the tab's message loop: it only updates maps under the lock.
func (w *wire) record(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasPrefix(ev.Request.URL, "http") {
			w.urls[ev.RequestID] = ev.Request.URL
			w.inFlight[ev.RequestID] = true
			w.last = time.Now()
		}
	case *network.EventRequestServedFromCache:
		w.cached[ev.RequestID] = true
	case *network.EventResponseReceived:
		if ev.Response.FromDiskCache || ev.Response.FromServiceWorker || ev.Response.FromPrefetchCache {
			w.cached[ev.RequestID] = true
		}
	case *network.EventLoadingFinished:
		delete(w.inFlight, ev.RequestID)
		w.last = time.Now()
	case *network.EventLoadingFailed:
		delete(w.inFlight, ev.RequestID)
		w.last = time.Now()
	}
}

// quiet reports whether no request has been in flight for d.
func (w *wire) quiet(d time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inFlight) == 0 && time.Since(w.last) >= d
}

// totals returns the number of requests and how many went over the network.
func (w *wire) totals() (requests, fetched int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.urls {
		requests++
		if !w.cached[id] {
			fetched++
		}
	}
	return requests, fetched
}

// wireProxy relays TCP between the browser and the server and counts the
// bytes the server sends: what the phone downloads, the service worker's
// own fetches included (the page's DevTools events do not show those).
type wireProxy struct {
	URL     string
	down    atomic.Int64
	last    atomic.Int64 // unix nanoseconds of the last byte either way
	cut     func()       // closes the port and every connection: no signal
	drop    func()       // closes every connection and refuses new ones until restore
	offline atomic.Bool  // set by drop: connections are closed as they come
}

// restore lets connections through again after drop: the signal is back.
func (px *wireProxy) restore() { px.offline.Store(false) }

// startWireProxy relays a local port to the server at base until cleanup.
func startWireProxy(t *testing.T, base string) *wireProxy {
	t.Helper()
	target := strings.TrimPrefix(base, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	px := &wireProxy{URL: "http://" + ln.Addr().String()}
	px.last.Store(time.Now().UnixNano())
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	px.cut = func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	px.drop = func() {
		px.offline.Store(true)
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	t.Cleanup(func() {
		px.cut()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if px.offline.Load() {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); px.relay(in, out, nil); in.Close() }()
			go func() { defer wg.Done(); px.relay(out, in, &px.down); out.Close() }()
		}
	}()
	return px
}

// relay copies src to dst, adding what it copied to count (if any).
func (px *wireProxy) relay(src, dst net.Conn, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			px.last.Store(time.Now().UnixNano())
			if count != nil {
				count.Add(int64(n))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// idle reports whether no byte has crossed the proxy for d.
func (px *wireProxy) idle(d time.Duration) bool {
	return time.Since(time.Unix(0, px.last.Load())) >= d
}

// visit is what one visit to the login page measured.
type visit struct {
	visible  time.Duration // navigation start to the username field on screen
	requests int
	fetched  int   // the page's requests that went over the network
	bytes    int64 // sent by the server, service worker traffic included
}

// mustVisitLogin opens base in the tab and waits for the login form and
// then for the network to be quiet for 700 ms (so late requests, such as a
// service worker filling its cache, count too).
func mustVisitLogin(t *testing.T, b *browser, w *wire, px *wireProxy) visit {
	t.Helper()
	b.mustDo(t, "leave the page", chromedp.Navigate("about:blank"))
	w.reset()
	px.down.Store(0)
	b.mustDo(t, "open the app", chromedp.Navigate(px.URL+"/"))
	ms := mustVisibleMs(t, b)
	deadline := time.Now().Add(browserStep)
	for !w.quiet(700*time.Millisecond) || !px.idle(700*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the network was still busy %s after the login form showed", browserStep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v := visit{visible: time.Duration(ms * float64(time.Millisecond))}
	v.requests, v.fetched = w.totals()
	v.bytes = px.down.Load()
	return v
}

// TestFrontendSlowPhone opens the login page on a throttled phone (390×844,
// 150 ms latency, 1.6 Mbit/s down, 750 kbit/s up, CPU slowed 4×), cold and
// then again with what the first visit left in the cache, seven times (or
// fourteen, see below), and holds the medians to the budgets (the machine
// is shared, so single runs are noisy): the form on screen within 1 s cold
// and 0.5 s warm, at most 120 KB on the wire cold and 20 KB warm.
func TestFrontendSlowPhone(t *testing.T) {
	p := harness.StartServer(t)
	px := startWireProxy(t, p.URL)
	b := mustNamedBrowser(t, "slow-phone", phoneWidth, phoneHeight, 3*time.Minute)
	w := newWire()
	if err := chromedp.Listen(b.ctx, w.record); err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	b.mustDo(t, "emulate a slow phone",
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile),
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: visibleJS}),
		call(emulateNetworkConditions, emulateNetworkConditionsParams{
			Latency: slowLatencyMS, DownloadThroughput: slowDownBps, UploadThroughput: slowUpBps}),
		call(emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: slowCPURate}))

	// The machine is shared, and a busy minute slows Chromium's throttled
	// main thread with everything else: warm medians of one unchanged tree
	// ranged from 251 to 865 ms in runs here (2026-12-06). So when seven
	// rounds' medians miss a time budget, seven more are measured, and the
	// medians of all fourteen are held to the budgets.
	const rounds = 7
	slow := func(cold, warm []visit) bool {
		return medianVisit(cold).visible > coldVisibleBudget || medianVisit(warm).visible > warmVisibleBudget
	}
	var cold, warm []visit
	for i := 0; i < rounds || (i < 2*rounds && slow(cold, warm)); i++ {
		b.mustDo(t, "forget the cache and the site's storage",
			chromedp.Navigate("about:blank"),
			call(network.ClearBrowserCache, cdp.Empty{}),
			call(storage.ClearDataForOrigin, storage.ClearDataForOriginParams{Origin: px.URL, StorageTypes: "all"}))
		c := mustVisitLogin(t, b, w, px)
		wv := mustVisitLogin(t, b, w, px)
		t.Logf("round %d: cold %s, %d requests (%d fetched), %d bytes; warm %s, %d requests (%d fetched), %d bytes",
			i+1, c.visible.Round(time.Millisecond), c.requests, c.fetched, c.bytes,
			wv.visible.Round(time.Millisecond), wv.requests, wv.fetched, wv.bytes)
		cold, warm = append(cold, c), append(warm, wv)
	}
	mc, mw := medianVisit(cold), medianVisit(warm)
	t.Logf("median of %d rounds: cold %s and %d bytes in %d requests; warm %s and %d bytes (%d of %d requests fetched)",
		len(cold), mc.visible.Round(time.Millisecond), mc.bytes, mc.requests, mw.visible.Round(time.Millisecond), mw.bytes, mw.fetched, mw.requests)
	if mc.visible > coldVisibleBudget {
		t.Errorf("cold: login form on screen after %s, want ≤ %s", mc.visible.Round(time.Millisecond), coldVisibleBudget)
	}
	if mw.visible > warmVisibleBudget {
		t.Errorf("warm: login form on screen after %s, want ≤ %s", mw.visible.Round(time.Millisecond), warmVisibleBudget)
	}
	if mc.bytes > coldBytesBudget {
		t.Errorf("cold: got %d bytes on the wire, want ≤ %d", mc.bytes, coldBytesBudget)
	}
	if mw.bytes > warmBytesBudget {
		t.Errorf("warm: got %d bytes on the wire, want ≤ %d", mw.bytes, warmBytesBudget)
	}
	// The login page loads its own few modules, not every view.
	if mc.requests > 15 {
		t.Errorf("cold: got %d requests, want ≤ 15 (the login page's modules, not every view)", mc.requests)
	}

	b.checkNoCSPViolation(t)

	// With no signal at all (nothing answers on the port) the app still
	// opens: the service worker has the page and its modules.
	px.cut()
	b.mustDo(t, "open the app with no signal",
		chromedp.Navigate("about:blank"), chromedp.Navigate(px.URL+"/#/cases"),
		chromedp.WaitVisible(chromedp.ID("login-username")))
	if sw := mustRun(t, b, "ask for the service worker", chromedp.Evaluate[bool](`navigator.serviceWorker.controller !== null`)); !sw {
		t.Errorf("offline page: got no controlling service worker, want the page served by it")
	}
}

// mustVisibleMs waits for visibleJS's figure. It asks again when an
// answer fails because the page's context went away under the question (a
// navigation still settling), and fails if the page was reloaded, which
// would restart the clock.
func mustVisibleMs(t *testing.T, b *browser) float64 {
	t.Helper()
	type seen struct {
		Ms   float64 `json:"ms"`
		Kind string  `json:"kind"`
	}
	deadline := time.Now().Add(browserStep)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[seen](
			`({ ms: window.__loginVisibleMs || 0, kind: (performance.getEntriesByType('navigation')[0] || {}).type || '' })`))
		cancel()
		switch {
		case err != nil:
			last = err
		case v.Ms > 0 && v.Kind != "navigate":
			t.Fatalf("the login page: got a %q navigation, want a plain one (a reload restarts the clock)", v.Kind)
		case v.Ms > 0:
			return v.Ms
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the login form was not on screen within %s (last error: %v)", browserStep, last)
	return 0
}

// medianVisit takes the median of each figure on its own.
func medianVisit(vs []visit) visit {
	pick := func(f func(v visit) float64) float64 {
		xs := make([]float64, len(vs))
		for i, v := range vs {
			xs[i] = f(v)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	return visit{
		visible:  time.Duration(pick(func(v visit) float64 { return float64(v.visible) })),
		requests: int(pick(func(v visit) float64 { return float64(v.requests) })),
		fetched:  int(pick(func(v visit) float64 { return float64(v.fetched) })),
		bytes:    int64(pick(func(v visit) float64 { return float64(v.bytes) })),
	}
}

// axeViolation is one failed rule as axe-core reports it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Tags   []string `json:"tags"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// axeRunJS runs the WCAG 2.1 A and AA rules, the experimental ones among
// them (label-content-name-mismatch is one), and returns the violations
// of rules with a WCAG tag.
const axeRunJS = `axe.run(document, {
	runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'experimental'] },
	resultTypes: ['violations'],
}).then((r) => r.violations.filter((v) => v.tags.some((t) => /^wcag2/.test(t))).map((v) => ({
	id: v.id, impact: v.impact, help: v.help, tags: v.tags,
	nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target, html: n.html.slice(0, 200) })),
})))`

// mustAxeSource reads axe.min.js from where scripts/deps.sh test put it.
func mustAxeSource(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "siteinspect-axe-core-"+axeVersion, "node_modules", "axe-core")
	src, err := os.ReadFile(filepath.Join(dir, "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core %s: %v (install it with: scripts/deps.sh test)", axeVersion, err)
	}
	return string(src)
}

// mustAxe injects axe-core into the page (through the DevTools protocol, so
// the page's Content-Security-Policy does not apply) and returns the
// serious and critical violations, each as "rule: help (targets)".
func (b *browser) mustAxe(t *testing.T, src, page string) []string {
	t.Helper()
	mustRun(t, b, "inject axe-core", chromedp.Evaluate[bool](src+";\ntrue"))
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	var bad []string
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			target, _ := json.Marshal(n.Target)
			where = append(where, string(target)+" "+n.HTML)
		}
		bad = append(bad, fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, "; ")))
	}
	return bad
}

// TestFrontendAxe runs axe-core's WCAG 2.1 A/AA rules over the pages of an
// applicant and an inspector, in Chinese and English, on a phone and on an
// office screen, and fails on any serious or critical violation. The pages
// include the login form, the case list, a case with evidence thumbnails,
// the new case form and the inspector's review workspace with the drawing
// layer over a photo.
func TestFrontendAxe(t *testing.T) {
	src := mustAxeSource(t)
	p := harness.StartServer(t, harness.S3Args(t)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	dir := t.TempDir()
	photo := filepath.Join(dir, "site-entrance.jpg")
	testenv.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x480", "-frames:v", "1", photo)
	eid := app.MustUploadFile(cs.ID, photo)
	app.MustUploadFile(cs.ID, testenv.MakeMP4(t, dir, 2, "320x240"))
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, &cs)
	ins.MustEvidenceDone(eid, 60*time.Second)

	type size struct {
		name string
		w, h int
	}
	sizes := []size{{"phone", phoneWidth, phoneHeight}, {"desktop", 1440, 900}}
	var failures []string
	checked := 0
	for _, sz := range sizes {
		b := mustNamedBrowser(t, "axe-"+sz.name, sz.w, sz.h, 4*time.Minute)
		opts := []chromedp.EmulateViewportOption{}
		if sz.name == "phone" {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.mustDo(t, "set the viewport", chromedp.EmulateViewport(int64(sz.w), int64(sz.h), opts...))
		for _, lang := range []string{"zh", "en"} {
			for _, role := range []string{"applicant", "inspector"} {
				check := func(page string) {
					checked++
					for _, v := range b.mustAxe(t, src, page) {
						failures = append(failures, fmt.Sprintf("%s/%s/%s %s: %s", sz.name, lang, role, page, v))
					}
				}
				b.mustDo(t, "sign out", chromedp.Navigate(p.URL+"/"), call(network.ClearBrowserCookies, cdp.Empty{}))
				mustRun(t, b, "choose the language", chromedp.Evaluate[bool](fmt.Sprintf(`localStorage.setItem('siteinspect.lang', %q), true`, lang)))
				b.mustDo(t, "open the login form", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("login-username")))
				wantSubmit := map[string]string{"zh": "登录", "en": "Sign in"}[lang]
				b.mustWaitAttr(t, "#login-submit", "text", wantSubmit)
				check("login")
				b.mustDo(t, "sign in as "+role,
					chromedp.SendKeys(chromedp.ID("login-username"), role),
					chromedp.SendKeys(chromedp.ID("login-password"), p.Demo[role]),
					chromedp.Click(chromedp.ID("login-submit")),
					chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.case-row[data-case-id="%s"]`, cs.ID))))
				check("cases")
				b.mustDo(t, "open the case",
					chromedp.Click(chromedp.CSS(fmt.Sprintf(`.case-row[data-case-id="%s"]`, cs.ID))),
					chromedp.WaitVisible(chromedp.CSS(`.evidence-row[data-evidence-id="`+eid+`"] .ev-thumb`)))
				b.mustFocusHeading(t)
				check("case")
				if role == "applicant" {
					b.mustDo(t, "open the new case form", chromedp.Navigate(p.URL+"/#/cases/new"),
						chromedp.WaitVisible(chromedp.CSS("form")))
					check("new case")
					continue
				}
				// The evidence list re-renders its rows while a file is still
				// processing, so the click goes to whatever row is there when
				// it happens (a node found a moment earlier may be gone).
				toggle := `.evidence-row[data-evidence-id="` + eid + `"] .ev-toggle`
				b.mustDo(t, "wait for the photo's row", chromedp.WaitVisible(chromedp.CSS(toggle)))
				mustRun(t, b, "open the photo in the review workspace", chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).click(), true)`, toggle)))
				b.mustDo(t, "wait for the workspace", chromedp.WaitVisible(chromedp.ID("draw-overlay")))
				check("review")
			}
		}
		// axe-core is injected through DevTools, which the policy does not
		// govern, so a violation here is the UI's own.
		b.checkNoCSPViolation(t)
	}
	t.Logf("axe-core %s: %d pages checked (2 sizes × 2 languages × 2 roles), %d serious or critical violations", axeVersion, checked, len(failures))
	slices.Sort(failures)
	for _, f := range failures {
		t.Errorf("axe: %s", f)
	}
}

// mustFocusHeading waits for the page's h1 to have focus after a route
// change, and says what had focus instead if it never does.
func (b *browser) mustFocusHeading(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
		`() => document.activeElement && document.activeElement.tagName === 'H1' ? true : null`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(4*time.Second)))
	if err != nil {
		got := mustRun(t, b, "read the focused element", chromedp.Evaluate[string](
			`document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : '(none)'`))
		t.Fatalf("focus after the route change: got %s, want the page's h1", got)
	}
}

// focusRingJS reports the focus ring of the focused element: its outline
// style and width, and the contrast ratio of its colour against the
// background behind the element (the nearest ancestor with one).
const focusRingJS = `(() => {
	const el = document.activeElement;
	const cs = getComputedStyle(el);
	const rgb = (c) => (c.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
	const lum = ([r, g, b]) => {
		const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
	};
	let bg = null;
	for (let n = el.parentElement; n && !bg; n = n.parentElement) {
		const c = getComputedStyle(n).backgroundColor;
		if (c && !/rgba\(.*, 0\)$/.test(c) && c !== 'transparent') bg = c;
	}
	const a = lum(rgb(cs.outlineColor)), b = lum(rgb(bg || 'rgb(255,255,255)'));
	return { id: el.id, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
		contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
})()`

// focusRing is what focusRingJS reports.
type focusRing struct {
	ID       string  `json:"id"`
	Style    string  `json:"style"`
	Width    float64 `json:"width"`
	Contrast float64 `json:"contrast"`
}

// TestFrontendFocus: the login form's username field has focus with a
// visible ring when the page opens, and a control on the dark header shows
// a ring of at least 3:1 against the header (WCAG 2.1 1.4.11).
func TestFrontendFocus(t *testing.T) {
	p := harness.StartServer(t)
	b := mustBrowser(t)
	// A headless tab is never the focused window, and :focus matches only in
	// one; the emulation makes it count as focused, as a phone's page is.
	b.mustDo(t, "open the app",
		call(emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}),
		chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	for _, tc := range []struct {
		name, focus, wantID string
	}{
		{"the username field on opening", "", "login-username"},
		{"the language switch on the header", `document.getElementById('lang-switch').focus()`, "lang-switch"},
	} {
		if tc.focus != "" {
			mustRun(t, b, "focus "+tc.name, chromedp.Evaluate[any](tc.focus))
		}
		ring := mustRun(t, b, "read the focus ring", chromedp.Evaluate[focusRing](focusRingJS))
		if ring.ID != tc.wantID {
			t.Errorf("%s: got focus on #%s, want #%s", tc.name, ring.ID, tc.wantID)
		}
		if ring.Style == "none" || ring.Width < 2 {
			t.Errorf("%s: got outline %s %.1fpx, want a visible ring of at least 2px", tc.name, ring.Style, ring.Width)
		}
		if ring.Contrast < 3 {
			t.Errorf("%s: got a ring with %.2f:1 contrast against its background, want ≥ 3:1", tc.name, ring.Contrast)
		}
		t.Logf("%s: outline %s %.0fpx, contrast %.2f:1", tc.name, ring.Style, ring.Width, ring.Contrast)
	}
}

// staleReleaseJS makes the service worker's cache look as if the page was
// cached before a release: an app.js under a hash the server never had,
// importing the join view under another such hash, and the cached page
// pointing at that app.js. It returns the current app.js URL.
const staleReleaseJS = `(async () => {
	const key = (await caches.keys()).find((k) => k.startsWith('siteinspect-shell-'));
	const cache = await caches.open(key);
	const page = await (await cache.match('./')).text();
	const appURL = page.match(/src="(app\.[0-9a-f]{12}\.js)"/)[1];
	const app = await (await fetch(appURL)).text();
	const stale = app.replace(/views\/join\.[0-9a-f]{12}\.js/, 'views/join.0123456789ab.js');
	if (stale === app) throw new Error('app.js imports no hashed join view');
	await cache.put('./app.0123456789ab.js', new Response(stale, { headers: { 'Content-Type': 'text/javascript' } }));
	await cache.put('./', new Response(page.replace(appURL, 'app.0123456789ab.js'), { headers: { 'Content-Type': 'text/html; charset=utf-8' } }));
	return appURL;
})()`

// TestFrontendServiceWorkerRelease: a phone that cached the page before a
// release opens a link to a view whose module the server no longer has;
// the app fetches the current page, reloads once and shows the view.
func TestFrontendServiceWorkerRelease(t *testing.T) {
	p := harness.StartServer(t)
	b := mustBrowser(t)
	b.mustDo(t, "open the app", chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	mustRun(t, b, "wait for the service worker", chromedp.Evaluate[bool](
		`navigator.serviceWorker.ready.then(() => true)`, chromedp.EvalAwaitPromise))
	b.mustDo(t, "open the app under the service worker", chromedp.Navigate("about:blank"),
		chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	if sw := mustRun(t, b, "ask for the service worker", chromedp.Evaluate[bool](`navigator.serviceWorker.controller !== null`)); !sw {
		t.Fatalf("second visit: got no controlling service worker, want one")
	}
	// The manifest, its icon and the service worker make the app installable.
	ctx, cancel := b.step()
	inst, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	cancel()
	if err != nil {
		t.Fatalf("ask for installability errors: %v", err)
	}
	for _, e := range inst.InstallabilityErrors {
		t.Errorf("installability: got %s, want none", e.ErrorID)
	}
	current := mustRun(t, b, "age the cached page", chromedp.Evaluate[string](staleReleaseJS, chromedp.EvalAwaitPromise))

	b.mustDo(t, "open a join link", chromedp.Navigate("about:blank"),
		chromedp.Navigate(p.URL+"/#/join/nosuchsession?token=x"),
		chromedp.WaitVisible(chromedp.CSS("h1.join-title")))
	if got := b.statuses("views/join.0123456789ab.js"); !slices.Contains(got, 404) {
		t.Errorf("the stale join view: got statuses %v, want a 404 (else the test did not run the stale page)", got)
	}
	src := mustRun(t, b, "read the page's module", chromedp.Evaluate[string](`document.querySelector('script[type=module]').getAttribute('src')`))
	if src != current {
		t.Errorf("module script after the reload: got %q, want the current %q", src, current)
	}
	b.checkNoCSPViolation(t)
}

// checkNoCSPViolation fails the test if the page reported that the
// Content-Security-Policy blocked anything (Chromium logs each violation to
// the console): the UI must work under the policy as it is.
func (b *browser) checkNoCSPViolation(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range b.console {
		if strings.Contains(line, "Content Security Policy") {
			t.Errorf("console: got %q, want no CSP violation", line)
		}
	}
}

// apiCacheJS lists the paths of the API answers the service worker keeps
// for opening the app with no signal (sw.js, API_CACHE).
const apiCacheJS = `(async () => {
	if (!(await caches.has('siteinspect-api'))) return [];
	const keys = await (await caches.open('siteinspect-api')).keys();
	return keys.map((r) => new URL(r.url).pathname).sort();
})()`

// TestFrontendOffline: an applicant signed in on their phone opens their
// draft case once with signal; at a site with none (nothing answers on the
// port) the case page opens from the service worker, a clip chosen there
// waits for the network, and when the signal returns the upload finishes
// by itself and the server has the clip's exact bytes. Signing out deletes
// the kept API answers.
func TestFrontendOffline(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	px := startWireProxy(t, p.URL)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	clip := testenv.MakeMP4(t, t.TempDir(), 2, "320x240")
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	b := mustBrowser(t)
	b.mustLogin(t, px.URL, "applicant", p.Demo["applicant"])
	mustRun(t, b, "wait for the service worker", chromedp.Evaluate[bool](
		`navigator.serviceWorker.ready.then(() => true)`, chromedp.EvalAwaitPromise))

	// With signal: the case page under the worker, which keeps its answers.
	casePage := px.URL + "/#/cases/" + cs.ID
	b.mustDo(t, "open the case with signal", chromedp.Navigate("about:blank"), chromedp.Navigate(casePage),
		chromedp.WaitVisible(chromedp.ID("case-status")), chromedp.WaitReady(chromedp.ID("upload-input")))
	want := []string{"/api/v1/cases/" + cs.ID, "/api/v1/cases/" + cs.ID + "/decisions", "/api/v1/cases/" + cs.ID + "/evidence",
		"/api/v1/cases/" + cs.ID + "/owed", "/api/v1/config", "/api/v1/me", "/api/v1/permit-types"}
	kept := mustPoll[[]string](t, b, "the worker to keep the case page's API answers", `async (want) => {
		const got = await `+apiCacheJS+`;
		return want.every((p) => got.includes(p)) ? got : null;
	}`, want)
	t.Logf("API answers kept: %v", kept)

	// No signal: the case page opens from the worker's caches.
	px.drop()
	b.mustDo(t, "open the case with no signal", chromedp.Navigate("about:blank"), chromedp.Navigate(casePage),
		chromedp.WaitVisible(chromedp.ID("case-status")), chromedp.WaitReady(chromedp.ID("upload-input")))
	if sw := mustRun(t, b, "ask for the service worker", chromedp.Evaluate[bool](`navigator.serviceWorker.controller !== null`)); !sw {
		t.Fatalf("offline case page: got no controlling service worker, want the page served by it")
	}
	b.mustWaitAttr(t, "#case-status", "data-status", "draft")
	// The evidence list is the kept answer (no items yet), not an error.
	b.mustWaitAttr(t, ".evidence [aria-live]", "text", "尚未上传材料。")

	// A clip chosen with no signal waits for the network.
	b.mustDo(t, "choose the clip", chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{clip}))
	b.mustWaitAttr(t, ".upload-row .upload-msg", "text", "网络已断开，恢复后自动继续")
	if st := mustRun(t, b, "read the upload row", chromedp.Evaluate[string](`document.querySelector('.upload-row').dataset.state`)); st == "done" || st == "error" {
		t.Fatalf("upload row with no signal: got state %q, want it waiting", st)
	}
	// The applicant's record came from the kept answers too (none yet:
	// its panel stays hidden; a failed fetch would show an error in it).
	if got := b.readAttr("#applicant-outcome", "hidden"); got != `""` {
		t.Errorf("applicant's record with no signal: got hidden=%s (%s), want hidden", got, b.readAttr("#applicant-outcome", "text"))
	}
	var evs []struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256"`
	}
	app.MustJSON("GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, http.StatusOK, &evs)
	if len(evs) != 0 {
		t.Fatalf("evidence with no signal: got %d items, want 0", len(evs))
	}
	time.Sleep(2 * time.Second) // a while at the site with no signal: the client backs off

	// The signal returns: the upload finishes by itself.
	px.restore()
	back := time.Now()
	const bound = 40 * time.Second
	state := ""
	for time.Since(back) < bound {
		state = mustRun(t, b, "read the upload row", chromedp.Evaluate[string](
			`document.querySelector('.upload-row')?.dataset.state || ''`))
		if state == "done" || state == "error" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if state != "done" {
		t.Fatalf("upload row %s after the signal returned: got state %q (%s), want done",
			bound, state, b.readAttr(".upload-row .upload-msg", "text"))
	}
	t.Logf("upload done %s after the signal returned", time.Since(back).Round(100*time.Millisecond))
	app.MustJSON("GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, http.StatusOK, &evs)
	if len(evs) != 1 || evs[0].Size != int64(len(data)) || evs[0].SHA256 != sha256Hex(data) {
		t.Fatalf("evidence after the signal returned: got %d items %+v, want 1 of %d bytes, sha256 %s", len(evs), evs, len(data), sha256Hex(data))
	}
	mustPoll[evidenceRow](t, b, "the evidence row of the clip", waitEvidenceRowJS, filepath.Base(clip))

	// Signing out deletes what the worker kept of this person.
	b.mustDo(t, "sign out", chromedp.Click(chromedp.CSS("#app-header .bar-end button")),
		chromedp.WaitVisible(chromedp.ID("login-username")))
	mustPoll[bool](t, b, "the kept API answers to go", `async () => (await caches.has('siteinspect-api')) ? null : true`)
	b.checkNoCSPViolation(t)
}
