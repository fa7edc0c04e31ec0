package server

import (
	"context"
	"net/http"
	"testing"

	"siteinspect/domain"
)

// The second probe's findings (an applicant, an outsider, an officer
// beyond their assignment), each replayed over HTTP. Each failed on the
// code before its fix.

// The officer who made the pending decision never countersigns it, even
// after the case's inspector slot passed to someone else: an inspector
// made a reviewer, whose pending cases an admin handed to another
// inspector, saw the open countersign slot of the decision they had made
// and countersigned it (the countersign compared the case's inspector now,
// not the decision's).
func TestDecisionAuthorNeverCountersigns(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusPendingCountersign)
	js := map[string]string{"Content-Type": "application/json"}
	if got, code, w := m.send("admin", "PATCH", "/api/v1/users/"+m.users["insp"].ID, []byte(`{"role":"reviewer"}`), js); got != http.StatusOK {
		t.Fatalf("admin makes insp a reviewer: got %d %s %s", got, code, w.Body)
	}
	if got, code, w := m.send("admin", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", []byte(`{"inspector_id":"`+m.users["insp2"].ID+`"}`), js); got != http.StatusOK {
		t.Fatalf("admin hands the case to insp2: got %d %s %s", got, code, w.Body)
	}
	got, code, _ := m.send("insp", "POST", "/api/v1/cases/"+f.cs.ID+"/countersign", []byte(`{"agree":true}`), js)
	if got != http.StatusForbidden || code != domain.CodeReviewerIsInspector {
		t.Errorf("the decision's author countersigning it: got %d %s, want 403 %s", got, code, domain.CodeReviewerIsInspector)
	}
	decisions, err := m.db.Decisions(context.Background(), f.cs.ID)
	m.must(err)
	d := decisions[len(decisions)-1]
	if d.CountersignedAt != nil {
		t.Errorf("decision by %s countersigned by %+v, want it pending", d.Inspector.Username, d.Reviewer)
	}
	// Another reviewer still may.
	if got, code, w := m.send("rev", "POST", "/api/v1/cases/"+f.cs.ID+"/countersign", []byte(`{"agree":true}`), js); got != http.StatusOK {
		t.Errorf("another reviewer countersigning: got %d %s %s, want 200", got, code, w.Body)
	}
}
