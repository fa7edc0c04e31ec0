package e2e

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestBrowserRatingsAndUrgent is 特事特办 and 好差评 through the pages: the
// inspector marks the newer of two submitted cases urgent in the dialog and
// the queue shows it first with its badge and countdown; after the
// rejection the applicant rates it 非常不满意 on the phone and reads that a
// follow-up is open; the supervisor closes it on #/followups with the
// outcome, which the applicant then reads on the case.
func TestBrowserRatingsAndUrgent(t *testing.T) {
	p := harness.StartServer(t, "--data", t.TempDir())
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	clip := testenv.MakeMP4(t, t.TempDir(), 1, "320x240")
	var cases []domain.Case
	for range 2 {
		cs := app.NewCase()
		app.MustUploadFile(cs.ID, clip)
		app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
		cases = append(cases, cs)
	}
	older, newer := cases[0], cases[1]

	// The inspector marks the older case urgent: it heads the queue.
	in := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	in.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	in.mustWaitAttr(t, ".case-row:not(.case-row-head)", "data-case-id", newer.ID)
	in.mustDo(t, "open the older case", chromedp.Navigate(p.URL+"/#/cases/"+older.ID), chromedp.WaitVisible(chromedp.ID("urgent-open")))
	in.mustDo(t, "mark it urgent",
		chromedp.Click(chromedp.ID("urgent-open")),
		chromedp.WaitVisible(chromedp.ID("urgent-dialog")),
		chromedp.SendKeys(chromedp.ID("urgent-reason"), "防汛物资仓库，应急审批"),
		chromedp.SetValue(chromedp.ID("urgent-hours"), "6"),
		chromedp.Click(chromedp.ID("urgent-save")),
		chromedp.WaitVisible(chromedp.CSS(".case-title .badge.urgent")),
		chromedp.WaitVisible(chromedp.ID("urgent-clear")))
	in.mustWaitAttr(t, ".case-title .urgent-countdown", "text", "剩余 5 小时 59 分")
	in.mustDo(t, "the queue", chromedp.Navigate(p.URL+"/#/cases"), chromedp.WaitVisible(chromedp.CSS(".case-row.urgent")))
	in.mustWaitAttr(t, ".case-row:not(.case-row-head)", "data-case-id", older.ID)
	in.mustWaitAttr(t, ".case-row.urgent .badge.urgent", "text", "加急")
	in.mustWaitAttr(t, "#my-ratings", "text", "我的服务评价：暂无。")
	in.mustScreenshot(t, "urgent-queue.png")

	// Decided: rejected and countersigned.
	path := "/api/v1/cases/" + older.ID
	ins.MustJSON("POST", path+"/assign", map[string]any{}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/assign", map[string]any{}, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"} {
		ins.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	ins.MustJSON("POST", path+"/decision", map[string]any{"outcome": "reject", "summary": "选址不符合规划"}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/countersign", map[string]any{"agree": true}, http.StatusOK, nil)

	// The applicant rates it on the phone.
	a := mustBrowser(t)
	a.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	a.mustDo(t, "open the decided case", chromedp.Navigate(p.URL+"/#/cases/"+older.ID), chromedp.WaitVisible(chromedp.ID("rating-form")))
	a.mustDo(t, "rate it",
		chromedp.Click(chromedp.ID("rating-level-5")),
		chromedp.SendKeys(chromedp.ID("rating-comment"), "等了三天没人联系"),
		chromedp.Click(chromedp.ID("rating-submit")),
		chromedp.WaitVisible(chromedp.ID("rating-followup")))
	a.mustScreenshot(t, "rating-given.png")
	var r domain.Rating
	app.MustJSON("GET", path+"/rating", nil, http.StatusOK, &r)
	if r.Level != 5 || r.Comment != "等了三天没人联系" || r.FollowUp == nil {
		t.Fatalf("rating sent from the page: got %+v, want 5 with the comment and a follow-up", r)
	}

	// The supervisor closes the follow-up.
	s := mustNamedBrowser(t, "supervisor", deskWidth, deskHeight, browserBudget)
	s.mustLogin(t, p.URL, "supervisor", p.Demo["supervisor"])
	const outcome = "已约谈承办人，今后受理当日电话告知进度"
	s.mustDo(t, "the follow-ups", chromedp.Click(chromedp.ID("nav-followups")), chromedp.WaitVisible(chromedp.CSS(".followup.is-open .followup-form")))
	s.mustWaitAttr(t, ".followup .followup-comment", "text", "等了三天没人联系")
	s.mustDo(t, "close it",
		chromedp.SendKeys(chromedp.CSS(".followup-outcome-input"), outcome),
		chromedp.Click(chromedp.CSS(".followup-close")),
		chromedp.WaitVisible(chromedp.CSS(".followup.is-closed")))
	s.mustScreenshot(t, "followups-closed.png")

	a.mustDo(t, "the applicant reads the outcome", chromedp.Navigate(p.URL+"/#/cases/"+older.ID+"?r=outcome"), chromedp.WaitVisible(chromedp.ID("rating-outcome")))
	a.mustWaitAttr(t, "#rating-outcome", "text", outcome)
	a.mustScreenshot(t, "rating-outcome.png")
}
