package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
)

// submitJS submits the form sel as its submit button would.
const submitJS = `(sel) => { const f = document.querySelector(sel); if (!f) return false; f.requestSubmit(); return true; }`

// TestBrowserAdmin is an admin at #/admin: the header links there, a unit
// is created, an inspector created into it shows in the user list, the
// office's time zone is changed and GET /api/v1/config serves it, and the
// page speaks English after the switch.
func TestBrowserAdmin(t *testing.T) {
	p := harness.StartServer(t)
	admin := harness.Login(t, p.URL, "admin", p.Demo["admin"])
	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "admin", p.Demo["admin"])
	b.mustDo(t, "the header's admin link", chromedp.WaitVisible(chromedp.ID("nav-admin")), chromedp.Click(chromedp.ID("nav-admin")),
		chromedp.WaitVisible(chromedp.ID("admin-users")))

	b.mustDo(t, "open units", chromedp.Navigate(p.URL+"/#/admin/units"), chromedp.WaitVisible(chromedp.ID("unit-new")))
	mustPoll[bool](t, b, "unit name zh", typeJS, "#unit-new-zh", "一分中心")
	mustPoll[bool](t, b, "unit name en", typeJS, "#unit-new-en", "Unit One")
	mustPoll[bool](t, b, "create the unit", submitJS, "#unit-new")
	mustPoll[bool](t, b, "the unit listed", `() => [...document.querySelectorAll('#admin-units li input')].some((el) => el.value === '一分中心')`)
	var units []domain.Unit
	admin.MustJSON("GET", "/api/v1/units", nil, http.StatusOK, &units)
	if len(units) != 1 || units[0].NameEn != "Unit One" {
		t.Fatalf("units after the page: got %+v, want Unit One", units)
	}

	// Routing a submitted case to the unit from the case page.
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	pdf := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(pdf, harness.MinimalPDF(1, "Plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	app.MustUploadFile(cs.ID, pdf)
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.ID("case-route-unit")))
	// The page's event stream starts after what it has read: opening it
	// replays no history, so nothing is read twice (and the unit picked
	// below is not redrawn away, as it was when the replay reloaded the
	// case 120 ms after the stream connected).
	time.Sleep(time.Second)
	if n := mustRun(t, b, "count the case's reads", chromedp.Evaluate[int](fmt.Sprintf(
		`performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/api/v1/cases/%s').length`, cs.ID))); n != 1 {
		t.Errorf("the case page read its case %d times in its first second, want once", n)
	}
	b.mustDo(t, "route the case", chromedp.SetValue(chromedp.ID("case-route-unit"), units[0].ID), chromedp.Click(chromedp.ID("case-route")))
	for deadline := time.Now().Add(20 * time.Second); ; {
		var got domain.Case
		admin.MustJSON("GET", "/api/v1/cases/"+cs.ID, nil, http.StatusOK, &got)
		if got.UnitID == units[0].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("case routed in the page: got unit %q after 20 s, want %q", got.UnitID, units[0].ID)
		}
		time.Sleep(50 * time.Millisecond)
	}

	b.mustDo(t, "open users", chromedp.Navigate(p.URL+"/#/admin/users"), chromedp.WaitVisible(chromedp.ID("admin-users")))
	for sel, v := range map[string]string{"#nu-username": "zhou", "#nu-name": "周工", "#nu-password": "first password", "#nu-role": "inspector", "#nu-unit": units[0].ID} {
		mustPoll[bool](t, b, "type into "+sel, typeJS, sel, v)
	}
	mustPoll[bool](t, b, "create the user", submitJS, "#admin-new-user")
	mustPoll[bool](t, b, "zhou listed", `() => [...document.querySelectorAll('#admin-users tr.admin-user')].some((r) => r.textContent.includes('zhou') && r.textContent.includes('一分中心'))`)
	b.mustScreenshot(t, "admin-users.png")
	var users []domain.User
	admin.MustJSON("GET", "/api/v1/admin/users?q=zhou", nil, http.StatusOK, &users)
	if len(users) != 1 || users[0].DisplayName != "周工" || users[0].UnitID != units[0].ID || users[0].Role != domain.RoleInspector {
		t.Fatalf("zhou after the page: got %+v, want 周工, inspector of 一分中心", users)
	}

	b.mustDo(t, "open settings", chromedp.Navigate(p.URL+"/#/admin/settings"), chromedp.WaitVisible(chromedp.ID("admin-settings")))
	mustPoll[bool](t, b, "zone", typeJS, "#set-zone", "Asia/Urumqi")
	mustPoll[bool](t, b, "save the settings", submitJS, "#admin-settings")
	mustPoll[bool](t, b, "saved notice", `() => (document.querySelector('#admin-settings .notice') || {}).textContent?.includes('Asia/Urumqi')`)
	var cfg struct {
		Timezone string `json:"timezone"`
	}
	admin.MustJSON("GET", "/api/v1/config", nil, http.StatusOK, &cfg)
	if cfg.Timezone != "Asia/Urumqi" {
		t.Errorf("config after the settings page: got %q, want Asia/Urumqi", cfg.Timezone)
	}

	b.mustDo(t, "switch to English", chromedp.SetValue(chromedp.ID("lang-switch"), "en"))
	b.mustWaitAttr(t, "h1", "text", "Administration")
	b.mustWaitAttr(t, ".admin-tab.is-current", "text", "Settings")
	b.mustScreenshot(t, "admin-settings-en.png")
}
