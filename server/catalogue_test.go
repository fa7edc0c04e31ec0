package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/pipeline"
	"siteinspect/storage/objects"
)

var jsonHeader = map[string]string{"Content-Type": "application/json"}

// hotelV2Body is hotel's version 1 with valuables-storage removed, a new
// item smoke-detectors and 3 target days, as the admin page publishes it.
func hotelV2Body(t *testing.T, m *matrix, base int) []byte {
	t.Helper()
	v1, err := m.db.PermitTypeVersion(context.Background(), "hotel", 1)
	m.must(err)
	var items []domain.ChecklistItem
	for _, it := range v1.Checklist {
		if it.ID != "valuables-storage" {
			items = append(items, it)
		}
	}
	items = append(items, domain.ChecklistItem{ID: "smoke-detectors", Text: domain.Text{ZH: "客房安装烟感报警器", EN: "Rooms have smoke detectors"}})
	b, err := json.Marshal(map[string]any{"base_version": base, "name": v1.Name, "commitment_allowed": v1.CommitmentAllowed,
		"supplement_days": v1.SupplementDays, "target_days": 3, "checklist": items, "materials": v1.Materials})
	m.must(err)
	return b
}

func (m *matrix) finding(user string, cs *domain.Case, item string) (int, string) {
	m.t.Helper()
	b, _ := json.Marshal(map[string]any{"checklist_item": item, "result": "pass"})
	got, code, _ := m.send(user, "POST", "/api/v1/cases/"+cs.ID+"/findings", b, jsonHeader)
	return got, code
}

// A case keeps its checklist version after an admin publishes a new one:
// findings on an item removed in v2 stay valid on the old case, the old
// case is decided against v1's items and its report lists them, while a
// new case gets v2 and refuses the removed item.
func TestCatalogueVersionKeptByOldCase(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	old := m.build(domain.StatusInReview)
	if old.cs.PermitVersion != 1 {
		t.Fatalf("old case: got version %d, want 1", old.cs.PermitVersion)
	}
	got, code, w := m.send("admin", "POST", "/api/v1/admin/permit-types/hotel/versions", hotelV2Body(t, m, 1), jsonHeader)
	if got != http.StatusCreated {
		t.Fatalf("publish: got %d %s %s, want 201", got, code, w.Body)
	}
	var pub domain.PermitType
	m.must(json.Unmarshal(w.Body.Bytes(), &pub))
	if pub.Version != 2 || pub.TargetDays != 3 {
		t.Fatalf("published: got version %d target %d, want 2 and 3", pub.Version, pub.TargetDays)
	}

	// The old case shows and takes v1's items.
	_, _, w = m.send("insp", "GET", "/api/v1/cases/"+old.cs.ID, nil, nil)
	var shown struct {
		PermitVersion int               `json:"permit_version"`
		Permit        domain.PermitType `json:"permit"`
	}
	m.must(json.Unmarshal(w.Body.Bytes(), &shown))
	if _, ok := shown.Permit.Item("valuables-storage"); shown.PermitVersion != 1 || shown.Permit.Version != 1 || !ok {
		t.Errorf("GET old case: got permit_version %d, permit.version %d, valuables-storage %v; want 1, 1, true", shown.PermitVersion, shown.Permit.Version, ok)
	}
	v1, err := m.db.PermitTypeVersion(ctx, "hotel", 1)
	m.must(err)
	for _, it := range v1.Checklist {
		if got, code := m.finding("insp", old.cs, it.ID); got != http.StatusCreated {
			t.Fatalf("old case's finding on %s: got %d %s, want 201", it.ID, got, code)
		}
	}
	if got, code := m.finding("insp", old.cs, "smoke-detectors"); got != http.StatusBadRequest || code != "unknown_checklist_item" {
		t.Errorf("old case's finding on v2's new item: got %d %s, want 400 unknown_checklist_item", got, code)
	}
	// Every v1 item has its finding: the decision goes by v1, not v2.
	if got, code, w := m.send("insp", "POST", "/api/v1/cases/"+old.cs.ID+"/decision", []byte(`{"outcome":"approve","summary":"ok"}`), jsonHeader); got != http.StatusOK {
		t.Fatalf("old case's decision: got %d %s %s, want 200", got, code, w.Body)
	}
	disk, err := objects.NewDisk(t.TempDir())
	m.must(err)
	reports := &pipeline.Reports{DB: m.db, Objects: disk, WorkDir: t.TempDir(), Location: time.UTC, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var buf bytes.Buffer
	m.must(reports.Write(ctx, m.reload(old.cs), &buf, true, ""))
	var rep struct {
		PermitType struct {
			Version int `json:"version"`
		} `json:"permit_type"`
		Checklist []struct {
			ID string `json:"id"`
		} `json:"checklist"`
	}
	m.must(json.Unmarshal(buf.Bytes(), &rep))
	var ids []string
	for _, it := range rep.Checklist {
		ids = append(ids, it.ID)
	}
	wantIDs := []string{"fire-exits", "guest-registration", "cctv-entrances", "valuables-storage"}
	if !slices.Equal(ids, wantIDs) || rep.PermitType.Version != 1 {
		t.Errorf("old case's report: got version %d items %v, want 1 and %v", rep.PermitType.Version, ids, wantIDs)
	}

	// A new case gets v2.
	fresh := m.build(domain.StatusInReview)
	if fresh.cs.PermitVersion != 2 {
		t.Fatalf("new case: got version %d, want 2", fresh.cs.PermitVersion)
	}
	if got, code := m.finding("insp", fresh.cs, "valuables-storage"); got != http.StatusBadRequest || code != "unknown_checklist_item" {
		t.Errorf("new case's finding on the removed item: got %d %s, want 400 unknown_checklist_item", got, code)
	}
	if got, code := m.finding("insp", fresh.cs, "smoke-detectors"); got != http.StatusCreated {
		t.Errorf("new case's finding on v2's item: got %d %s, want 201", got, code)
	}

	// The applicants' catalogue keeps its shape and shows the version.
	_, _, w = m.send("appA", "GET", "/api/v1/permit-types", nil, nil)
	var list []map[string]any
	m.must(json.Unmarshal(w.Body.Bytes(), &list))
	for _, p := range list {
		if p["code"] == "hotel" {
			if p["version"] != float64(2) || p["checklist"] == nil || p["name"] == nil {
				t.Errorf("GET /permit-types hotel: got %v, want version 2 with name and checklist", p)
			}
		}
	}

	// The admins' list has both versions, v2 by the admin.
	_, _, w = m.send("admin", "GET", "/api/v1/admin/permit-types", nil, nil)
	var cat []domain.CatalogueEntry
	m.must(json.Unmarshal(w.Body.Bytes(), &cat))
	i := slices.IndexFunc(cat, func(e domain.CatalogueEntry) bool { return e.Current.Code == "hotel" })
	if i < 0 || len(cat[i].Versions) != 2 || cat[i].Versions[0].CreatedBy == nil || cat[i].Versions[0].CreatedBy.Username != "admin" {
		t.Fatalf("admin catalogue: got %+v, want hotel with v2 by admin and v1", cat)
	}
}

// Only admins reach the catalogue routes; everyone else is refused with
// catalogue_admins_only and nothing changes.
func TestCatalogueAdminOnly(t *testing.T) {
	m := newMatrix(t)
	create := []byte(`{"code":"dance-hall","name":{"zh":"歌舞娱乐场所","en":"Dance hall"},"target_days":5,"checklist":[{"id":"exits","text":{"zh":"安全出口","en":"Exits"}}],"materials":[]}`)
	routes := []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/api/v1/admin/permit-types", nil},
		{"POST", "/api/v1/admin/permit-types", create},
		{"POST", "/api/v1/admin/permit-types/hotel/versions", hotelV2Body(t, m, 1)},
		{"POST", "/api/v1/admin/permit-types/hotel/retire", nil},
		{"POST", "/api/v1/admin/permit-types/hotel/reactivate", nil},
	}
	head, _, err := m.db.AuditHead(context.Background())
	m.must(err)
	for _, user := range []string{"appA", "insp", "rev", "sup"} {
		for _, r := range routes {
			if got, code, _ := m.send(user, r.method, r.path, r.body, jsonHeader); got != http.StatusForbidden || code != domain.CodeCatalogueAdminsOnly {
				t.Errorf("%s %s by %s: got %d %s, want 403 %s", r.method, r.path, user, got, code, domain.CodeCatalogueAdminsOnly)
			}
		}
	}
	if got, _, _ := m.send("", "GET", "/api/v1/admin/permit-types", nil, nil); got != http.StatusUnauthorized {
		t.Errorf("GET without a login: got %d, want 401", got)
	}
	after, _, err := m.db.AuditHead(context.Background())
	m.must(err)
	pt, err := m.db.PermitType(context.Background(), "hotel")
	m.must(err)
	if after != head || pt.Version != 1 || pt.RetiredAt != nil {
		t.Errorf("after the refusals: got audit head %d (want %d), hotel version %d retired %v; want nothing changed", after, head, pt.Version, pt.RetiredAt)
	}
	// The same requests by the admin succeed.
	want := []int{http.StatusOK, http.StatusCreated, http.StatusCreated, http.StatusOK, http.StatusOK}
	for i, r := range routes {
		if got, code, w := m.send("admin", r.method, r.path, r.body, jsonHeader); got != want[i] {
			t.Errorf("%s %s by admin: got %d %s %s, want %d", r.method, r.path, got, code, w.Body, want[i])
		}
	}
}

// Refused edits over HTTP carry their stable codes; a retired type takes
// no new case.
func TestCatalogueValidationCodes(t *testing.T) {
	m := newMatrix(t)
	for _, tc := range []struct {
		name, path, body string
		want             int
		code             string
	}{
		{"duplicate item ids", "/api/v1/admin/permit-types", `{"code":"x-ray","name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}},{"id":"a","text":{"zh":"乙","en":"B"}}]}`, 400, domain.CodeChecklistItemDuplicate},
		{"no chinese name", "/api/v1/admin/permit-types", `{"code":"x-ray","name":{"zh":"","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 400, domain.CodePermitNameMissing},
		{"days out of range", "/api/v1/admin/permit-types", `{"code":"x-ray","name":{"zh":"甲","en":"A"},"target_days":400,"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 400, domain.CodePermitDaysInvalid},
		{"empty checklist", "/api/v1/admin/permit-types", `{"code":"x-ray","name":{"zh":"甲","en":"A"},"checklist":[]}`, 400, domain.CodeChecklistEmpty},
		{"bad code", "/api/v1/admin/permit-types", `{"code":"X Ray","name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 400, domain.CodePermitCodeInvalid},
		{"taken code", "/api/v1/admin/permit-types", `{"code":"hotel","name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 409, domain.CodePermitTypeExists},
		{"stale base", "/api/v1/admin/permit-types/hotel/versions", `{"base_version":7,"name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 409, domain.CodePermitVersionConflict},
		{"code change", "/api/v1/admin/permit-types/hotel/versions", `{"code":"inn","base_version":1,"name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 400, domain.CodePermitCodeInvalid},
		{"unknown type", "/api/v1/admin/permit-types/no-such/versions", `{"base_version":1,"name":{"zh":"甲","en":"A"},"checklist":[{"id":"a","text":{"zh":"甲","en":"A"}}]}`, 404, "not_found"},
	} {
		if got, code, w := m.send("admin", "POST", tc.path, []byte(tc.body), jsonHeader); got != tc.want || code != tc.code {
			t.Errorf("%s: got %d %s %s, want %d %s", tc.name, got, code, w.Body, tc.want, tc.code)
		}
	}
	if got, code, _ := m.send("admin", "POST", "/api/v1/admin/permit-types/hotel/retire", nil, nil); got != http.StatusOK {
		t.Fatalf("retire: got %d %s", got, code)
	}
	body := []byte(`{"permit_type":"hotel","site_name":"Inn","site_address":"5 Rd"}`)
	if got, code, _ := m.send("appA", "POST", "/api/v1/cases", body, jsonHeader); got != http.StatusBadRequest || code != domain.CodePermitTypeRetired {
		t.Errorf("case of a retired type: got %d %s, want 400 %s", got, code, domain.CodePermitTypeRetired)
	}
}
