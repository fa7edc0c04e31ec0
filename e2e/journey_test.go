package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// journeyBrowser is a desktop-sized Chinese browser whose own clock is in
// zone (CDP Emulation.setTimezoneOverride), as an officer's laptop
// travelling abroad or a device left on UTC would be.
func journeyBrowser(t *testing.T, name, zone string) *browser {
	t.Helper()
	b := mustNamedBrowser(t, name, deskWidth, deskHeight, 90*time.Second)
	b.mustDo(t, "set the browser's zone to "+zone,
		chromedp.EmulateViewport(deskWidth, deskHeight),
		call(emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}))
	if got := mustRun(t, b, "read the browser's zone", chromedp.Evaluate[string](`Intl.DateTimeFormat().resolvedOptions().timeZone`)); got != zone {
		t.Fatalf("browser's zone: got %q, want %q (the override did not apply)", got, zone)
	}
	return b
}

// zhDate and zhTime are how the Chinese UI writes a date ("2027年2月2日")
// and a clock time ("23:59"), computed here without a browser.
func zhDate(at time.Time) string {
	return fmt.Sprintf("%d年%d月%d日", at.Year(), at.Month(), at.Day())
}
func zhTime(at time.Time) string { return at.Format("15:04") }

// factJS returns the text of the case page's fact whose label is the argument.
const factJS = `(label) => {
	const f = [...document.querySelectorAll('.facts .fact')].find((x) => x.querySelector('dt')?.textContent === label);
	return f ? f.querySelector('dd').textContent : null;
}`

// TestBrowserJourneyOfficeTime: with the browser's clock on UTC and on
// New York time, the case page shows the due time of the office
// (Asia/Shanghai, the API's due_at read there), and a supplement due date
// picked in the decision dialog is stored as 23:59:59 of that date in the
// office's zone and shown back as that date.
func TestBrowserJourneyOfficeTime(t *testing.T) {
	office, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	p := harness.StartServer(t, append([]string{"--jobs", "1", "--timezone", "Asia/Shanghai"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	var cfg struct {
		Timezone string `json:"timezone"`
	}
	app.MustJSON("GET", "/api/v1/config", nil, http.StatusOK, &cfg)
	if cfg.Timezone != "Asia/Shanghai" {
		t.Fatalf("GET /api/v1/config: got timezone %q, want Asia/Shanghai", cfg.Timezone)
	}
	var types []domain.PermitType
	app.MustJSON("GET", "/api/v1/permit-types", nil, http.StatusOK, &types)
	var pt domain.PermitType
	for _, x := range types {
		if x.Code == "hotel" {
			pt = x
		}
	}
	if len(pt.Checklist) == 0 {
		t.Fatalf("permit type hotel: got no checklist in %d types, want one", len(types))
	}
	clip := testenv.MakeMP4(t, t.TempDir(), 1, "160x120")

	for i, zone := range []string{"UTC", "America/New_York"} {
		t.Run(strings.ReplaceAll(zone, "/", "_"), func(t *testing.T) {
			cs := app.NewCase()
			eid := app.MustUploadFile(cs.ID, clip)
			app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
			ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, &cs)
			// The evidence is processed first, so the page does not redraw
			// under the dialog when it becomes ready.
			ins.MustEvidenceDone(eid, 60*time.Second)
			if cs.DueAt == nil {
				t.Fatalf("submitted case has no due_at")
			}
			due := cs.DueAt.In(office)
			for _, item := range pt.Checklist {
				ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/findings", map[string]any{"checklist_item": item.ID, "result": "pass"}, http.StatusCreated, nil)
			}

			b := journeyBrowser(t, fmt.Sprintf("inspector-%d", i), zone)
			b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
			b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.ID("decide-open")))
			shown := mustPoll[string](t, b, "the due fact", factJS, "办结期限")
			if !strings.Contains(shown, zhDate(due)) || !strings.Contains(shown, zhTime(due)) {
				t.Errorf("due on the page: got %q, want the office's %s %s (due_at %s)", shown, zhDate(due), zhTime(due), cs.DueAt.Format(time.RFC3339))
			}
			// The device's own reading of due_at differs, so the check above
			// is not passing by the zones agreeing.
			local := mustRun(t, b, "the device's own clock time of due_at", chromedp.Evaluate[string](fmt.Sprintf(
				`new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(%q))`, cs.DueAt.Format(time.RFC3339))))
			if local == zhTime(due) {
				t.Fatalf("the device's zone %s reads due_at as %s too, want a different clock time", zone, local)
			}

			picked := time.Now().In(office).AddDate(0, 0, 10+i)
			pickedValue := picked.Format("2006-01-02")
			b.mustDo(t, "open the decision dialog", chromedp.Click(chromedp.ID("decide-open")), chromedp.WaitVisible(chromedp.ID("decision-dialog")))
			b.mustDo(t, "choose a supplement", chromedp.Click(chromedp.CSS(`input[name="decision-outcome"][value="request_supplement"]`)),
				chromedp.WaitVisible(chromedp.ID("decision-due")))
			b.mustDo(t, "fill the decision due "+pickedValue,
				chromedp.SendKeys(chromedp.ID("decision-summary"), "消防验收意见书缺失"),
				chromedp.SendKeys(chromedp.ID("decision-owed"), "消防验收意见书"),
				chromedp.SetValue(chromedp.ID("decision-due"), pickedValue),
				chromedp.Click(chromedp.ID("decision-submit")))
			mustPoll[bool](t, b, "the decision dialog to close", `() => document.getElementById('decision-dialog') === null || null`)

			var after domain.Case
			ins.MustJSON("GET", "/api/v1/cases/"+cs.ID, nil, http.StatusOK, &after)
			if after.Status != domain.StatusSupplementRequested || after.OwedDueAt == nil {
				t.Fatalf("after the decision: got status %s, owed_due_at %v; want supplement_requested with a due date", after.Status, after.OwedDueAt)
			}
			stored := after.OwedDueAt.In(office)
			if got := stored.Format("2006-01-02 15:04:05"); got != pickedValue+" 23:59:59" {
				t.Errorf("stored due date: got %s (%s), want %s 23:59:59 in Asia/Shanghai", got, after.OwedDueAt.Format(time.RFC3339), pickedValue)
			}
			owed := mustPoll[string](t, b, "the owed fact", factJS, "待补材料")
			if !strings.Contains(owed, zhDate(picked)) {
				t.Errorf("owed due date on the page: got %q, want %s", owed, zhDate(picked))
			}
		})
	}
}

// latinWord finds English on a Chinese page: two Latin letters in a row,
// once the file formats' names (which Chinese text uses too) are removed.
var latinWord = regexp.MustCompile(`[A-Za-z]{2,}`)

var formatNames = strings.NewReplacer("MP4", "", "MOV", "", "WebM", "", "MKV", "", "JPEG", "", "PNG", "", "HEIC", "", "PDF", "")

// mustChinese fails unless text is the wanted sentence, with no English.
func mustChinese(t *testing.T, what, got, want string) {
	t.Helper()
	got = strings.TrimSpace(got)
	if w := latinWord.FindString(formatNames.Replace(got)); w != "" {
		t.Errorf("%s: got %q, with English %q; want Chinese only", what, got, w)
	}
	if got != want {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// alertJS returns the text of the first visible alert inside sel, or null.
const alertJS = `(sel) => {
	const el = document.querySelector(sel + ' [role="alert"]');
	return el && el.textContent.trim() ? el.textContent : null;
}`

// TestBrowserJourneyChineseErrors: in the Chinese UI, a wrong password, a
// text file renamed .mp4 (refused in the browser before any byte goes),
// submitting without evidence and a failed finding without a note each
// read as a Chinese sentence, with no English from the protocol.
func TestBrowserJourneyChineseErrors(t *testing.T) {
	p := harness.StartServer(t, append([]string{"--jobs", "1"}, harness.S3Args(t)...)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	empty := app.NewCase()

	b := mustBrowser(t)
	b.mustDo(t, "open the app", chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	b.mustWaitAttr(t, "#login-submit", "text", "登录")
	b.mustDo(t, "sign in with a wrong password",
		chromedp.SendKeys(chromedp.ID("login-username"), "applicant"),
		chromedp.SendKeys(chromedp.ID("login-password"), "not-the-password"),
		chromedp.Click(chromedp.ID("login-submit")))
	mustChinese(t, "wrong password", mustPoll[string](t, b, "the login error", alertJS, "#main"), "用户名或密码错误。")

	b.mustDo(t, "sign in", chromedp.Evaluate[chromedp.Void](`document.getElementById('login-password').value = ''`),
		chromedp.SendKeys(chromedp.ID("login-password"), p.Demo["applicant"]),
		chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID("status-filter")))
	b.mustDo(t, "open the case with no evidence", chromedp.Navigate(p.URL+"/#/cases/"+empty.ID), chromedp.WaitVisible(chromedp.ID("case-submit")))

	// A text file named like a video: the browser reads its first bytes
	// and refuses it; no upload is created on the server.
	txt := filepath.Join(t.TempDir(), "现场视频.mp4")
	if err := os.WriteFile(txt, []byte(strings.Repeat("This is a text file, not a video.\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	b.mustDo(t, "choose the renamed text file", chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{txt}))
	msg := mustPoll[string](t, b, "the refused file's message",
		`() => { const m = document.querySelector('.upload-row[data-state="error"] .upload-msg'); return m && m.textContent ? m.textContent : null; }`)
	mustChinese(t, "refused file type", msg,
		"该文件不是可接收的视频、照片或 PDF（支持 MP4、MOV、WebM、MKV、JPEG、PNG、HEIC、PDF），未上传。")
	if got := append(b.statuses("/api/v1/cases/"+empty.ID+"/uploads"), b.statuses("/api/v1/uploads/")...); len(got) != 0 {
		t.Errorf("requests to /uploads for the refused file: got statuses %v, want none (refused before upload)", got)
	}
	if retry := mustRun(t, b, "look for a retry button", chromedp.Evaluate[bool](`document.querySelector('.upload-row .upload-retry') !== null`)); retry {
		t.Errorf("refused file: got a retry button, want none (it would only fail again)")
	}

	mustSniffAgree(t, b)

	// Submit waits for a file (the refused one is not one), and says so in Chinese.
	if disabled := mustRun(t, b, "submit's state", chromedp.Evaluate[bool](`document.getElementById('case-submit').disabled`)); !disabled {
		t.Errorf("submit without evidence: got it enabled, want disabled until a file is uploaded")
	}
	mustChinese(t, "submit without evidence", mustRun(t, b, "submit's note", chromedp.Evaluate[string](`document.getElementById('case-submit-note').textContent`)),
		"请先上传至少一个文件，才能提交。")

	// A failed finding without a note, as the inspector.
	cs := app.NewCase()
	app.MustUploadFile(cs.ID, testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, &cs)
	ib := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	ib.mustDo(t, "use a desktop window", chromedp.EmulateViewport(deskWidth, deskHeight))
	ib.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	row := `.finding-row[data-checklist-item="fire-exits"]`
	ib.mustDo(t, "mark fire exits failed without a note",
		chromedp.Navigate(p.URL+"/#/cases/"+cs.ID),
		chromedp.WaitVisible(chromedp.CSS(row+` input[value="fail"]`)),
		chromedp.Click(chromedp.CSS(row+` input[value="fail"]`)),
		chromedp.Click(chromedp.ID("findings-save")))
	mustChinese(t, "failed finding without a note", mustPoll[string](t, ib, "the finding error", alertJS, row),
		"核查结果为不符合时，请在说明中写明不符合之处。")
	// One 保存结论 saves every item: the failed one with its note now, and
	// the three others marked pass.
	ib.mustDo(t, "write the note, pass the rest and save once",
		chromedp.SendKeys(chromedp.CSS(row+` textarea.finding-note`), "安全出口被纸箱堵塞"),
		chromedp.Click(chromedp.CSS(`.finding-row[data-checklist-item="cctv-entrances"] input[value="pass"]`)),
		chromedp.Click(chromedp.CSS(`.finding-row[data-checklist-item="guest-registration"] input[value="pass"]`)),
		chromedp.Click(chromedp.CSS(`.finding-row[data-checklist-item="valuables-storage"] input[value="pass"]`)),
		chromedp.Click(chromedp.ID("findings-save")))
	ib.mustWaitAttr(t, row, "data-result", "fail")
	var fs []domain.Finding
	ins.MustJSON("GET", "/api/v1/cases/"+cs.ID+"/findings", nil, http.StatusOK, &fs)
	got := map[string]string{}
	for _, f := range fs {
		got[f.ChecklistItem] = f.Result
	}
	if len(fs) != 4 || got["fire-exits"] != "fail" || got["cctv-entrances"] != "pass" || got["guest-registration"] != "pass" || got["valuables-storage"] != "pass" {
		t.Fatalf("findings after one save: got %v, want fire-exits fail and the three others pass", got)
	}
}

// sniffJS loads the page's upload module (already imported by the case
// page, under its content-hashed name) and applies its sniffBytes to each
// head, given as arrays of bytes.
const sniffJS = `(async (heads) => {
	const url = performance.getEntriesByType('resource').map((e) => e.name).find((n) => {
		const file = new URL(n).pathname.split('/').pop();
		return file.startsWith('uploads') && !file.startsWith('uploadstore') && file.endsWith('.js');
	});
	if (!url) return null;
	const { sniffBytes } = await import(url);
	return heads.map((h) => sniffBytes(new Uint8Array(h)));
})(%s)`

// mustSniffAgree checks the browser's sniff against the server's on the
// first bytes of files of every accepted kind and of a few refused ones:
// the browser never refuses what the server takes, and refuses the plain
// non-media files the server refuses.
func mustSniffAgree(t *testing.T, b *browser) {
	t.Helper()
	ftyp := func(brand string) []byte {
		h := []byte("\x00\x00\x00\x18ftyp" + brand + "\x00\x00\x02\x00isomavc1")
		return append(h, make([]byte, 16)...)
	}
	mp4, err := os.ReadFile(testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
	if err != nil {
		t.Fatal(err)
	}
	samples := []struct {
		name string
		head []byte
	}{
		{"mp4 from ffmpeg", mp4[:min(len(mp4), 4096)]},
		{"mov", ftyp("qt  ")},
		{"heic", ftyp("heic")},
		{"m4v", ftyp("M4V ")},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04")},
		{"mkv", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x88matroska\x42\x87\x81\x04")},
		{"text", []byte("This is a text file, not a video.\n")},
		{"html", []byte("<!doctype html><html><body>hi</body></html>")},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")},
		{"empty", []byte{}},
	}
	heads := make([][]int, len(samples))
	for i, s := range samples {
		heads[i] = make([]int, len(s.head))
		for j, c := range s.head {
			heads[i][j] = int(c)
		}
	}
	arg, err := json.Marshal(heads)
	if err != nil {
		t.Fatal(err)
	}
	got := mustRun(t, b, "sniff in the browser", chromedp.Evaluate[[]bool](fmt.Sprintf(sniffJS, arg), chromedp.EvalAwaitPromise))
	if len(got) != len(samples) {
		t.Fatalf("browser sniff: got %d answers, want %d (is uploads.js loaded?)", len(got), len(samples))
	}
	for i, s := range samples {
		_, _, server := storage.Sniff(s.head)
		media := !strings.Contains("text html zip empty", s.name)
		if server != media {
			t.Fatalf("%s: the server's sniff says %v, want %v: the sample is wrong", s.name, server, media)
		}
		if got[i] != server {
			t.Errorf("%s: browser sniff got %v, want %v as the server's", s.name, got[i], server)
		}
	}
}
