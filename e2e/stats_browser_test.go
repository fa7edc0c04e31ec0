package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStatsUnits: the supervision figures page draws the units'
// and officers' figures, ratings and urgent cases from GET /api/v1/stats,
// in Chinese and, after the language switch, in English. The cases and
// their audit events are written straight into the database yesterday
// (office time, Asia/Shanghai): three cases of 东区分中心 (one urgent and
// decided within its target, one rated 5), one of 西区分中心 rated 2.
func TestBrowserStatsUnits(t *testing.T) {
	o := newSeededOffice(t, [][3]string{{"u1", "东区分中心", "East unit"}, {"u2", "西区分中心", "West unit"}}, []seedUser{
		{"sup", "supervisor", ""}, {"insp1", "inspector", ""}, {"insp2", "inspector", ""}, {"rev1", "reviewer", ""}, {"app", "applicant", ""},
	})
	users, exec, event, loc := o.users, o.exec, o.event, o.loc
	now := time.Now().In(loc)
	y := time.Date(now.Year(), now.Month(), now.Day()-1, 9, 0, 0, 0, loc)
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

	url := o.serve()

	b := mustNamedBrowser(t, "supervisor", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, url, "sup", "password-sup")
	day := y.Format(time.DateOnly)
	b.mustDo(t, "open the figures", chromedp.Navigate(url+"/#/stats?from="+day+"&to="+day),
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
