package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"siteinspect/domain"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The outside probe's findings, each replayed over HTTP as the probe sent
// it. Each of these failed on the code before the policy.

// send is a request as user (a bearer token, or "token:…" for a publish
// token) with headers; it returns status, error code and body.
func (m *matrix) send(user, method, path string, body []byte, hdr map[string]string) (int, string, *httptest.ResponseRecorder) {
	m.t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if tok, ok := strings.CutPrefix(user, "token:"); ok {
		r.Header.Set("Authorization", "Bearer "+tok)
	} else if user != "" {
		r.Header.Set("Authorization", "Bearer "+m.tokens[user])
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	m.s.ServeHTTP(w, r)
	var e apiError
	json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e.Error.Code, w
}

func (m *matrix) evidenceCount(caseID string) int {
	m.t.Helper()
	list, err := m.db.ListEvidence(context.Background(), caseID)
	m.must(err)
	return len(list)
}

func (m *matrix) audited(caseID, action string) int {
	m.t.Helper()
	list, err := m.db.CaseAudit(context.Background(), caseID, 0, 100000)
	m.must(err)
	n := 0
	for _, e := range list {
		if e.Action == action {
			n++
		}
	}
	return n
}

func tusPatch(offset int) map[string]string {
	return map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.Itoa(offset)}
}

// decideAndSign takes f's case from in_review to approved over HTTP.
func (m *matrix) decideAndSign(f fixture) {
	m.t.Helper()
	pt, err := m.db.PermitType(context.Background(), "hotel")
	m.must(err)
	for _, item := range pt.Checklist {
		b, _ := json.Marshal(map[string]any{"checklist_item": item.ID, "result": "pass"})
		if got, code, w := m.send("insp", "POST", "/api/v1/cases/"+f.cs.ID+"/findings", b, map[string]string{"Content-Type": "application/json"}); got != http.StatusCreated {
			m.t.Fatalf("finding: got %d %s %s", got, code, w.Body)
		}
	}
	if got, code, w := m.send("insp", "POST", "/api/v1/cases/"+f.cs.ID+"/decision", []byte(`{"outcome":"approve","summary":"ok"}`), map[string]string{"Content-Type": "application/json"}); got != http.StatusOK {
		m.t.Fatalf("decide: got %d %s %s", got, code, w.Body)
	}
	if got, code, w := m.send("rev", "POST", "/api/v1/cases/"+f.cs.ID+"/countersign", []byte(`{"agree":true}`), map[string]string{"Content-Type": "application/json"}); got != http.StatusOK {
		m.t.Fatalf("countersign: got %d %s %s", got, code, w.Body)
	}
}

// Finding 1 (high): an upload begun in the draft, finished after the case
// was approved, joined the approved case's evidence.
func TestLateUploadRefusedAfterDecision(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusDraft)
	if got, code, _ := m.send("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/submit", nil, nil); got != http.StatusOK {
		t.Fatalf("submit: got %d %s", got, code)
	}
	if got, code, _ := m.send("insp", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", nil, nil); got != http.StatusOK {
		t.Fatalf("take: got %d %s", got, code)
	}
	m.decideAndSign(f)
	before := m.evidenceCount(f.cs.ID)
	got, code, w := m.send("appA", "PATCH", "/api/v1/uploads/"+f.upload, mp4(2000)[100:], tusPatch(100))
	if got != http.StatusUnprocessableEntity || code != domain.CodeNotAcceptingEvidence {
		t.Fatalf("late PATCH: got %d %s %s, want 422 %s", got, code, w.Body, domain.CodeNotAcceptingEvidence)
	}
	if w.Header().Get("Evidence-Id") != "" {
		t.Errorf("late PATCH answered Evidence-Id %q", w.Header().Get("Evidence-Id"))
	}
	if after := m.evidenceCount(f.cs.ID); after != before {
		t.Errorf("evidence of the approved case: got %d, want %d", after, before)
	}
	// Nothing of the refused upload is kept, and the refusal is on record.
	if got, _, _ := m.send("appA", "HEAD", "/api/v1/uploads/"+f.upload, nil, map[string]string{"Tus-Resumable": "1.0.0"}); got != http.StatusNotFound {
		t.Errorf("HEAD of the refused upload: got %d, want 404", got)
	}
	if n := m.audited(f.cs.ID, "evidence.refused"); n != 1 {
		t.Errorf("evidence.refused events: got %d, want 1", n)
	}
}

// The state rule holds in the completion transaction too: the last bytes
// arrive while the case is still a draft as far as the PATCH's first check
// knows, but it was submitted before the transaction; here the submit
// comes between the upload's creation and its only PATCH, which carries
// every byte.
func TestUploadRefusedWhenSubmittedMeanwhile(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusDraft)
	got, code, w := m.send("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "3000", "Upload-Metadata": "filename YS5tcDQ="})
	if got != http.StatusCreated {
		t.Fatalf("create: got %d %s %s", got, code, w.Body)
	}
	loc := w.Header().Get("Location")
	if got, code, _ := m.send("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/submit", nil, nil); got != http.StatusOK {
		t.Fatalf("submit: got %d %s", got, code)
	}
	before := m.evidenceCount(f.cs.ID)
	got, code, _ = m.send("appA", "PATCH", loc, mp4(3000), tusPatch(0))
	if got != http.StatusUnprocessableEntity || code != domain.CodeNotAcceptingEvidence {
		t.Fatalf("PATCH after submit: got %d %s, want 422 %s", got, code, domain.CodeNotAcceptingEvidence)
	}
	if after := m.evidenceCount(f.cs.ID); after != before {
		t.Errorf("evidence: got %d, want %d", after, before)
	}
}

// Finding 4 (medium): an ended live session's publish token added the
// phone's recording to an approved case.
func TestPhoneUploadAfterDecision(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	f := m.build(domain.StatusInReview)
	ls, token, err := m.db.CreateLiveSession(ctx, f.cs, m.users["insp"], nil, time.Hour)
	m.must(err)
	// While the case is in review the phone's own recording is welcome:
	// begin one, then end the session.
	got, code, w := m.send("token:"+token, "POST", "/api/v1/live/"+ls.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "3000", "Upload-Metadata": "filename cGhvbmUubXA0"})
	if got != http.StatusCreated {
		t.Fatalf("phone upload in review: got %d %s %s, want 201", got, code, w.Body)
	}
	early := w.Header().Get("Location")
	if got, code, _ := m.send("token:"+token, "PATCH", early, mp4(3000)[:1000], tusPatch(0)); got != http.StatusNoContent {
		t.Fatalf("first PATCH: got %d %s", got, code)
	}
	_, _, err = m.db.EndLiveSession(ctx, ls, m.users["insp"].ID, "test", nil)
	m.must(err)
	m.decideAndSign(f)
	before := m.evidenceCount(f.cs.ID)
	// A new upload with the token: refused, and audited as refused.
	got, code, _ = m.send("token:"+token, "POST", "/api/v1/live/"+ls.ID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "3000", "Upload-Metadata": "filename cGhvbmUubXA0"})
	if got != http.StatusUnprocessableEntity || code != domain.CodeNotAcceptingEvidence {
		t.Errorf("phone upload after the decision: got %d %s, want 422 %s", got, code, domain.CodeNotAcceptingEvidence)
	}
	// The one begun in review cannot finish either.
	got, code, _ = m.send("token:"+token, "PATCH", early, mp4(3000)[1000:], tusPatch(1000))
	if got != http.StatusUnprocessableEntity || code != domain.CodeNotAcceptingEvidence {
		t.Errorf("late phone PATCH: got %d %s, want 422 %s", got, code, domain.CodeNotAcceptingEvidence)
	}
	if after := m.evidenceCount(f.cs.ID); after != before {
		t.Errorf("evidence of the approved case: got %d, want %d", after, before)
	}
	if n := m.audited(f.cs.ID, "evidence.refused"); n != 2 {
		t.Errorf("evidence.refused events: got %d, want 2", n)
	}
}

// Finding 5 (low): the inspector could pick (and replace) the countersigner;
// a countersign racing an assignment recorded another reviewer; a repeated
// take appended identical events.
func TestFourEyesSlots(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusInReview)
	path := "/api/v1/cases/" + f.cs.ID + "/assign"
	js := map[string]string{"Content-Type": "application/json"}
	body := func(v map[string]string) []byte { b, _ := json.Marshal(v); return b }
	if got, code, _ := m.send("insp", "POST", path, body(map[string]string{"reviewer_id": m.users["rev2"].ID}), js); got != http.StatusForbidden || code != domain.CodeInspectorPicksNone {
		t.Errorf("inspector naming the reviewer: got %d %s, want 403 %s", got, code, domain.CodeInspectorPicksNone)
	}
	if got, code, _ := m.send("rev", "POST", path, nil, nil); got != http.StatusOK {
		t.Fatalf("reviewer takes the slot: got %d %s", got, code)
	}
	events := m.audited(f.cs.ID, "case.assigned")
	if got, code, _ := m.send("rev", "POST", path, nil, nil); got != http.StatusOK {
		t.Errorf("re-take: got %d %s, want 200", got, code)
	}
	if n := m.audited(f.cs.ID, "case.assigned"); n != events {
		t.Errorf("case.assigned events after an idempotent re-take: got %d, want %d", n, events)
	}
	// Another reviewer no longer even sees the case (its slot is held).
	if got, code, _ := m.send("rev2", "POST", path, nil, nil); got != http.StatusNotFound {
		t.Errorf("another reviewer taking a held slot: got %d %s, want 404", got, code)
	}
	// Released, the slot is free again; an admin may move it (audited with
	// the previous holder).
	if got, code, _ := m.send("rev", "POST", "/api/v1/cases/"+f.cs.ID+"/release", nil, nil); got != http.StatusOK {
		t.Fatalf("release: got %d %s", got, code)
	}
	if got, code, _ := m.send("rev2", "POST", path, nil, nil); got != http.StatusOK {
		t.Errorf("take after release: got %d %s", got, code)
	}
	if got, code, _ := m.send("admin", "POST", path, body(map[string]string{"reviewer_id": m.users["rev"].ID}), js); got != http.StatusOK {
		t.Errorf("admin reassigns: got %d %s", got, code)
	}
	list, err := m.db.CaseAudit(context.Background(), f.cs.ID, 0, 1000)
	m.must(err)
	last := list[len(list)-1]
	var data map[string]any
	json.Unmarshal(last.Data, &data)
	if last.Action != "case.assigned" || data["previous_reviewer_id"] != m.users["rev2"].ID || data["reviewer_id"] != m.users["rev"].ID {
		t.Errorf("admin's assignment event: got %s %s, want case.assigned from rev2 to rev", last.Action, last.Data)
	}
}

// A countersign racing another reviewer's take: exactly one wins, and the
// decision records the reviewer who holds the case's slot.
func TestCountersignRacingAssign(t *testing.T) {
	m := newMatrix(t)
	for i := 0; i < 8; i++ {
		f := m.build(domain.StatusPendingCountersign)
		var wg sync.WaitGroup
		var sign, take int
		wg.Add(2)
		go func() {
			defer wg.Done()
			sign, _, _ = m.send("rev", "POST", "/api/v1/cases/"+f.cs.ID+"/countersign", []byte(`{"agree":true}`), map[string]string{"Content-Type": "application/json"})
		}()
		go func() {
			defer wg.Done()
			take, _, _ = m.send("rev2", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", nil, nil)
		}()
		wg.Wait()
		if (sign == http.StatusOK) == (take == http.StatusOK) {
			t.Errorf("round %d: countersign %d, take %d; want exactly one 200", i, sign, take)
		}
		cs := m.reload(f.cs)
		decisions, err := m.db.Decisions(context.Background(), cs.ID)
		m.must(err)
		d := decisions[len(decisions)-1]
		if sign == http.StatusOK && (d.Reviewer == nil || cs.Reviewer == nil || d.Reviewer.ID != m.users["rev"].ID || cs.Reviewer.ID != d.Reviewer.ID) {
			t.Errorf("round %d: countersigned, but the decision's reviewer is %+v and the case's %+v", i, d.Reviewer, cs.Reviewer)
		}
		if take == http.StatusOK && (cs.Reviewer == nil || cs.Reviewer.ID != m.users["rev2"].ID || d.CountersignedAt != nil) {
			t.Errorf("round %d: rev2 took the slot, but the case's reviewer is %+v and the decision countersigned at %v", i, cs.Reviewer, d.CountersignedAt)
		}
	}
}

// The storage methods follow the same policy as the handlers, so a caller
// that skips the HTTP layer (the CLI, a job, a future handler) is held too:
// each rule with two layers is tried on the lower one directly.
func TestStorageRulesHoldWithoutHTTP(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	code := func(err error) string {
		var se *domain.Error
		if !errors.As(err, &se) {
			return "no coded error: " + errString(err)
		}
		if se.Kind == domain.ErrNotFound {
			return "not_found"
		}
		return se.Code
	}
	pending := m.build(domain.StatusPendingCountersign)
	// The countersigner is never the inspector, even when the inspector's
	// role was changed to reviewer after they took the case.
	_, err := m.db.Countersign(ctx, pending.cs, m.users["insp"], true, "")
	if c := code(err); c != domain.CodeNotPermitted && c != domain.CodeReviewerIsInspector {
		t.Errorf("inspector countersigning in storage: got %s, want a refusal", c)
	}
	turncoat := *m.users["insp"]
	turncoat.Role = domain.RoleReviewer
	if _, err := m.db.Countersign(ctx, pending.cs, &turncoat, true, ""); code(err) != domain.CodeReviewerIsInspector {
		t.Errorf("inspector-turned-reviewer countersigning: got %s, want %s", code(err), domain.CodeReviewerIsInspector)
	}
	inReview := m.build(domain.StatusInReview)
	if _, err := m.db.Decide(ctx, inReview.cs, m.users["insp2"], time.UTC, domain.DecisionInput{Outcome: "reject", Summary: "x"}); code(err) != "not_found" {
		t.Errorf("another inspector deciding in storage: got %s, want %s", code(err), domain.CodeNotPermitted)
	}
	approved := m.build(domain.StatusApproved)
	start := int64(1)
	ev, err := m.db.Evidence(ctx, approved.evidence)
	m.must(err)
	if _, err := m.db.CreateAnnotation(ctx, approved.cs, ev, m.users["insp"], domain.AnnotationInput{Body: "late", StartMS: &start, Severity: "info"}); code(err) != domain.CodeWrongState {
		t.Errorf("annotating an approved case in storage: got %s, want %s", code(err), domain.CodeWrongState)
	}
	// A stale case: the handler saw in_review, the case was decided since;
	// the transaction's own check refuses the finding.
	stale := m.build(domain.StatusInReview)
	m.decideAndSign(stale)
	if _, err := m.db.SetFinding(ctx, stale.cs, m.users["insp"], domain.Finding{ChecklistItem: "fire-exits", Result: "pass"}); code(err) != domain.CodeWrongState {
		t.Errorf("a finding on a case decided meanwhile: got %s, want %s", code(err), domain.CodeWrongState)
	}
	if _, err := m.db.SubmitCase(ctx, approved.cs, m.users["appB"], time.UTC); code(err) != "not_found" {
		t.Errorf("another company submitting in storage: got %s, want a refusal", code(err))
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// Finding 6 (low): a chunked PATCH carrying more bytes than Upload-Length
// was cut silently and completed the upload. Now it is refused with 413
// and nothing of it is kept; a declared Content-Length past the end is
// refused before a byte is read.
func TestPatchPastUploadLength(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusDraft)
	create := func() string {
		got, code, w := m.send("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/uploads", nil, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": "3000", "Upload-Metadata": "filename YS5tcDQ="})
		if got != http.StatusCreated {
			t.Fatalf("create: got %d %s", got, code)
		}
		return w.Header().Get("Location")
	}
	before := m.evidenceCount(f.cs.ID)
	offset := func(loc string) string {
		_, _, w := m.send("appA", "HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"})
		return w.Header().Get("Upload-Offset")
	}
	// Chunked (no Content-Length): the body ends only when it ends.
	loc := create()
	r := httptest.NewRequest("PATCH", loc, bytes.NewReader(mp4(3500)))
	r.ContentLength = -1
	r.Header.Set("Authorization", "Bearer "+m.tokens["appA"])
	for k, v := range tusPatch(0) {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	m.s.ServeHTTP(w, r)
	var e apiError
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusRequestEntityTooLarge || e.Error.Code != domain.CodeChunkPastLength || w.Header().Get("Evidence-Id") != "" {
		t.Errorf("chunked PATCH past the length: got %d %s (Evidence-Id %q), want 413 %s", w.Code, e.Error.Code, w.Header().Get("Evidence-Id"), domain.CodeChunkPastLength)
	}
	if got := offset(loc); got != "0" {
		t.Errorf("offset after the refused chunk: got %q, want 0 (nothing kept)", got)
	}
	// The upload still takes the right bytes.
	if got, code, w := m.send("appA", "PATCH", loc, mp4(3000), tusPatch(0)); got != http.StatusNoContent || w.Header().Get("Evidence-Id") == "" {
		t.Errorf("the right bytes after the refusal: got %d %s", got, code)
	}
	// Declared too long: refused before reading.
	loc = create()
	if got, code, _ := m.send("appA", "PATCH", loc, mp4(3500), tusPatch(0)); got != http.StatusRequestEntityTooLarge || code != domain.CodeChunkPastLength {
		t.Errorf("PATCH declaring more than the length: got %d %s, want 413 %s", got, code, domain.CodeChunkPastLength)
	}
	if got := offset(loc); got != "0" {
		t.Errorf("offset: got %q, want 0", got)
	}
	if after := m.evidenceCount(f.cs.ID); after != before+1 {
		t.Errorf("evidence: got %d, want %d (only the right upload)", after, before+1)
	}
}

// Two edits of the same version: the second is a stale edit (412), not a
// collision on the kept copy of that version (it was a 500).
func TestStaleAnnotationEditIsPrecondition(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	f := m.build(domain.StatusInReview)
	a, err := m.db.Annotation(ctx, f.annotation)
	m.must(err)
	ev, err := m.db.Evidence(ctx, f.evidence)
	m.must(err)
	start := int64(700)
	in := domain.AnnotationInput{Body: "first edit", StartMS: &start, Severity: "info"}
	if _, err := m.db.UpdateAnnotation(ctx, a, ev, f.cs, m.users["insp"], a.Version, in); err != nil {
		t.Fatalf("first edit: %v", err)
	}
	in.Body = "second edit of the same version"
	_, err = m.db.UpdateAnnotation(ctx, a, ev, f.cs, m.users["insp"], a.Version, in)
	if !errors.Is(err, domain.ErrPrecondition) {
		t.Errorf("second edit of version %d: got %v, want ErrPrecondition", a.Version, err)
	}
}
