package server

import (
	"context"
	"net/http"
	"siteinspect/domain"
	"testing"
)

// An annotation create may start from the records' copy of its item and
// case (storage/evidence_copy.go), which nobody updates when the case
// changes. After the case is given to another inspector, the copy still
// names the first: the first's create is refused all the same (by the
// insert's own check), and the second's, which the copy would refuse, is
// read afresh and goes through.
func TestCreateFromStaleCopy(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusInReview)
	ctx := context.Background()
	dur, fps := int64(60_000), 25.0
	m.must(m.db.SetEvidenceResult(ctx, f.evidence, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur, FPS: &fps}, &domain.Derived{}))
	path := "/api/v1/evidence/" + f.evidence + "/annotations"
	js := map[string]string{"Content-Type": "application/json"}
	note := []byte(`{"body":"出口堵塞","start_ms":1000}`)
	if got, code, w := m.send("insp", "POST", path, note, js); got != http.StatusCreated {
		t.Fatalf("inspector's create: got %d %s %s", got, code, w.Body)
	}
	if got, code, _ := m.send("admin", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", []byte(`{"inspector_id":"`+m.users["insp2"].ID+`"}`), js); got != http.StatusOK {
		t.Fatalf("admin gives the case to insp2: got %d %s", got, code)
	}
	if _, cs, ok := m.db.RecentEvidenceWithCase(f.evidence); !ok || cs.Inspector == nil || cs.Inspector.ID != m.users["insp"].ID {
		t.Fatalf("the copy after the assignment: got %v %+v, want it to name insp still (this test is about a stale copy)", ok, cs)
	}
	before := m.audited(f.cs.ID, "annotation.created")
	if got, code, _ := m.send("insp", "POST", path, note, js); got != http.StatusNotFound {
		t.Errorf("replaced inspector's create from the stale copy: got %d %s, want 404", got, code)
	}
	if got, code, w := m.send("insp2", "POST", path, note, js); got != http.StatusCreated {
		t.Errorf("new inspector's create, which the stale copy would refuse: got %d %s %s, want 201", got, code, w.Body)
	}
	if n := m.audited(f.cs.ID, "annotation.created") - before; n != 1 {
		t.Errorf("annotations created after the assignment: got %d, want 1 (insp2's)", n)
	}
}
