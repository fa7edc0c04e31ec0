package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
	"siteinspect/web"
)

// TestBrowserOfficeAudit: the supervisor's #/audit page on a phone lists
// the office's trail newest first with times in the office's zone
// (Asia/Shanghai; the test machine is in UTC), loads the next page as the
// list's end scrolls into view, filters by actor through the form (the
// filter in the address and in the export link), and switches to English.
// 150 logins are written straight into the database at 23:00 Shanghai,
// one a second, 120 by 张三 (zhang) and 30 by insp2.
func TestBrowserOfficeAudit(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SeedPermitTypes(ctx); err != nil {
		t.Fatal(err)
	}
	users := map[string]*domain.User{}
	for _, u := range []struct{ name, role, display string }{{"sup", "supervisor", "监督员"}, {"zhang", "inspector", "张三"}, {"insp2", "inspector", ""}} {
		usr, err := db.CreateUser(ctx, u.name, "password-"+u.name, domain.Role(u.role), u.display, "binhai")
		if err != nil {
			t.Fatal(err)
		}
		users[u.name] = usr
	}
	var seq int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 10, 23, 0, 0, 0, loc)
	for i := 0; i < 150; i++ {
		actor := users["zhang"].ID
		if i%5 == 0 {
			actor = users["insp2"].ID
		}
		seq++
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash)
			VALUES (?, NULL, ?, 'auth.login', '', '{}', ?, '', '')`, seq, actor, at.Add(time.Duration(i)*time.Second).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	disk, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, disk, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	webFS, err := web.FS()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DB: db, Objects: disk, Uploads: ups, Web: webFS, Office: "binhai", NumberPrefix: "BH", Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	b := mustNamedBrowser(t, "supervisor", phoneWidth, phoneHeight, browserBudget)
	b.mustDo(t, "emulate a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	b.mustLogin(t, ts.URL, "sup", "password-sup")
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
