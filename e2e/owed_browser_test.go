package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestBrowserOwedLoop is 承诺办 through the pages: the applicant ticks a
// material, signs the commitment with their name and submits; after the
// approval with that material owed the applicant uploads a PDF into its
// slot; the inspector returns it with a reason, the applicant uploads
// again, the inspector confirms it (确认已补交) and the case shows closed.
func TestBrowserOwedLoop(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	cs := app.NewCase()
	app.MustUploadFile(cs.ID, testenv.MakeMP4(t, t.TempDir(), 2, "320x240"))
	path := "/api/v1/cases/" + cs.ID
	pdf := filepath.Join(t.TempDir(), "营业执照.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The applicant signs the commitment on the draft.
	a := mustBrowser(t)
	a.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	a.mustDo(t, "open the draft", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.ID("commitment-form")))
	a.mustDo(t, "sign the commitment",
		chromedp.Click(chromedp.CSS(`#commitment-form input[value="营业执照"]`)),
		chromedp.SendKeys(chromedp.ID("commitment-name"), "王芳"),
		chromedp.Click(chromedp.ID("commitment-agree")),
		chromedp.Click(chromedp.ID("commitment-sign")),
		chromedp.WaitVisible(chromedp.CSS("#commitment .commitment-signed")))
	a.mustScreenshot(t, "owed-commitment-signed.png")
	var cm domain.Commitment
	app.MustJSON("GET", path+"/commitment", nil, http.StatusOK, &cm)
	if cm.SignerName != "王芳" || len(cm.Items) != 1 || cm.Items[0].Material.ZH != "营业执照" {
		t.Fatalf("commitment signed in the page: got %+v, want 王芳 owing 营业执照", cm)
	}

	// Submitted, reviewed and approved with the committed material owed.
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	ins.MustJSON("POST", path+"/assign", map[string]any{}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/assign", map[string]any{}, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"} {
		ins.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	ins.MustJSON("POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "现场符合要求", "owed": []string{"营业执照"}}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/countersign", map[string]any{"agree": true}, http.StatusOK, nil)

	deliver := func(what string) {
		t.Helper()
		a.mustDo(t, what,
			chromedp.Navigate(p.URL+"/#/cases/"+cs.ID+"?r="+what),
			chromedp.WaitVisible(chromedp.CSS(`.owed-item[data-state="open"] .owed-upload`)))
		a.mustSetUploadFiles(t, what, `.owed-item[data-state="open"] input.owed-file`, []string{pdf})
		a.mustDo(t, what+" (delivered)", chromedp.WaitVisible(chromedp.CSS(`.owed-item[data-state="delivered"]`)))
	}
	deliver("deliver")
	a.mustScreenshot(t, "owed-delivered.png")

	// The inspector returns it with a reason; the slot opens again.
	in := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	in.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	const reason = "扫描件不清晰，请重新上传"
	in.mustDo(t, "open the approved case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID))
	// The record redraws as the page's panels load: click what is there when it is.
	mustPoll[bool](t, in, "the return button", clickJS, `.owed-item[data-state="delivered"] .owed-return`)
	in.mustDo(t, "return the material",
		chromedp.SendKeys(chromedp.CSS(".owed-return-reason"), reason),
		chromedp.Click(chromedp.CSS(".owed-return-send")),
		chromedp.WaitVisible(chromedp.CSS(`.owed-item[data-state="open"]`)))
	var owed []domain.Owed
	app.MustJSON("GET", path+"/owed", nil, http.StatusOK, &owed)
	if len(owed) != 1 || owed[0].State != domain.OwedOpen || owed[0].ReturnReason != reason {
		t.Fatalf("returned in the page: got %+v, want the open slot with the reason", owed)
	}

	// The office's list: nothing overdue yet; with ?all=1 the open slot.
	in.mustDo(t, "the office's overdue list",
		chromedp.Navigate(p.URL+"/#/owed"), chromedp.WaitVisible(chromedp.CSS("#owedlist-toggle")), chromedp.WaitVisible(chromedp.CSS(".empty")))
	in.mustDo(t, "every material owed",
		chromedp.Click(chromedp.ID("owedlist-toggle")),
		chromedp.WaitVisible(chromedp.CSS(`.owed-row[data-owed-id="`+owed[0].ID+`"]`)))
	in.mustScreenshot(t, "owed-office-list.png")

	// Delivered again (the applicant sees the reason), confirmed: closed.
	a.mustDo(t, "see the reason", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID+"?r=reason"), chromedp.WaitVisible(chromedp.CSS(".owed-returned")))
	a.mustWaitAttr(t, ".owed-item .owed-returned", "text", "已于 "+owedTime(owed[0].ReturnedAt)+" 退回："+reason)
	deliver("again")
	in.mustDo(t, "open the case again", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID+"?r=confirm"))
	mustPoll[bool](t, in, "the confirm button", clickJS, `.owed-item[data-state="delivered"] .owed-accept`)
	in.mustDo(t, "confirm the material",
		chromedp.WaitVisible(chromedp.CSS(`.owed-item[data-state="accepted"]`)),
		chromedp.WaitVisible(chromedp.ID("owed-closed")))
	in.mustScreenshot(t, "owed-closed-inspector.png")
	var c domain.Case
	app.MustJSON("GET", path, nil, http.StatusOK, &c)
	if c.OwedOpen != 0 || c.OwedClosedAt == nil {
		t.Fatalf("after the confirmation: got owed_open %d closed %v, want 0 and closed", c.OwedOpen, c.OwedClosedAt)
	}
	a.mustDo(t, "the applicant sees it closed", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID+"?r=closed"), chromedp.WaitVisible(chromedp.ID("owed-closed")))
	a.mustScreenshot(t, "owed-closed-applicant.png")
}

// clickJS clicks the element sel once it is in the page and settled (the
// same element over two polls), and reports whether it did.
const clickJS = `(sel) => {
	const el = document.querySelector(sel);
	if (!el || window.__owedLast !== el) { window.__owedLast = el; return false; }
	el.click();
	return true;
}`

// owedTime is a time as the page shows it (dateTime in format.js: the
// office's zone, Asia/Shanghai for the demo).
func owedTime(at *time.Time) string {
	if at == nil {
		return ""
	}
	return at.In(time.FixedZone("CST", 8*3600)).Format("2006年1月2日 15:04")
}

// TestBrowserDecisionSummary: the decision dialog lists the failed item
// and refuses to approve until the officer confirms the findings and
// writes why they approve although an item failed; the reason is part of
// the decision's summary.
func TestBrowserDecisionSummary(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	video := app.MustUploadFile(cs.ID, testenv.MakeMP4(t, t.TempDir(), 2, "320x240"))
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	ins.MustJSON("POST", path+"/assign", map[string]any{}, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "guest-registration", "valuables-storage"} {
		ins.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	ins.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": "fire-exits", "result": "fail", "note": "纸箱堵塞通道"}, http.StatusCreated, nil)

	b := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID))
	mustPoll[bool](t, b, "the decision button", clickJS, "#decide-open")
	// Nobody has opened the video yet: the summary names it.
	b.mustWaitAttr(t, `#decision-dialog .review-unopened li`, "data-evidence-id", video)
	b.mustDo(t, "choose approve",
		chromedp.WaitVisible(chromedp.CSS(`#decision-dialog .review-fails li[data-checklist-item="fire-exits"]`)),
		chromedp.Click(chromedp.CSS(`input[name="decision-outcome"][value="approve"]`)),
		chromedp.WaitVisible(chromedp.ID("decision-fail-reason")),
		chromedp.SendKeys(chromedp.ID("decision-summary"), "经复查可予批准"),
		chromedp.Click(chromedp.ID("decision-submit")))
	b.mustWaitAttr(t, "#decision-dialog .notice.error", "text", "请先核对审查结果摘要并勾选确认。")
	b.mustDo(t, "confirm the findings", chromedp.Click(chromedp.ID("decision-confirm")), chromedp.Click(chromedp.ID("decision-submit")))
	b.mustWaitAttr(t, "#decision-dialog .notice.error", "text", "存在不合格项时批准，必须写明理由。")
	var c domain.Case
	ins.MustJSON("GET", path, nil, http.StatusOK, &c)
	if c.Status != domain.StatusInReview {
		t.Fatalf("refused in the page: got status %q, want in_review", c.Status)
	}
	const reason = "通道已当场清理，现场复查合格"
	b.mustDo(t, "give the reason and decide",
		chromedp.SendKeys(chromedp.ID("decision-fail-reason"), reason),
		chromedp.Click(chromedp.ID("decision-submit")),
		chromedp.WaitNotPresent(chromedp.ID("decision-dialog")))
	b.mustScreenshot(t, "decision-with-reason.png")
	var ds []domain.Decision
	ins.MustJSON("GET", path+"/decisions", nil, http.StatusOK, &ds)
	if len(ds) != 1 || ds[0].Outcome != "approve" || ds[0].Summary != "经复查可予批准" || ds[0].Reason != reason {
		t.Fatalf("decision: got %+v, want an approval with the reason kept beside its summary", ds)
	}

	// The reviewer agrees only with a reason of their own; having played
	// the video, it is no longer listed as unopened for them.
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	resp := rev.Do("GET", "/api/v1/evidence/"+video+"/content", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reviewer opens the video: got %d, want 200", resp.StatusCode)
	}
	r := mustNamedBrowser(t, "reviewer", deskWidth, deskHeight, browserBudget)
	r.mustLogin(t, p.URL, "reviewer", p.Demo["reviewer"])
	r.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID))
	r.mustDo(t, "the countersign view", chromedp.WaitVisible(chromedp.ID("countersign-reason")))
	r.mustWaitAttr(t, "#countersign .review-unopened-head", "text", "全部 1 份材料您均已打开查看。")
	r.mustDo(t, "confirm and agree", chromedp.Click(chromedp.ID("countersign-confirm")), chromedp.Click(chromedp.ID("countersign-agree")))
	r.mustWaitAttr(t, "#countersign .notice.error", "text", "存在不合格项时批准，必须写明理由。")
	const agreed = "清理照片已核对"
	r.mustDo(t, "give the reason and agree",
		chromedp.SendKeys(chromedp.ID("countersign-reason"), agreed),
		chromedp.Click(chromedp.ID("countersign-agree")),
		chromedp.WaitNotPresent(chromedp.ID("countersign")))
	ins.MustJSON("GET", path+"/decisions", nil, http.StatusOK, &ds)
	if len(ds) != 1 || ds[0].CountersignReason != agreed || ds[0].Agree == nil || !*ds[0].Agree {
		t.Fatalf("countersigned: got %+v, want agreement with the reviewer's reason", ds)
	}
}
