package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"siteinspect/internal/harness"
)

// TestBrowserDownloadNameFollowsType: an applicant uploads an HTML page
// with "%PDF-" in its first KiB (it sniffs as a PDF) and names it
// invoice.hta, a Windows HTML application. The 下载 link on the case page
// saves it, in Chromium, as invoice.hta.pdf: the server's Content-
// Disposition names it after its sniffed type, and it takes precedence
// over the link's download attribute, which holds the applicant's name.
func TestBrowserDownloadNameFollowsType(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	data := []byte("<html><!-- %PDF-1.7 --><script>alert(document.domain)</script></html>\n")
	loc := app.CreateUpload(cs.ID, "invoice.hta", int64(len(data)))
	if resp := app.Patch(loc, 0, bytes.NewReader(data), int64(len(data))); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: got %d, want 204", resp.StatusCode)
	}

	dir := t.TempDir()
	b := mustBrowser(t)
	b.mustDo(t, "let downloads go to a folder", call(cdpbrowser.SetDownloadBehavior,
		cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}))
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID),
		chromedp.WaitVisible(chromedp.CSS(".ev-links a[download]")))
	b.mustDo(t, "download", chromedp.Click(chromedp.CSS(".ev-links a[download]")))
	var names []string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		names = names[:0]
		done := false
		for _, e := range entries {
			names = append(names, e.Name())
			done = done || !strings.HasSuffix(e.Name(), ".crdownload")
		}
		if done {
			break
		}
	}
	if len(names) != 1 || names[0] != "invoice.hta.pdf" {
		t.Fatalf("the download was saved as %q, want [invoice.hta.pdf]", names)
	}
	saved, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil || !bytes.Equal(saved, data) {
		t.Fatalf("the saved file: %v, %d bytes, want the %d uploaded", err, len(saved), len(data))
	}
}

// TestBrowserBidiControlsShown: an applicant names a file
// "invoice\u202Efdp.hta". U+202E (right-to-left override) would show it on
// the case page as "invoiceath.pdf", so an inspector would read a PDF
// where the name says a Windows program. The page shows the override as
// U+FFFD, in the name and in its tooltip.
func TestBrowserBidiControlsShown(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	data := []byte("%PDF-1.4\n%%EOF\n")
	loc := app.CreateUpload(cs.ID, "invoice\u202efdp.hta", int64(len(data)))
	if resp := app.Patch(loc, 0, bytes.NewReader(data), int64(len(data))); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: got %d, want 204", resp.StatusCode)
	}

	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID),
		chromedp.WaitVisible(chromedp.CSS(".ev-name")))
	type name struct {
		Text  string `json:"text"`
		Title string `json:"title"`
	}
	got := mustRun(t, b, "read the name", chromedp.Evaluate[name](
		`(() => { const el = document.querySelector('.ev-name'); return { text: el.textContent, title: el.title }; })()`))
	const want = "invoice\ufffdfdp.hta"
	if got.Text != want || got.Title != want {
		t.Fatalf("the evidence name on the page: text %+q, tooltip %+q; want %+q in both", got.Text, got.Title, want)
	}
}
