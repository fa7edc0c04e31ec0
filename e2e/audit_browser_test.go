package e2e

import (
	"fmt"
	"slices"
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

// TestBrowserCasesNextPage: the supervisor's case list (sorted by due
// date) shows its first 50 cases, then the next 10 as the list's end
// scrolls into view, each case once and in the queue's order, with no
// button left. 60 approved
// cases are written straight into the database, a day apart.
func TestBrowserCasesNextPage(t *testing.T) {
	o := newSeededOffice(t, nil, []seedUser{{"sup", "supervisor", ""}, {"app", "applicant", ""}})
	day := time.Date(2026, 3, 1, 9, 0, 0, 0, o.loc)
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("P%02d", i)
		at := day.AddDate(0, 0, i).UnixMilli()
		o.exec(`INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org, site_name, site_address, description,
			created_at, updated_at) VALUES (?, ?, 'binhai', 'hotel', 'approved', ?, 'Acme', ?, 'a', '', ?, ?)`, id, "BH-"+id, o.users["app"].ID, "site "+id, at, at)
	}
	url := o.serve()

	b := mustNamedBrowser(t, "supervisor", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, url, "sup", "password-sup")
	b.mustDo(t, "open the case list", chromedp.Navigate(url+"/#/cases"), chromedp.WaitVisible(chromedp.CSS(".case-row[data-case-id]")))
	rows := `[...document.querySelectorAll('.case-row[data-case-id]')].map((r) => r.dataset.caseId)`
	if got := mustRun(t, b, "read the first page", chromedp.Evaluate[[]string](rows)); len(got) != 50 {
		t.Errorf("first page: got %d cases, want 50", len(got))
	}
	b.mustDo(t, "scroll to the end", chromedp.ScrollIntoView(chromedp.ID("more-cases")))
	mustPoll[bool](t, b, "the second page", `() => document.querySelectorAll('.case-row[data-case-id]').length === 60 && !document.getElementById('more-cases')`)
	// None has a due date yet, so the queue is newest first: P59 to P00.
	want := make([]string, 60)
	for i := range want {
		want[i] = fmt.Sprintf("P%02d", 59-i)
	}
	if got := mustRun(t, b, "read both pages", chromedp.Evaluate[[]string](rows)); !slices.Equal(got, want) {
		t.Errorf("both pages: got %v, want %v", got, want)
	}
}
