package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
)

// TestBrowserDocumentSlots is the applicant on a phone with a permit type
// whose materials are required slots: the case page lists each material as
// 未上传 and keeps submit disabled naming what is missing; a PDF goes into
// 营业执照, is replaced by another (the old one is removed), a stray file is
// removed after an inline confirmation, and once every slot holds a file
// submit is enabled and the case submits.
func TestBrowserDocumentSlots(t *testing.T) {
	p := harness.StartServer(t, append(harness.S3Args(t), "--data", t.TempDir())...)
	admin := harness.Login(t, p.URL, "admin", p.Demo["admin"])
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	var types []domain.PermitType
	admin.MustJSON("GET", "/api/v1/permit-types", nil, http.StatusOK, &types)
	var hotel domain.PermitType
	for _, pt := range types {
		if pt.Code == "hotel" {
			hotel = pt
		}
	}
	admin.MustJSON("POST", "/api/v1/admin/permit-types/hotel/versions", map[string]any{
		"base_version": hotel.Version, "name": hotel.Name, "commitment_allowed": hotel.CommitmentAllowed, "supplement_days": hotel.SupplementDays,
		"target_days": hotel.TargetDays, "checklist": hotel.Checklist, "materials": hotel.Materials, "slots_required": true,
	}, http.StatusCreated, nil)
	cs := app.NewCase()
	path := "/api/v1/cases/" + cs.ID

	dir := t.TempDir()
	pdf := func(name string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte("%PDF-1.4\n% "+name+"\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	slot := func(zh string) string { return `.slot[data-slot="` + zh + `"]` }
	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "applicant", p.Demo["applicant"])
	b.mustDo(t, "open the draft", chromedp.Navigate(p.URL+"/#/cases/"+cs.ID), chromedp.WaitVisible(chromedp.ID("case-slots")))
	b.mustWaitAttr(t, slot("平面图")+" .slot-state", "text", "未上传")
	b.mustDo(t, "submit disabled", chromedp.WaitVisible(chromedp.CSS("#case-submit[disabled]")))

	upload := func(zh, file string) {
		t.Helper()
		b.mustDo(t, "the upload button of "+zh, chromedp.WaitVisible(chromedp.CSS(slot(zh)+" .slot-upload")))
		b.mustSetUploadFiles(t, "upload into "+zh, slot(zh)+" input.slot-input", []string{file})
		b.mustWaitAttr(t, slot(zh)+" .slot-file:last-child .name", "text", filepath.Base(file))
	}
	upload("营业执照", pdf("licence-old.pdf"))
	b.mustWaitAttr(t, slot("营业执照")+" .slot-file .name", "text", "licence-old.pdf")
	b.mustWaitAttr(t, "#case-submit-note", "text", "以下材料尚未上传：房屋产权或租赁证明、消防安全检查合格证明、平面图。上传后才能提交。")
	b.mustScreenshot(t, "slots-one-filled.png")

	// Replace: the new file goes in, the old one leaves the slot.
	upload("营业执照", pdf("licence-new.pdf"))
	b.mustWaitAttr(t, slot("营业执照")+" .slot-file .name", "text", "licence-new.pdf")

	// A file in the wrong slot is removed after confirming.
	upload("平面图", pdf("wrong.pdf"))
	b.mustWaitAttr(t, slot("平面图")+" .slot-file .name", "text", "wrong.pdf")
	b.mustClickUntil(t, "remove the wrong file", slot("平面图")+" .slot-remove", slot("平面图")+" .slot-remove-yes")
	b.mustClickUntil(t, "confirm the removal", slot("平面图")+" .slot-remove-yes", slot("平面图")+`[data-state="empty"]`)
	b.mustWaitAttr(t, slot("平面图")+" .slot-state", "text", "未上传")

	upload("平面图", pdf("plan.pdf"))
	upload("房屋产权或租赁证明", pdf("lease.pdf"))
	upload("消防安全检查合格证明", pdf("fire.pdf"))
	b.mustWaitAttr(t, "#case-submit-note", "text", "材料已上传，确认无误后提交审查。提交后不能再修改材料。")
	b.mustScreenshot(t, "slots-all-filled.png")
	b.mustDo(t, "submit", chromedp.Click(chromedp.ID("case-submit")))
	b.mustWaitAttr(t, "#case-status", "data-status", "submitted")

	var list []domain.Evidence
	app.MustJSON("GET", path+"/evidence", nil, http.StatusOK, &list)
	got := map[string]string{}
	for _, ev := range list {
		got[ev.Filename] = ev.Slot
	}
	want := map[string]string{"licence-new.pdf": "营业执照", "plan.pdf": "平面图", "lease.pdf": "房屋产权或租赁证明", "fire.pdf": "消防安全检查合格证明"}
	if len(got) != len(want) {
		t.Fatalf("evidence after submission: got %v, want %v", got, want)
	}
	for name, s := range want {
		if got[name] != s {
			t.Fatalf("evidence after submission: got %v, want %v", got, want)
		}
	}
}
