package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestBrowserNotifications: the applicant's bell counts what happens to
// their case as it happens (the event stream, no reload), the inbox words
// each change in Chinese with the office's time (the browser on New York
// time, the words the server's, as in the e-mail), marking all read clears the badge, and the contact form refuses a
// bad address in Chinese and saves a good one.
func TestBrowserNotifications(t *testing.T) {
	office, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	p := harness.StartServer(t, "--jobs", "1", "--timezone", "Asia/Shanghai")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	b := journeyBrowser(t, "notifications", "America/New_York")
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	const badgeJS = `() => { const c = document.getElementById('bell-count'); return c && !c.hidden ? c.textContent : (c ? '0' : ''); }`
	if got := mustPoll[string](t, b, "the bell", badgeJS); got != "0" {
		t.Fatalf("badge at sign-in: got %q, want 0", got)
	}

	cs := app.NewCase()
	app.MustUploadFile(cs.ID, testenv.MakeMP4(t, t.TempDir(), 1, "160x120"))
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
	if got := mustPoll[string](t, b, "the badge after submitting", `() => document.getElementById('bell-count')?.hidden === false && document.getElementById('bell-count').textContent`); got != "1" {
		t.Fatalf("badge after the receipt: got %q, want 1", got)
	}
	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, nil)
	if got := mustPoll[string](t, b, "the badge after the claim", `() => document.getElementById('bell-count')?.textContent === '2' && '2'`); got != "2" {
		t.Fatalf("badge after the claim: got %q, want 2", got)
	}

	b.mustDo(t, "open the inbox", chromedp.Click(chromedp.ID("nav-bell")), chromedp.WaitVisible(chromedp.CSS(`#notification-list li.notification`)))
	texts := mustPoll[[]string](t, b, "the inbox's two notifications", `() => { const l = [...document.querySelectorAll('#notification-list li.notification .notif-text')].map((x) => x.textContent); return l.length === 2 && l; }`)
	if !strings.Contains(texts[0], cs.Number) || !strings.Contains(texts[0], "已由踏勘人员受理审查") {
		t.Errorf("newest notification: got %q, want the claim of %s in Chinese", texts[0], cs.Number)
	}
	due := cs.DueAt.In(office)
	if want := due.Format("2006-01-02 15:04"); !strings.Contains(texts[1], "已提交") || !strings.Contains(texts[1], want) {
		t.Errorf("receipt: got %q, want 已提交 with the office's due %s", texts[1], want)
	}
	b.mustDo(t, "mark all read", chromedp.Click(chromedp.ID("notif-mark-all")))
	mustPoll[bool](t, b, "the badge cleared and no unread left", `() => document.getElementById('bell-count').hidden && !document.querySelector('#notification-list .unread')`)

	b.mustDo(t, "a bad address", chromedp.WaitVisible(chromedp.ID("contact-email")),
		chromedp.SendKeys(chromedp.ID("contact-email"), "wang@"), chromedp.Click(chromedp.ID("contact-save")))
	// The browser's own check of type=email stops the form first; the
	// server's code is met through an address the browser accepts.
	b.mustDo(t, "an address the browser takes but the server refuses",
		chromedp.SetValue(chromedp.ID("contact-email"), "wang@harbour"), chromedp.Click(chromedp.ID("contact-save")))
	if msg := mustPoll[string](t, b, "the refusal", `() => document.querySelector('#contact-message .error')?.textContent`); msg != "电子邮箱地址无效。" {
		t.Fatalf("refusal: got %q, want the Chinese sentence of contact_email_invalid", msg)
	}
	b.mustDo(t, "a good address and phone",
		chromedp.SetValue(chromedp.ID("contact-email"), "wang.fang@harbour.example"),
		chromedp.SetValue(chromedp.ID("contact-phone"), "138 0013 8000"), chromedp.Click(chromedp.ID("contact-save")))
	mustPoll[bool](t, b, "saved", `() => !!document.querySelector('#contact-message .ok')`)
	var ct domain.Contact
	app.MustJSON("GET", "/api/v1/me/contact", nil, http.StatusOK, &ct)
	if ct.Email != "wang.fang@harbour.example" || ct.Phone != "13800138000" || !ct.NotifyEmail || !ct.NotifySMS {
		t.Fatalf("contact saved from the page: got %+v", ct)
	}
}

// TestBrowserBellWaitsForItsWords: a signed-in page whose words
// (strings.js) do not come, with no service worker to answer for them,
// says so in its own language and shows no bell, where the bell's label would be a bare key;
// with the file back, the reloaded page has the bell, labelled in Chinese.
func TestBrowserBellWaitsForItsWords(t *testing.T) {
	p := harness.StartServer(t)
	b := journeyBrowser(t, "bellwords", "Asia/Shanghai")
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	const bellJS = `() => { const b = document.getElementById('nav-bell'); return b ? b.textContent : ''; }`
	if got := mustPoll[string](t, b, "the bell", bellJS); !strings.Contains(got, "通知") {
		t.Fatalf("bell with its words: got %q, want 通知 in its label", got)
	}
	block := func(patterns ...string) chromedp.Action[chromedp.Void] {
		ps := []*network.BlockPattern{}
		for _, u := range patterns {
			ps = append(ps, &network.BlockPattern{URLPattern: u, Block: true})
		}
		return call(network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: ps})
	}
	// A page missing a module first reloads itself once, in case a new
	// release replaced it (app.js, reloadForRelease); marked as done
	// already, this page says what is wrong at once.
	mustRun(t, b, "mark the reload done", chromedp.Evaluate[bool](`sessionStorage.setItem('siteinspect.reloadedForRelease', '1'), true`))
	b.mustDo(t, "reload with strings.js unreachable and no service worker",
		call(network.Enable, network.EnableParams{}),
		call(network.SetBypassServiceWorker, network.SetBypassServiceWorkerParams{Bypass: true}),
		call(network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}),
		block(p.URL+"/strings.*"), // its name carries a hash
		chromedp.Reload())
	// In the page's language, not the browser's "Failed to fetch
	// dynamically imported module".
	if got := mustPoll[string](t, b, "the error box", `() => document.querySelector('main .notice.error')?.textContent`); got != "网络连接中断，请检查网络后重试。" {
		t.Errorf("error box without strings.js: got %q, want the Chinese sentence of network", got)
	}
	time.Sleep(500 * time.Millisecond) // the bell's import has long settled
	if got := mustRun(t, b, "read the header", chromedp.Evaluate[string](`document.querySelector('header')?.textContent || ''`)); strings.Contains(got, "notif.") {
		t.Errorf("header without strings.js: got %q, want no bare keys", got)
	}
	if got := mustRun(t, b, "look for the bell", chromedp.Evaluate[bool](`!!document.getElementById('nav-bell')`)); got {
		t.Errorf("header without strings.js: got a bell, want none until its words load")
	}
	b.mustDo(t, "reload with strings.js back", block(), chromedp.Reload())
	if got := mustPoll[string](t, b, "the bell again", bellJS); !strings.Contains(got, "通知") {
		t.Fatalf("bell after strings.js came back: got %q, want 通知 in its label", got)
	}
}
