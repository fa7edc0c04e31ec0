package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
)

// TestBrowserSessionLostDuringUpload: the session ends while a file is
// uploading (on a phone with a slow uplink): the header shows the page
// signed out, and after signing in again the case page still has the
// file's row with 重试, which finishes the upload.
func TestBrowserSessionLostDuringUpload(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	// An MP4's first bytes (the browser's sniff takes them), then 3 MiB.
	data := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte{0x5a}, 3<<20)...)
	file := filepath.Join(t.TempDir(), "大堂.mp4")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	b := mustNamedBrowser(t, "applicant", phoneWidth, phoneHeight, browserBudget)
	b.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	b.mustDo(t, "open the case and slow the uplink",
		chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.ID("upload-input")),
		call(emulateNetworkConditions, emulateNetworkConditionsParams{Latency: 20, DownloadThroughput: -1, UploadThroughput: 256 << 10}))
	b.mustDo(t, "choose the file", chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{file}))
	mustPoll[bool](t, b, "the upload under way", `() => { const r = document.querySelector('.upload-row'); return Boolean(r && r.dataset.state === 'uploading' && r.querySelector('progress').value > 0); }`)
	b.mustDo(t, "pause it", chromedp.Click(chromedp.CSS(".upload-row .upload-pause")))
	b.mustWaitAttr(t, ".upload-row", "data-state", "paused")
	// The session goes (the cookies are gone, as after an expiry).
	b.mustDo(t, "lose the session", call(network.ClearBrowserCookies, cdp.Empty{}))
	b.mustDo(t, "resume", chromedp.Click(chromedp.CSS(".upload-row .upload-resume")))
	// Signed out in the header too: the login form, no name, no sign-out.
	b.mustDo(t, "the login form", chromedp.WaitVisible(chromedp.ID("login-username")))
	if got := mustRun(t, b, "the header", chromedp.Evaluate[int](`document.querySelectorAll('#app-header .who-name').length`)); got != 0 {
		t.Fatalf("header after the session was lost: got %d user names, want none", got)
	}
	b.mustScreenshot(t, "session-lost.png")
	b.mustDo(t, "sign in again",
		chromedp.SendKeys(chromedp.ID("login-username"), "applicant"),
		chromedp.SendKeys(chromedp.ID("login-password"), p.Demo["applicant"]),
		chromedp.Click(chromedp.ID("login-submit")))
	// Back on the case, the row waits with 重试.
	b.mustWaitAttr(t, ".upload-row", "data-state", "error")
	b.mustWaitAttr(t, ".upload-row .upload-retry", "text", "重试")
	b.mustDo(t, "lift the throttle and retry",
		call(emulateNetworkConditions, emulateNetworkConditionsParams{DownloadThroughput: -1, UploadThroughput: -1}),
		chromedp.Click(chromedp.CSS(".upload-row .upload-retry")))
	b.mustWaitAttr(t, ".upload-row", "data-state", "done")
	var evs []domain.Evidence
	app.MustJSON("GET", "/api/v1/cases/"+cs.ID+"/evidence", nil, http.StatusOK, &evs)
	if len(evs) != 1 || evs[0].Size != int64(len(data)) || evs[0].SHA256 != sha256Hex(data) {
		t.Fatalf("evidence after the retry: got %+v, want one item of %d bytes with the file's SHA-256", evs, len(data))
	}
}
