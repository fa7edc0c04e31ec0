package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"siteinspect/domain"
)

// uploadSlot sends data as a PDF filed under slot and returns the status
// of the request that answered last, its error code and the evidence id.
func (e *env) uploadSlot(user, caseID, slot, name string, data []byte) (int, string, string) {
	e.t.Helper()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	meta := "filename " + b64(name) + ",filetype " + b64("application/pdf") + ",slot " + b64(slot)
	w := e.req(user, "POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta})
	if w.Code != http.StatusCreated {
		return w.Code, errorCode(w.Body.Bytes()), ""
	}
	w = e.req(user, "PATCH", w.Header().Get("Location"), bytes.NewReader(data), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	return w.Code, errorCode(w.Body.Bytes()), w.Header().Get("Evidence-Id")
}

// requireSlots publishes a version of the hotel type whose materials are
// required document slots, through the admin API.
func (e *env) requireSlots() *domain.PermitType {
	e.t.Helper()
	pt, err := e.db.PermitType(context.Background(), "hotel")
	if err != nil {
		e.t.Fatal(err)
	}
	var out domain.PermitType
	e.json("admin", "POST", "/api/v1/admin/permit-types/hotel/versions", map[string]any{
		"base_version": pt.Version, "name": pt.Name, "commitment_allowed": pt.CommitmentAllowed, "supplement_days": pt.SupplementDays,
		"target_days": pt.TargetDays, "checklist": pt.Checklist, "materials": pt.Materials, "slots_required": true,
	}, http.StatusCreated, &out)
	if !out.SlotsRequired || out.Version != pt.Version+1 {
		e.t.Fatalf("published version: got slots_required %v version %d, want true and %d", out.SlotsRequired, out.Version, pt.Version+1)
	}
	return &out
}

// TestDocumentSlots is the applicant filing a draft's files under the
// permit type's materials: a slot not among them is refused at upload and
// at refile, submission is refused while a required slot is empty (the
// message names it) and allowed once every slot holds a file or is owed
// under the commitment, a file is replaced (new upload, old removed,
// audited, gone from the list) and, once submitted, nothing more is
// removed or refiled (evidence_locked).
func TestDocumentSlots(t *testing.T) {
	e := newEnv(t)
	e.requireSlots()
	cs := e.newCase("appA")
	path := "/api/v1/cases/" + cs.ID
	pdf := append([]byte("%PDF-1.4\n"), video(800)...)
	jsonHdr := map[string]string{"Content-Type": "application/json"}

	if code, ec, _ := e.uploadSlot("appA", cs.ID, "驾驶证", "x.pdf", pdf); code != http.StatusBadRequest || ec != domain.CodeSlotInvalid {
		t.Fatalf("upload into an unknown slot: got %d %s, want 400 %s", code, ec, domain.CodeSlotInvalid)
	}
	walk := e.upload("appA", cs.ID, "walk.mp4", video(2000))
	code, ec, licence := e.uploadSlot("appA", cs.ID, "Business licence", "licence.pdf", pdf)
	if code != http.StatusNoContent || licence == "" {
		t.Fatalf("upload into 营业执照 by its English name: got %d %s, want 204 with an evidence id", code, ec)
	}

	slotsOf := func() map[string]string {
		t.Helper()
		var list []domain.Evidence
		e.json("appA", "GET", path+"/evidence", nil, http.StatusOK, &list)
		out := map[string]string{}
		for _, ev := range list {
			out[ev.ID] = ev.Slot
		}
		return out
	}
	if got := slotsOf(); got[licence] != "营业执照" || got[walk] != "" || len(got) != 2 {
		t.Fatalf("evidence slots: got %v, want %s in 营业执照 and %s in none", got, licence, walk)
	}

	w := e.req("appA", "POST", path+"/submit", nil, nil)
	if w.Code != http.StatusUnprocessableEntity || errorCode(w.Body.Bytes()) != domain.CodeSlotsMissing ||
		!strings.Contains(w.Body.String(), "平面图") || strings.Contains(w.Body.String(), "营业执照") {
		t.Fatalf("submit with empty slots: got %d %s, want 422 %s naming 平面图 and not 营业执照", w.Code, w.Body, domain.CodeSlotsMissing)
	}

	// Refile: an unknown slot is refused; the walk-through goes into 平面图.
	w = e.req("appA", "PATCH", path+"/evidence/"+walk, strings.NewReader(`{"slot":"车库"}`), jsonHdr)
	if w.Code != http.StatusBadRequest || errorCode(w.Body.Bytes()) != domain.CodeSlotInvalid {
		t.Fatalf("refile into an unknown slot: got %d %s, want 400 %s", w.Code, w.Body, domain.CodeSlotInvalid)
	}
	if w = e.req("appB", "PATCH", path+"/evidence/"+walk, strings.NewReader(`{"slot":"平面图"}`), jsonHdr); w.Code != http.StatusNotFound {
		t.Fatalf("refile by another company: got %d %s, want 404", w.Code, w.Body)
	}
	var ev domain.Evidence
	e.json("appA", "PATCH", path+"/evidence/"+walk, map[string]string{"slot": "平面图"}, http.StatusOK, &ev)
	if ev.Slot != "平面图" {
		t.Fatalf("refiled slot: got %q, want 平面图", ev.Slot)
	}

	// Replace the licence: upload the new one into its slot, remove the old.
	_, _, licence2 := e.uploadSlot("appA", cs.ID, "营业执照", "licence-2026.pdf", pdf)
	if w = e.req("appB", "DELETE", path+"/evidence/"+licence, nil, nil); w.Code != http.StatusNotFound {
		t.Fatalf("remove by another company: got %d %s, want 404", w.Code, w.Body)
	}
	if w = e.req("appA", "DELETE", path+"/evidence/"+licence, nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("remove from the draft: got %d %s, want 204", w.Code, w.Body)
	}
	if w = e.req("appA", "DELETE", path+"/evidence/"+licence, nil, nil); w.Code != http.StatusNotFound {
		t.Fatalf("remove twice: got %d %s, want 404", w.Code, w.Body)
	}
	// The removed file is no longer the case's by its id either, for the
	// applicant or the office.
	for _, who := range []string{"appA", "admin"} {
		for _, sub := range []string{"", "/content", "/annotations"} {
			if w = e.req(who, "GET", "/api/v1/evidence/"+licence+sub, nil, nil); w.Code != http.StatusNotFound {
				t.Fatalf("%s GET the removed file%s: got %d %s, want 404", who, sub, w.Code, w.Body)
			}
		}
	}
	if got := slotsOf(); len(got) != 2 || got[licence2] != "营业执照" || got[walk] != "平面图" {
		t.Fatalf("evidence after the replacement: got %v, want %s in 营业执照 and %s in 平面图 only", got, licence2, walk)
	}
	var c domain.Case
	e.json("appA", "GET", path, nil, http.StatusOK, &c)
	if c.EvidenceCount != 2 {
		t.Fatalf("evidence count after the removal: got %d, want 2", c.EvidenceCount)
	}
	var events []domain.AuditEvent
	e.json("admin", "GET", path+"/audit", nil, http.StatusOK, &events)
	var removed, refiled *domain.AuditEvent
	for i := range events {
		switch {
		case events[i].Action == "evidence.removed" && events[i].Target == licence:
			removed = &events[i]
		case events[i].Action == "evidence.slot_set" && events[i].Target == walk:
			refiled = &events[i]
		}
	}
	data := func(ev *domain.AuditEvent) map[string]any {
		var m map[string]any
		if ev != nil {
			json.Unmarshal(ev.Data, &m)
		}
		return m
	}
	if d := data(removed); removed == nil || removed.ActorID != e.users["appA"].ID || d["slot"] != "营业执照" || d["filename"] != "licence.pdf" {
		t.Fatalf("audit of the removal: got %+v, want evidence.removed of %s by appA with its slot and name", removed, licence)
	}
	if refiled == nil || data(refiled)["slot"] != "平面图" {
		t.Fatalf("audit of the refile: got %+v, want evidence.slot_set of %s to 平面图", refiled, walk)
	}
	// The removed original stays in the store (it may be WORM-locked), out
	// of the case's reach.
	removedEv, err := e.db.Evidence(context.Background(), licence)
	if err != nil || removedEv.RemovedAt == nil {
		t.Fatalf("the removed item's record: got %+v, %v; want it kept with its removal time", removedEv, err)
	}
	obj, err := e.objects.Open(context.Background(), removedEv.ObjectKey)
	if err != nil {
		t.Fatalf("removed original in the store: %v", err)
	}
	stored, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(stored, pdf) {
		t.Fatalf("removed original in the store: got %d bytes (%v), want its %d bytes", len(stored), err, len(pdf))
	}

	// Still two slots empty; one is named in the commitment, one filled.
	w = e.req("appA", "POST", path+"/submit", nil, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "消防安全检查合格证明") {
		t.Fatalf("submit with two slots empty: got %d %s, want 422 naming 消防安全检查合格证明", w.Code, w.Body)
	}
	e.json("appA", "POST", path+"/commitment", map[string]any{"items": []string{"消防安全检查合格证明"}, "signer_name": "王芳", "agree": true}, http.StatusCreated, nil)
	e.uploadSlot("appA", cs.ID, "房屋产权或租赁证明", "lease.pdf", pdf)
	e.json("appA", "POST", path+"/submit", nil, http.StatusOK, &c)
	if c.Status != domain.StatusSubmitted {
		t.Fatalf("status after submit: got %s, want submitted", c.Status)
	}

	for _, r := range []struct{ method, body string }{{"DELETE", ""}, {"PATCH", `{"slot":"平面图"}`}} {
		w = e.req("appA", r.method, path+"/evidence/"+licence2, strings.NewReader(r.body), jsonHdr)
		if w.Code != http.StatusUnprocessableEntity || errorCode(w.Body.Bytes()) != domain.CodeEvidenceLocked {
			t.Fatalf("%s after submission: got %d %s, want 422 %s", r.method, w.Code, w.Body, domain.CodeEvidenceLocked)
		}
	}
	if got := slotsOf(); len(got) != 3 {
		t.Fatalf("evidence after submission: got %d items, want 3", len(got))
	}
}
