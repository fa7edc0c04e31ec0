package main

import (
	"context"
	"fmt"
	"net/http/httptest"
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

// TestBrowserStatsUnits: the supervision figures page draws the units'
// and officers' figures, ratings and urgent cases from GET /api/v1/stats,
// in Chinese and, after the language switch, in English. The cases and
// their audit events are written straight into the database yesterday
// (office time, Asia/Shanghai): three cases of 东区分中心 (one urgent and
// decided within its target, one rated 5), one of 西区分中心 rated 2.
func TestBrowserStatsUnits(t *testing.T) {
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
	for _, u := range []struct{ name, role, unit string }{
		{"sup", "supervisor", ""}, {"insp1", "inspector", "u1"}, {"insp2", "inspector", "u2"}, {"rev1", "reviewer", "u1"}, {"app", "applicant", ""},
	} {
		usr, err := db.CreateUser(ctx, u.name, "password-"+u.name, domain.Role(u.role), "", "binhai")
		if err != nil {
			t.Fatal(err)
		}
		users[u.name] = usr
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`INSERT INTO units (id, office, name_zh, name_en, created_at) VALUES ('u1', 'binhai', '东区分中心', 'East unit', 0), ('u2', 'binhai', '西区分中心', 'West unit', 0)`)
	var seq int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	y := time.Date(now.Year(), now.Month(), now.Day()-1, 9, 0, 0, 0, loc)
	event := func(caseID, actor, action string, at time.Time, data string) {
		seq++
		exec(`INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash) VALUES (?, ?, ?, ?, '', ?, ?, '', '')`,
			seq, caseID, actor, action, data, at.UnixMilli())
	}
	for i, c := range []struct {
		unit, insp string
		rated      int
		urgent     bool
	}{{"u1", "insp1", 5, true}, {"u1", "insp1", 0, false}, {"u1", "insp1", 0, false}, {"u2", "insp2", 2, false}} {
		id := fmt.Sprint("S", i)
		exec(`INSERT INTO cases (id, number, office, permit_type, status, applicant_id, applicant_org, site_name, site_address, description,
			created_at, updated_at, unit_id) VALUES (?, ?, 'binhai', 'hotel', 'approved', ?, 'Acme', 's', 'a', '', 0, 0, ?)`, id, "BH-"+id, users["app"].ID, c.unit)
		sub := y.Add(time.Duration(i) * time.Hour)
		event(id, users["sup"].ID, "case.routed", sub.Add(-time.Minute), `{"from":"","to":"`+c.unit+`"}`)
		event(id, users["app"].ID, "case.status", sub, `{"from":"draft","to":"submitted"}`)
		if c.urgent {
			event(id, users[c.insp].ID, "case.urgent_set", sub.Add(time.Minute), `{"reason":"flood","target_hours":4}`)
		}
		event(id, users[c.insp].ID, "case.status", sub.Add(30*time.Minute), `{"decision_id":"d`+id+`","from":"in_review","to":"pending_countersign"}`)
		event(id, users["rev1"].ID, "case.status", sub.Add(90*time.Minute), `{"agree":true,"decision_id":"d`+id+`","from":"pending_countersign","to":"approved"}`)
		if c.rated > 0 {
			event(id, users["app"].ID, "case.rated", sub.Add(2*time.Hour),
				fmt.Sprintf(`{"inspector_id":%q,"level":%d,"reviewer_id":%q}`, users[c.insp].ID, c.rated, users["rev1"].ID))
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

	b := mustNamedBrowser(t, "supervisor", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, ts.URL, "sup", "password-sup")
	day := y.Format(time.DateOnly)
	b.mustDo(t, "open the figures", chromedp.Navigate(ts.URL+"/#/stats?from="+day+"&to="+day),
		chromedp.WaitVisible(chromedp.CSS(".stats-table tbody tr")))
	// The first table is the units', sorted by Chinese name.
	b.mustWaitAttr(t, ".stats-table tbody tr:nth-child(1) th", "text", "东区分中心")
	b.mustWaitAttr(t, ".stats-table tbody tr:nth-child(2) th", "text", "西区分中心")
	row := func(n int) string {
		return mustRun(t, b, "read a unit's row", chromedp.Evaluate[string](fmt.Sprintf(
			`[...document.querySelectorAll('.stats-table')[0].querySelectorAll('tbody tr')[%d].children].map((c) => c.textContent.trim()).join('|')`, n)))
	}
	// unit | received | decided | same day | to decision | countersigns | returned | to countersign | live | rated | bad share | follow-ups | urgent received | urgent decided | overdue
	if got, want := row(0), "东区分中心|3|3|3|0.5 小时 / 0.5 小时|3|0|1 小时 / 1 小时|0|1|100%|0 / 0|1|1 / 1|0"; got != want {
		t.Errorf("东区分中心's row:\n got %s\nwant %s", got, want)
	}
	if got, want := row(1), "西区分中心|1|1|1|0.5 小时 / 0.5 小时|1|0|1 小时 / 1 小时|0|1|0%|0 / 0|0|0 / 0|0"; got != want {
		t.Errorf("西区分中心's row:\n got %s\nwant %s", got, want)
	}
	charts := mustRun(t, b, "count the charts", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('.stats-chart figcaption')].map((c) => c.textContent)`))
	for _, want := range []string{"受理、办结与当日办结（按单位）", "差评率（按单位）", "加急案件（按单位）", "评价与差评（按人员）"} {
		found := false
		for _, c := range charts {
			found = found || c == want
		}
		if !found {
			t.Errorf("charts: got %q, want one titled %s", charts, want)
		}
	}
	b.mustScreenshot(t, "stats-units-zh.png")
	b.mustDo(t, "switch to English", chromedp.SetValue(chromedp.ID("lang-switch"), "en"))
	mustRun(t, b, "tell the page", chromedp.Evaluate[bool](`document.getElementById('lang-switch').dispatchEvent(new Event('change'))`))
	b.mustWaitAttr(t, ".stats-table tbody tr:nth-child(1) th", "text", "East unit")
	b.mustWaitAttr(t, ".stats-chart figcaption", "text", "Received, decided and decided the same day, by unit")
	b.mustScreenshot(t, "stats-units-en.png")
}
