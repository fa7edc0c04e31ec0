package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// Time limits of the browser tests: each step (a click and what it causes, a
// wait for the UI) gets browserStep, and the whole browser session, from the
// start of Chromium to the last step, gets browserBudget, so a hung UI fails
// the test in well under a minute instead of at go test's 10-minute timeout.
const (
	browserStep   = 15 * time.Second
	browserBudget = 45 * time.Second
)

// The viewport of a common phone (CSS pixels): the applicants film and
// upload on their phones, so the UI is tested at that size.
const (
	phoneWidth  = 390
	phoneHeight = 844
)

// browser is one headless Chromium tab and what its page reported: uncaught
// exceptions, console output and the HTTP responses it received.
type browser struct {
	ctx context.Context
	end time.Time // the deadline of the whole session

	mu         sync.Mutex
	exceptions []string
	console    []string
	responses  []browserResponse
}

// browserResponse is one HTTP response the page received.
type browserResponse struct {
	url    string
	status int64
}

// mustBrowser starts headless Chromium with a phone-sized window, a fresh
// profile and Chinese as the browser's language (most applicants' phones),
// and closes it at cleanup. The test fails if the page threw an uncaught
// exception or got a 5xx answer at any point.
func mustBrowser(t *testing.T) *browser {
	t.Helper()
	b := mustNamedBrowser(t, "browser", phoneWidth, phoneHeight, browserBudget)
	b.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	return b
}

// chromiumOptions are the flags every test browser starts with: the ones
// that work here as root (docs: /work/shared/TESTING.md; the defaults
// already carry no-first-run, disable-background-networking, disable-sync
// and disable-dev-shm-usage), a fresh profile in dataDir, a w×h window,
// Chinese as the language and the office's time zone, plus extra.
func chromiumOptions(t *testing.T, dataDir string, w, h int, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install -y chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Headless Chromium ignores --lang; --accept-lang sets navigator.languages.
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(w, h),
		// The office's time zone, so dates on the page read as they would on
		// an applicant's phone.
		chromedp.Env("TZ=Asia/Shanghai"),
	)
	return append(opts, extra...)
}

// mustNamedBrowser starts a headless Chromium (chromiumOptions plus extra)
// whose steps must finish within budget, and checks at cleanup that its
// page threw nothing and got no 5xx. name tells browsers apart in logs and
// failure screenshots.
func mustNamedBrowser(t *testing.T, name string, w, h int, budget time.Duration, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	b := &browser{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(t, t.TempDir(), w, h, extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(b.record))
	t.Cleanup(func() {
		if t.Failed() && b.ctx != nil {
			b.saveScreenshot(t, name+"-failure.png")
		}
		cancel()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, line := range b.console {
			t.Logf("%s console: %s", name, line)
		}
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception in the %s page: %s", name, e)
		}
		for _, r := range b.responses {
			if r.status >= 500 {
				t.Errorf("%s page got %d from %s, want no server errors", name, r.status, r.url)
			}
		}
	})
	// The first Run starts the browser and lives as long as its context, so
	// it gets no timeout; the steps after it do.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", name, err)
	}
	b.ctx = ctx
	b.end = time.Now().Add(budget)
	return b
}

// record keeps what the page reports. It runs in the tab's message loop, so
// it only appends under the lock.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d:%d)", text, d.URL, d.LineNumber+1, d.ColumnNumber+1))
	case *runtime.EventConsoleAPICalled:
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		b.console = append(b.console, string(ev.Type)+": "+strings.Join(args, " "))
	case *log.EventEntryAdded:
		b.console = append(b.console, fmt.Sprintf("%s %s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
	case *network.EventResponseReceived:
		b.responses = append(b.responses, browserResponse{url: ev.Response.URL, status: ev.Response.Status})
	}
}

// statuses lists the statuses of the responses whose URL contains part.
func (b *browser) statuses(part string) []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int64
	for _, r := range b.responses {
		if strings.Contains(r.url, part) {
			out = append(out, r.status)
		}
	}
	return out
}

// step returns a context for one step: browserStep long, and never past
// the end of the session's budget.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithDeadline(b.ctx, earliest(time.Now().Add(browserStep), b.end))
}

// mustDo runs actions as one time-limited step.
func (b *browser) mustDo(tb testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

// mustClickUntil clicks sel until an element matching then is on the page.
// A page that repaints (an upload finishing, an event from the server)
// can move or replace the button between the query that found it and the
// mouse's press and release, and the click is lost; a person clicks again,
// and so does this, within one step.
func (b *browser) mustClickUntil(tb testing.TB, what, sel, then string) {
	tb.Helper()
	ctx, cancel := b.step()
	defer cancel()
	var err error
	for ctx.Err() == nil {
		try, stop := context.WithTimeout(ctx, 3*time.Second)
		err = chromedp.Do(try, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitReady(chromedp.CSS(then)))
		stop()
		if err == nil {
			return
		}
	}
	tb.Fatalf("%s: %v (%s still not on the page)", what, err, then)
}

// mustSetUploadFiles chooses files in the file input sel. A page that
// repaints (an upload finishing, an event from the server) can replace the
// input between the query that found it and the command that sets its
// files; Chromium then answers that the node is gone, no file was chosen,
// and the step is tried again on the input now on the page.
func (b *browser) mustSetUploadFiles(tb testing.TB, what, sel string, files []string) {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := b.step()
		err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(sel), files))
		cancel()
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(err.Error(), "node with given id") {
			tb.Fatalf("%s: %v (attempt %d)", what, err, attempt)
		}
	}
}

// mustRun runs one time-limited action and returns its value.
func mustRun[T any](tb testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	tb.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return v
}

// mustPoll waits until the page function fn, called with args, returns a
// truthy value, and decodes that value into T.
func mustPoll[T any](tb testing.TB, b *browser, what, fn string, args ...any) T {
	tb.Helper()
	ctx, cancel := b.step()
	defer cancel()
	deadline, _ := ctx.Deadline()
	v, err := chromedp.Run(ctx, chromedp.PollFunction[T](fn,
		chromedp.WithPollingArgs(args...),
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(time.Until(deadline)-time.Second)))
	if err != nil {
		tb.Fatalf("wait for %s: %v", what, err)
	}
	return v
}

// readAttr returns an attribute of the first element matching sel, or a
// note that there is no such element or attribute; it is for messages.
func (b *browser) readAttr(sel, name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const el = document.querySelector(%q); if (!el) return "(no element)"; const v = %s; return v === null ? "(no attribute)" : JSON.stringify(v); })()`,
		sel, attrExpr(name))))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return v
}

// attrExpr reads "text" as the element's trimmed text and anything else as
// an attribute of el.
func attrExpr(name string) string {
	if name == "text" {
		return "el.textContent.trim()"
	}
	return fmt.Sprintf("el.getAttribute(%q)", name)
}

// mustWaitAttr waits until the first element matching sel has want as the
// attribute name ("text" means its trimmed text), and reports what it had
// if that never happens.
func (b *browser) mustWaitAttr(tb testing.TB, sel, name, want string) {
	tb.Helper()
	ctx, cancel := b.step()
	defer cancel()
	deadline, _ := ctx.Deadline()
	fn := fmt.Sprintf(`(sel, want) => { const el = document.querySelector(sel); return el !== null && %s === want; }`, attrExpr(name))
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](fn,
		chromedp.WithPollingArgs(sel, want),
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(time.Until(deadline)-time.Second)))
	if err != nil {
		tb.Fatalf("%s %s: got %s, want %q (%v)", sel, name, b.readAttr(sel, name), want, err)
	}
}

// mustLogin signs in through the login form and waits for the case list.
func (b *browser) mustLogin(tb testing.TB, base, username, password string) {
	tb.Helper()
	b.mustDo(tb, "open the app", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	// A browser set to Chinese gets the Chinese UI without choosing it.
	b.mustWaitAttr(tb, "#login-submit", "text", "登录")
	b.mustDo(tb, "sign in as "+username,
		chromedp.SendKeys(chromedp.ID("login-username"), username),
		chromedp.SendKeys(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("status-filter")))
}

// mustScreenshot saves a PNG of the whole page into the test's artifact
// directory (kept with go test -artifacts, else a temp dir) and logs where.
func (b *browser) mustScreenshot(t *testing.T, name string) {
	t.Helper()
	if err := b.saveScreenshot(t, name); err != nil {
		t.Fatal(err)
	}
}

// saveScreenshot is mustScreenshot that only reports failure, for cleanup.
func (b *browser) saveScreenshot(t *testing.T, name string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return err
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return err
	}
	t.Logf("screenshot: %s", path)
	return nil
}

// mustSiteVideo makes a clip of seconds seconds named name (a phone camera
// gives files like it): H.264 and AAC in MP4 with the index at the end, as
// ffmpeg writes it by default, so a player needs a second Range request to
// read it. The noise keeps it from compressing to almost nothing: at
// 320x240 it is about 1.2 MiB a second. It returns the path and the bytes.
func mustSiteVideo(tb testing.TB, dir, name string, seconds int) (string, []byte) {
	tb.Helper()
	p := filepath.Join(dir, name)
	testenv.FFmpeg(tb, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-vf", "noise=alls=60:allf=t", "-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23",
		"-pix_fmt", "yuv420p", "-c:a", "aac", p)
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return p, data
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// videoState is what the page's <video> element knows about its media.
type videoState struct {
	ReadyState int     `json:"readyState"`
	Duration   float64 `json:"duration"`
	Src        string  `json:"src"`
	Error      int     `json:"error"`
	Unplayable bool    `json:"unplayable"`
}

// waitVideoJS waits for the evidence player's loadedmetadata (readyState
// HAVE_METADATA or more) or for the page giving up on it (the
// "cannot play" note), and reports the element's state.
const waitVideoJS = `(id) => {
	const row = document.querySelector('.evidence-row[data-evidence-id="' + id + '"]');
	const v = row && row.querySelector('video');
	if (!v) return null;
	const note = v.parentElement.querySelector('p');
	const unplayable = note !== null && !note.hidden;
	if (v.readyState < 1 && !unplayable) return null;
	return { readyState: v.readyState, duration: v.readyState >= 1 ? v.duration : 0,
		src: v.currentSrc, error: v.error ? v.error.code : 0, unplayable };
}`

// evidenceRow is what an evidence row of the page says about its file.
type evidenceRow struct {
	ID       string `json:"id"`
	Size     string `json:"size"`
	Filename string `json:"filename"`
	Rows     int    `json:"rows"`
}

// waitEvidenceRowJS waits for the evidence row of a file name.
const waitEvidenceRowJS = `(name) => {
	const rows = [...document.querySelectorAll('.evidence-row')];
	const row = rows.find((r) => r.dataset.filename === name);
	return row ? { id: row.dataset.evidenceId, size: row.dataset.size, filename: row.dataset.filename, rows: rows.length } : null;
}`

// TestBrowserApplicantUploadsVideo is the applicant's whole path on a phone:
// sign in, open a case, upload a site video with the page's tus client, see
// it in the evidence list and play it, switch languages, submit.
func TestBrowserApplicantUploadsVideo(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	const name = "现场视频.mp4"
	const seconds = 3
	video, data := mustSiteVideo(t, t.TempDir(), name, seconds)
	if n := len(data); n < 2<<20 || n > 5<<20 {
		t.Fatalf("test video: got %d bytes, want 2-5 MiB", n)
	}
	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])

	// A new case through the form.
	const site = "滨海港湾酒店"
	b.mustDo(t, "open the new case form", chromedp.Click(chromedp.ID("new-case")), chromedp.WaitVisible(chromedp.ID("case-permit-type")))
	// No permit type is chosen for the applicant.
	if v := mustRun(t, b, "the permit type's first value", chromedp.Evaluate[string](`document.getElementById('case-permit-type').value`)); v != "" {
		t.Fatalf("permit type before choosing: got %q, want the placeholder", v)
	}
	b.mustDo(t, "fill the new case form with a wrong credit code",
		chromedp.SetValue(chromedp.ID("case-permit-type"), "hotel"),
		chromedp.SendKeys(chromedp.ID("case-credit-code"), "914403001922038217"),
		chromedp.SendKeys(chromedp.ID("case-site-name"), site),
		chromedp.SendKeys(chromedp.ID("case-site-address"), "天津市滨海新区港湾路1号"),
		chromedp.SendKeys(chromedp.ID("case-contact-name"), "王芳"),
		chromedp.SendKeys(chromedp.ID("case-contact-phone"), "13800138000"),
		chromedp.SendKeys(chromedp.ID("case-description"), "新开业酒店，申请特种行业许可。"),
		chromedp.Click(chromedp.ID("case-create")))
	// The check character is wrong (…7, not …6): refused in the page.
	mustPoll[bool](t, b, "the credit code refused", `() => document.getElementById('case-credit-code').validationMessage === '统一社会信用代码有误（应为 18 位，校验位需正确），请核对营业执照。'`)
	b.mustDo(t, "correct the credit code and create",
		chromedp.Evaluate[chromedp.Void](`(() => { const el = document.getElementById('case-credit-code'); el.value = ''; el.dispatchEvent(new Event('input')); })()`),
		chromedp.SendKeys(chromedp.ID("case-credit-code"), "914403001922038216"),
		chromedp.Click(chromedp.ID("case-create")),
		chromedp.WaitVisible(chromedp.ID("case-number")))
	b.mustWaitAttr(t, "#case-status", "data-status", "draft")
	hash := mustRun(t, b, "read the location", chromedp.Evaluate[string](`location.hash`))
	caseID, ok := strings.CutPrefix(hash, "#/cases/")
	if !ok || caseID == "" || caseID == "new" {
		t.Fatalf("location after creating: got %q, want #/cases/{id}", hash)
	}
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	var cs domain.Case
	app.MustJSON("GET", "/api/v1/cases/"+caseID, nil, http.StatusOK, &cs)
	if cs.PermitType != "hotel" || cs.SiteName != site || cs.Status != domain.StatusDraft ||
		cs.CreditCode != "914403001922038216" || cs.ContactName != "王芳" || cs.ContactPhone != "13800138000" {
		t.Fatalf("created case: got permit %q, site %q, status %q, credit code %q, contact %q %q; want hotel, %q, draft, 914403001922038216, 王芳 13800138000",
			cs.PermitType, cs.SiteName, cs.Status, cs.CreditCode, cs.ContactName, cs.ContactPhone, site)
	}
	// Submit comes after the upload area, and waits for a file.
	below := mustRun(t, b, "where submit sits", chromedp.Evaluate[bool](
		`(() => { const s = document.getElementById('case-submit'), u = document.getElementById('upload-input'); return Boolean(s && u && s.disabled && (u.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING)); })()`))
	if !below {
		t.Fatalf("submit before any upload: want it disabled and after the upload area")
	}

	// The upload, through the page's tus client.
	b.mustDo(t, "choose the video", chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{video}))
	state := mustPoll[string](t, b, "the upload to end",
		`() => { const r = document.querySelector('.upload-row'); return r && ['done', 'error'].includes(r.dataset.state) ? r.dataset.state : null; }`)
	if state != "done" {
		t.Fatalf("upload row: got state %q (%s), want done", state, b.readAttr(".upload-row .upload-msg", "text"))
	}
	row := mustPoll[evidenceRow](t, b, "the evidence row of "+name, waitEvidenceRowJS, name)
	if row.Size != fmt.Sprint(len(data)) || row.Rows != 1 {
		t.Fatalf("evidence rows: got %d, data-size %s; want 1, data-size %d", row.Rows, row.Size, len(data))
	}

	// The server has exactly these bytes.
	var evs []domain.Evidence
	app.MustJSON("GET", "/api/v1/cases/"+caseID+"/evidence", nil, http.StatusOK, &evs)
	if len(evs) != 1 {
		t.Fatalf("evidence of the case: got %d items, want 1", len(evs))
	}
	ev := evs[0]
	if ev.ID != row.ID || ev.Filename != name || ev.Size != int64(len(data)) || ev.SHA256 != sha256Hex(data) || ev.Kind != domain.KindVideo || ev.ContentType != "video/mp4" {
		t.Fatalf("evidence: got id %s %q, %d bytes, sha256 %s, %s %s; want id %s %q, %d bytes, sha256 %s, video video/mp4",
			ev.ID, ev.Filename, ev.Size, ev.SHA256, ev.Kind, ev.ContentType, row.ID, name, len(data), sha256Hex(data))
	}

	// The media pipeline makes it ready without a reload; then the viewer
	// plays …/playback (this H.264 MP4 itself): its index is at the end of
	// the file, so getting the duration takes Range requests.
	mustPoll[bool](t, b, "the evidence to become ready", `(id) => {
		const row = document.querySelector('.evidence-row[data-evidence-id="' + id + '"]');
		return row && row.dataset.status === 'ready' ? true : null;
	}`, ev.ID)
	b.mustDo(t, "open the viewer", chromedp.Click(chromedp.CSS(`.evidence-row[data-evidence-id="`+ev.ID+`"] .ev-toggle`)))
	vs := mustPoll[videoState](t, b, "the video's metadata", waitVideoJS, ev.ID)
	if vs.ReadyState < 1 || vs.Unplayable || !strings.HasSuffix(vs.Src, "/api/v1/evidence/"+ev.ID+"/playback") {
		t.Fatalf("video: got readyState %d, error %d, cannot-play note %t, src %s; want metadata loaded from /api/v1/evidence/%s/playback",
			vs.ReadyState, vs.Error, vs.Unplayable, vs.Src, ev.ID)
	}
	if math.Abs(vs.Duration-seconds) > 0.2 {
		t.Fatalf("video duration: got %.3f s, want %d s ± 0.2", vs.Duration, seconds)
	}
	played := mustPoll[float64](t, b, "the video to play half a second", `(id) => {
		const v = document.querySelector('.evidence-row[data-evidence-id="' + id + '"] video');
		if (v.paused && !v.ended) v.play();
		return v.currentTime >= 0.5 ? v.currentTime : null;
	}`, ev.ID)
	if played < 0.5 {
		t.Fatalf("video currentTime: got %.3f s, want ≥ 0.5 s", played)
	}
	mustWatermark(t, b, `.evidence-row[data-evidence-id="`+ev.ID+`"] video`, "王芳 Wang Fang")
	if got := b.statuses("/api/v1/evidence/" + ev.ID + "/playback"); !slices.Contains(got, http.StatusPartialContent) {
		t.Fatalf("responses to the player: got statuses %v, want a 206", got)
	}

	// Both languages, and back.
	b.mustWaitAttr(t, "#case-submit", "text", "提交审查")
	b.mustDo(t, "switch to English", chromedp.SetValue(chromedp.ID("lang-switch"), "en"))
	b.mustWaitAttr(t, "#case-submit", "text", "Submit for inspection")
	b.mustWaitAttr(t, "html", "lang", "en-GB")
	b.mustWaitAttr(t, "#case-status", "text", "Draft")
	b.mustDo(t, "switch to Chinese", chromedp.SetValue(chromedp.ID("lang-switch"), "zh"))
	b.mustWaitAttr(t, "#case-submit", "text", "提交审查")
	b.mustWaitAttr(t, "html", "lang", "zh-CN")
	b.mustWaitAttr(t, "#case-status", "text", "草稿")

	// Submit: the case leaves the applicant's hands.
	mustPoll[bool](t, b, "submit enabled by the upload", `() => { const s = document.getElementById('case-submit'); return s && !s.disabled; }`)
	b.mustDo(t, "submit the case", chromedp.Click(chromedp.ID("case-submit")))
	b.mustWaitAttr(t, "#case-status", "data-status", "submitted")
	// The receipt: the case number, the office, when it is due.
	b.mustWaitAttr(t, "#receipt-number", "text", cs.Number)
	mustPoll[bool](t, b, "the receipt's office and due date", `() => {
		const o = document.getElementById('receipt-office'), d = document.getElementById('receipt-due');
		return Boolean(o && d && o.textContent && o.textContent !== '加载中…' && d.textContent);
	}`)
	b.mustDo(t, "wait for the upload panel to close",
		chromedp.WaitNotPresent(chromedp.ID("upload-input")),
		chromedp.WaitNotPresent(chromedp.ID("case-submit")))
	app.MustJSON("GET", "/api/v1/cases/"+caseID, nil, http.StatusOK, &cs)
	if cs.Status != domain.StatusSubmitted || cs.SubmittedAt == nil {
		t.Fatalf("case after submitting: got status %q, submitted_at %v; want submitted with a time", cs.Status, cs.SubmittedAt)
	}
	b.mustScreenshot(t, "applicant-submitted.png")
}

// TestBrowserInspectorTakesCase: a case an applicant submitted (through the
// API) is in the inspector's queue, under the right status filter; taking
// it from its page puts it in review with them.
func TestBrowserInspectorTakesCase(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	data, err := os.ReadFile(testenv.MakeMP4(t, t.TempDir(), 2, "320x240"))
	if err != nil {
		t.Fatal(err)
	}
	loc := app.CreateUpload(cs.ID, "大堂.mp4", int64(len(data)))
	if resp := app.Patch(loc, 0, bytes.NewReader(data), int64(len(data))); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: got %d, want 204", resp.StatusCode)
	}
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)

	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	rowSel := fmt.Sprintf(`.case-row[data-case-id="%s"]`, cs.ID)
	b.mustDo(t, "find the case in the queue", chromedp.WaitVisible(chromedp.CSS(rowSel)))
	b.mustWaitAttr(t, rowSel+" [data-status]", "data-status", "submitted")

	// The status filter keeps the case under "submitted" only.
	b.mustDo(t, "filter the queue to in_review",
		chromedp.SetValue(chromedp.ID("status-filter"), "in_review"),
		chromedp.WaitVisible(chromedp.CSS(".case-list .empty")),
		chromedp.WaitNotPresent(chromedp.CSS(rowSel)))
	b.mustDo(t, "filter the queue to submitted",
		chromedp.SetValue(chromedp.ID("status-filter"), "submitted"),
		chromedp.WaitVisible(chromedp.CSS(rowSel)))

	b.mustDo(t, "open the case", chromedp.Click(chromedp.CSS(rowSel)), chromedp.WaitVisible(chromedp.ID("case-take")))
	b.mustWaitAttr(t, "#case-number", "text", cs.Number)
	row := mustPoll[evidenceRow](t, b, "the evidence row", waitEvidenceRowJS, "大堂.mp4")
	if row.Size != fmt.Sprint(len(data)) || row.Rows != 1 {
		t.Fatalf("evidence rows: got %d, data-size %s; want 1, data-size %d", row.Rows, row.Size, len(data))
	}

	b.mustDo(t, "take the case", chromedp.Click(chromedp.ID("case-take")))
	b.mustWaitAttr(t, "#case-status", "data-status", "in_review")
	b.mustDo(t, "wait for the take button to go", chromedp.WaitNotPresent(chromedp.ID("case-take")))
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	ins.MustJSON("GET", "/api/v1/cases/"+cs.ID, nil, http.StatusOK, &cs)
	if cs.Status != domain.StatusInReview || cs.Inspector == nil || cs.Inspector.Username != "inspector" {
		t.Fatalf("case after taking: got status %q, inspector %+v; want in_review with inspector", cs.Status, cs.Inspector)
	}

	// Back in the queue, the case is now under "in review".
	b.mustDo(t, "list the cases in review",
		chromedp.Click(chromedp.CSS("a.back")),
		chromedp.WaitVisible(chromedp.ID("status-filter")),
		chromedp.SetValue(chromedp.ID("status-filter"), "in_review"),
		chromedp.WaitVisible(chromedp.CSS(rowSel)))
	b.mustWaitAttr(t, rowSel+" [data-status]", "data-status", "in_review")
	b.mustScreenshot(t, "inspector-queue.png")
}
