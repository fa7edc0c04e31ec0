package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserOfficeAudit: the supervisor's #/audit page on a phone lists
// the office's trail newest first with times in the office's zone
// (Asia/Shanghai; the test machine is in UTC), loads the next page as the
// list's end scrolls into view, filters by actor through the form (the
// filter in the address and in the export link), and switches to English.
// 150 logins are written straight into the database at 23:00 Shanghai,
// one a second, 120 by 张三 (zhang) and 30 by insp2.
func TestBrowserOfficeAudit(t *testing.T) {
	o := newSeededOffice(t, nil, []seedUser{{"sup", "supervisor", "监督员"}, {"zhang", "inspector", "张三"}, {"insp2", "inspector", ""}})
	at := time.Date(2026, 3, 10, 23, 0, 0, 0, o.loc)
	for i := 0; i < 150; i++ {
		actor := o.users["zhang"].ID
		if i%5 == 0 {
			actor = o.users["insp2"].ID
		}
		o.event("", actor, "auth.login", at.Add(time.Duration(i)*time.Second), "{}")
	}
	url := o.serve()

	b := mustNamedBrowser(t, "supervisor", phoneWidth, phoneHeight, browserBudget)
	b.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	b.mustLogin(t, url, "sup", "password-sup")
	b.mustDo(t, "open the audit trail from the header", chromedp.Click(chromedp.ID("nav-audit")),
		chromedp.WaitVisible(chromedp.CSS(".audit-row[data-seq]")))
	// The newest is the supervisor's own login; then the last seeded
	// one. The page's own search is recorded after it is read: not in it.
	b.mustWaitAttr(t, ".audit-row[data-seq] .a-actor", "text", "监督员")
	b.mustWaitAttr(t, ".audit-row[data-seq]:nth-child(3) .a-time", "text", "2026-03-10 23:02:29")
	b.mustWaitAttr(t, ".audit-row[data-seq]:nth-child(3) .a-actor", "text", "张三")
	b.mustWaitAttr(t, "h1", "text", "办事处审计日志")
	rows := func() int {
		return mustRun(t, b, "count rows", chromedp.Evaluate[int](`document.querySelectorAll('.audit-row[data-seq]').length`))
	}
	if got := rows(); got != 100 {
		t.Errorf("first page: got %d rows, want 100", got)
	}
	b.mustDo(t, "scroll to the end", chromedp.ScrollIntoView(chromedp.ID("audit-more")))
	mustPoll[bool](t, b, "the second page", `() => document.querySelectorAll('.audit-row[data-seq]').length === 151 && !document.getElementById('audit-more')`)
	b.mustWaitAttr(t, ".audit-row[data-seq]:last-of-type .a-time", "text", "2026-03-10 23:00:00")
	b.mustScreenshot(t, "audit-phone-zh.png")

	b.mustDo(t, "filter by actor", chromedp.SendKeys(chromedp.ID("audit-actor"), "insp2"), chromedp.Click(chromedp.ID("audit-search")))
	mustPoll[bool](t, b, "insp2's 30 logins", `() => location.hash === '#/audit?actor=insp2' &&
		document.querySelectorAll('.audit-row[data-seq]').length === 30 &&
		[...document.querySelectorAll('.audit-row[data-seq] .a-actor')].every((e) => e.textContent === 'insp2')`)
	href := mustRun(t, b, "read the export link", chromedp.Evaluate[string](`document.getElementById('audit-export').getAttribute('href')`))
	if !strings.HasPrefix(href, "/api/v1/audit.csv?actor=insp2&lang=zh") {
		t.Errorf("export link: got %q, want /api/v1/audit.csv?actor=insp2&lang=zh", href)
	}
	b.mustDo(t, "switch to English", chromedp.SetValue(chromedp.ID("lang-switch"), "en"))
	mustRun(t, b, "tell the page", chromedp.Evaluate[bool](`document.getElementById('lang-switch').dispatchEvent(new Event('change'))`))
	b.mustWaitAttr(t, "h1", "text", "The office’s audit trail")
	b.mustWaitAttr(t, "#audit-export", "text", "Export CSV")
	b.mustScreenshot(t, "audit-phone-en.png")
}
