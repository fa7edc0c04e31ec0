package e2e

import (
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
)

// typeJS sets the value of the input sel and fires its input event.
const typeJS = `(sel, v) => {
  const el = document.querySelector(sel);
  if (!el) return false;
  el.value = v;
  el.dispatchEvent(new Event('input', { bubbles: true }));
  return true;
}`

// TestBrowserCatalogueEdit is an admin editing the hotel type in the
// catalogue page: a checklist item removed, one added with both texts, the
// new one moved up, the target days changed, published as version 2; the
// history lists both versions, and a case opened before keeps version 1.
func TestBrowserCatalogueEdit(t *testing.T) {
	p := harness.StartServer(t)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	old := app.NewCase()
	admin := harness.Login(t, p.URL, "admin", p.Demo["admin"])

	b := mustBrowser(t)
	b.mustLogin(t, p.URL, "admin", p.Demo["admin"])
	hotel := `.catalogue-type[data-code="hotel"]`
	b.mustDo(t, "open the catalogue", chromedp.Navigate(p.URL+"/#/admin/catalogue"), chromedp.WaitVisible(chromedp.CSS(hotel)))
	b.mustDo(t, "edit hotel", chromedp.Click(chromedp.CSS(hotel+` button[data-action="edit"]`)), chromedp.WaitVisible(chromedp.ID("catalogue-form")))
	b.mustDo(t, "change the checklist",
		chromedp.Click(chromedp.CSS(`#catalogue-items li[data-item="valuables-storage"] button[data-action="remove"]`)),
		chromedp.Click(chromedp.ID("catalogue-add-item")),
		chromedp.WaitVisible(chromedp.CSS(`#catalogue-items li:nth-child(4)`)))
	last := `#catalogue-items li:nth-child(4)`
	// Typed as a person would, into fields that start filled: the value
	// is replaced and the page hears an input event.
	for sel, v := range map[string]string{
		last + " input.item-id": "smoke-detectors", last + " input.item-zh": "客房安装烟感报警器",
		last + " input.item-en": "Rooms have smoke detectors", "#catalogue-target-days": "3",
	} {
		mustPoll[bool](t, b, "type into "+sel, typeJS, sel, v)
	}
	b.mustDo(t, "move the new item up", chromedp.Click(chromedp.CSS(last+` button[data-action="up"]`)))
	b.mustScreenshot(t, "catalogue-editor.png")
	b.mustDo(t, "publish", chromedp.Click(chromedp.ID("catalogue-publish")),
		chromedp.WaitVisible(chromedp.CSS(hotel+`[data-version="2"]`)))
	b.mustDo(t, "history", chromedp.Click(chromedp.CSS(hotel+` button[data-action="history"]`)),
		chromedp.WaitVisible(chromedp.CSS(hotel+` .catalogue-versions li[data-version="1"]`)))
	b.mustScreenshot(t, "catalogue-history.png")

	var cat []domain.CatalogueEntry
	admin.MustJSON("GET", "/api/v1/admin/permit-types", nil, http.StatusOK, &cat)
	i := slices.IndexFunc(cat, func(e domain.CatalogueEntry) bool { return e.Current.Code == "hotel" })
	if i < 0 {
		t.Fatal("no hotel in the catalogue")
	}
	var ids []string
	for _, it := range cat[i].Current.Checklist {
		ids = append(ids, it.ID)
	}
	want := []string{"fire-exits", "guest-registration", "smoke-detectors", "cctv-entrances"}
	if cur := cat[i].Current; cur.Version != 2 || cur.TargetDays != 3 || !slices.Equal(ids, want) || len(cat[i].Versions) != 2 {
		t.Errorf("published in the page: got version %d target %d items %v (%d versions), want 2, 3, %v (2 versions)", cur.Version, cur.TargetDays, ids, len(cat[i].Versions), want)
	}
	// The edit keeps the shot hints of the items it did not touch; the new item has none.
	for _, it := range cat[i].Current.Checklist {
		if hasHint := it.Hint != nil && it.Hint.ZH != "" && it.Hint.EN != ""; hasHint != (it.ID != "smoke-detectors") {
			t.Errorf("item %s after the edit: got hint %+v, want one unless it is the new item", it.ID, it.Hint)
		}
	}
	var kept struct {
		PermitVersion int               `json:"permit_version"`
		Permit        domain.PermitType `json:"permit"`
	}
	app.MustJSON("GET", "/api/v1/cases/"+old.ID, nil, http.StatusOK, &kept)
	if _, ok := kept.Permit.Item("valuables-storage"); kept.PermitVersion != 1 || !ok {
		t.Errorf("case opened before: got version %d, valuables-storage %v; want 1 with it", kept.PermitVersion, ok)
	}
}
