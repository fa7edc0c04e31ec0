package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"siteinspect/domain"
)

// TestApproveOverFailuresNeedsReason: the review summary names the failed
// items, the open violations and the evidence this officer has not opened
// (from the audit log's reads); approving over a failure, and agreeing to
// such an approval, needs a written reason, kept with the decision.
func TestApproveOverFailuresNeedsReason(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	var v domain.Annotation
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "安全出口被堵", "start_ms": 1000, "checklist_item": "fire-exits", "severity": "violation"}, http.StatusCreated, &v)
	e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": "cctv-entrances", "result": "fail", "note": "门口无监控"}, http.StatusCreated, nil)
	for _, item := range r.checklist[1:] {
		e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	summary := func(user string) domain.ReviewSummary {
		t.Helper()
		var s domain.ReviewSummary
		e.json(user, "GET", r.path+"/review-summary", nil, http.StatusOK, &s)
		return s
	}
	ids := func(refs []domain.EvidenceRef) []string {
		out := []string{}
		for _, r := range refs {
			out = append(out, r.ID)
		}
		return out
	}
	s := summary("insp")
	if len(s.Failed) != 1 || s.Failed[0].ChecklistItem != "cctv-entrances" || s.Failed[0].Note != "门口无监控" {
		t.Errorf("failed: got %+v, want cctv-entrances with its note", s.Failed)
	}
	if len(s.OpenViolations) != 1 || s.OpenViolations[0].ID != v.ID || s.OpenViolations[0].EvidenceID != r.video {
		t.Errorf("open violations: got %+v, want %s on %s", s.OpenViolations, v.ID, r.video)
	}
	if got := ids(s.Unopened); len(got) != 2 || s.EvidenceTotal != 2 {
		t.Errorf("unopened before any read: got %v of %d, want both of 2", got, s.EvidenceTotal)
	}
	// Playing the video is a read (audited); the PDF stays unopened.
	if w := e.req("insp", "GET", "/api/v1/evidence/"+r.video+"/playback", nil, nil); w.Code != http.StatusOK {
		t.Fatalf("playback: got %d %s, want 200", w.Code, w.Body)
	}
	if got := ids(summary("insp").Unopened); len(got) != 1 || got[0] != r.pdf {
		t.Errorf("unopened after playing the video: got %v, want [%s]", got, r.pdf)
	}
	// Another officer's reads are not this one's.
	if got := ids(summary("rev").Unopened); len(got) != 2 {
		t.Errorf("unopened by the reviewer: got %v, want both", got)
	}
	errCode := func(user, path string, body map[string]any, want int) string {
		t.Helper()
		var out struct {
			Error struct{ Code string } `json:"error"`
		}
		e.json(user, "POST", path, body, want, &out)
		return out.Error.Code
	}
	approve := map[string]any{"outcome": "approve", "summary": "整体符合要求"}
	if c := errCode("insp", r.path+"/decision", approve, http.StatusBadRequest); c != domain.CodeApproveReasonRequired {
		t.Errorf("approve over a failure without a reason: got %q, want %s", c, domain.CodeApproveReasonRequired)
	}
	approve["reason"] = "  监控已于当日加装，见补充照片  "
	var cs domain.Case
	e.json("insp", "POST", r.path+"/decision", approve, http.StatusOK, &cs)
	if cs.Status != domain.StatusPendingCountersign {
		t.Fatalf("approved with a reason: got %q, want pending_countersign", cs.Status)
	}
	if c := errCode("rev", r.path+"/countersign", map[string]any{"agree": true}, http.StatusBadRequest); c != domain.CodeApproveReasonRequired {
		t.Errorf("agree to it without a reason: got %q, want %s", c, domain.CodeApproveReasonRequired)
	}
	e.json("rev", "POST", r.path+"/countersign", map[string]any{"agree": true, "reason": "已核对补充照片"}, http.StatusOK, &cs)
	if cs.Status != domain.StatusApproved {
		t.Fatalf("countersigned with a reason: got %q, want approved", cs.Status)
	}
	var decisions []domain.Decision
	e.json("admin", "GET", r.path+"/decisions", nil, http.StatusOK, &decisions)
	if len(decisions) != 1 || decisions[0].Reason != "监控已于当日加装，见补充照片" || decisions[0].CountersignReason != "已核对补充照片" {
		t.Fatalf("decisions: got %+v, want the two reasons kept", decisions)
	}
	// The audit event of the decision keeps what the inspector confirmed against.
	var events []domain.AuditEvent
	e.json("admin", "GET", r.path+"/audit", nil, http.StatusOK, &events)
	var review struct {
		Failed   []string `json:"failed"`
		Unopened []string `json:"unopened"`
	}
	found := false
	for _, ev := range events {
		var d struct {
			Outcome string          `json:"outcome"`
			Review  json.RawMessage `json:"review"`
			Reason  string          `json:"reason"`
		}
		if ev.Action != "case.status" || json.Unmarshal(ev.Data, &d) != nil || d.Outcome != "approve" {
			continue
		}
		found = true
		if err := json.Unmarshal(d.Review, &review); err != nil {
			t.Fatalf("decision event's review: %v (%s)", err, ev.Data)
		}
		if len(review.Failed) != 1 || len(review.Unopened) != 1 || review.Unopened[0] != r.pdf || d.Reason == "" {
			t.Errorf("decision event: got review %+v reason %q, want one failed item, the PDF unopened and the reason", review, d.Reason)
		}
	}
	if !found {
		t.Errorf("no case.status event with outcome approve among %d events", len(events))
	}
}
