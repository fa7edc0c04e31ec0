package server_test

import (
	"context"
	"fmt"
	"net/http"
	"siteinspect/domain"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reviewCase is a submitted case taken by insp with rev as reviewer, whose
// evidence the pipeline (simulated here: it is not under test) has made
// ready as a 10 s video at 29.97 fps and a 3-page PDF.
type reviewCase struct {
	cs            domain.Case
	video, pdf    string
	path          string
	checklist     []string
	videoDuration int64
}

func (e *env) reviewCase() reviewCase {
	e.t.Helper()
	ctx := context.Background()
	r := reviewCase{cs: e.newCase("appA")}
	r.video = e.upload("appA", r.cs.ID, "walk.mp4", video(2000))
	r.pdf = e.upload("appA", r.cs.ID, "plan.pdf", append([]byte("%PDF-1.4\n"), video(2000)...))
	dur, w, h, fps, pages := int64(10_000), 1920, 1080, 30000.0/1001, 3
	if err := e.db.SetEvidenceResult(ctx, r.video, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur, Width: &w, Height: &h, FPS: &fps, VideoCodec: "h264"}, &domain.Derived{Poster: true}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.SetEvidenceResult(ctx, r.pdf, domain.EvidenceReady, "", &domain.Media{Pages: &pages}, &domain.Derived{Pages: 3}); err != nil {
		e.t.Fatal(err)
	}
	r.path = "/api/v1/cases/" + r.cs.ID
	e.json("appA", "POST", r.path+"/submit", nil, http.StatusOK, nil)
	e.json("insp", "POST", r.path+"/assign", nil, http.StatusOK, nil)
	e.json("rev", "POST", r.path+"/assign", nil, http.StatusOK, nil)
	r.checklist = []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"}
	r.videoDuration = dur
	return r
}

// TestAnnotations covers creating, validating, editing with versions,
// threads, resolving, deleting and who may do each.
func TestAnnotations(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	vpath := "/api/v1/evidence/" + r.video + "/annotations"
	var a domain.Annotation
	e.json("insp", "POST", vpath, map[string]any{"body": "安全出口被杂物堵塞", "start_ms": 3200, "end_ms": 4500, "checklist_item": "fire-exits", "severity": "violation",
		"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.2}, {0.4, 0.6}}, "color": "#ff0000"}}, http.StatusCreated, &a)
	// 3200 ms at 29.97 fps is inside frame 95 (3169.8–3203.2 ms); 4500 ms in frame 134.
	if a.Version != 1 || a.StartFrame == nil || *a.StartFrame != 95 || a.EndFrame == nil || *a.EndFrame != 134 || a.Author.Username != "insp" || a.Shape == nil {
		t.Fatalf("created: got version %d frames %v-%v author %v shape %v", a.Version, a.StartFrame, a.EndFrame, a.Author, a.Shape)
	}
	// The frame's first millisecond, rounded by a client, stays on that frame.
	var b domain.Annotation
	e.json("rev", "POST", vpath, map[string]any{"body": "frame 96", "start_ms": 3203}, http.StatusCreated, &b)
	if *b.StartFrame != 96 {
		t.Fatalf("3203 ms (frame 96 starts at 3203.2): got frame %d, want 96", *b.StartFrame)
	}
	for _, bad := range []map[string]any{
		{"body": "", "start_ms": 1},
		{"body": "x"},                             // video without time
		{"body": "x", "start_ms": 20000},          // past the end
		{"body": "x", "start_ms": 10, "page": 1},  // page on a video
		{"body": "x", "start_ms": 5, "end_ms": 5}, // empty range
		{"body": "x", "start_ms": 1, "severity": "fatal"},
		{"body": "x", "start_ms": 1, "checklist_item": "casino-licence"},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.2}}}},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "star", "points": [][2]float64{{0.1, 0.2}}}},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "point", "points": [][2]float64{{1.5, 0.2}}}},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "point", "points": [][2]float64{{0.5, 0.2}}, "color": "red"}},
		// A point is two numbers: not one (which would read as [x, 0]) nor three.
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "rect", "points": [][]float64{{0.5}, {0.7}}}},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "rect", "points": [][]float64{{0, 0, 0}, {1, 1}}}},
		{"body": "x", "start_ms": 1, "shape": map[string]any{"type": "point", "points": [][2]float64{{0.5, 0.2}}, "size": 3}},
	} {
		e.json("insp", "POST", vpath, bad, http.StatusBadRequest, nil)
	}
	ppath := "/api/v1/evidence/" + r.pdf + "/annotations"
	e.json("insp", "POST", ppath, map[string]any{"body": "fire plan lacks exits", "page": 2, "shape": map[string]any{"type": "rect", "points": [][2]float64{{0.2, 0.2}, {0.5, 0.5}}}}, http.StatusCreated, nil)
	e.json("insp", "POST", ppath, map[string]any{"body": "no such page", "page": 4}, http.StatusBadRequest, nil)
	e.json("insp", "POST", ppath, map[string]any{"body": "time on a PDF", "start_ms": 4}, http.StatusBadRequest, nil)
	// Who may annotate: only the case's officers; applicants do not even read notes.
	for user, want := range map[string]int{"appA": 403, "insp2": 404, "rev2": 404, "inspOther": 404, "admin": 403} {
		e.json(user, "POST", vpath, map[string]any{"body": "x", "start_ms": 1}, want, nil)
	}
	e.json("appA", "GET", vpath, nil, http.StatusForbidden, nil)

	// Edit with If-Match; a stale version is 412 and changes nothing.
	apath := "/api/v1/annotations/" + a.ID
	edit := map[string]any{"body": "安全出口被杂物堵塞（已复核）", "start_ms": 3300, "checklist_item": "fire-exits", "severity": "violation"}
	patch := func(user, ifMatch string, want int) {
		w := e.req(user, "PATCH", apath, strings.NewReader(mustJSONString(edit)), map[string]string{"Content-Type": "application/json", "If-Match": ifMatch})
		if w.Code != want {
			t.Fatalf("PATCH as %s If-Match %q: got %d %s, want %d", user, ifMatch, w.Code, w.Body, want)
		}
	}
	patch("insp", "", http.StatusBadRequest)
	patch("rev", `"1"`, http.StatusForbidden) // not the author
	patch("insp", `"1"`, http.StatusOK)
	patch("insp", `"1"`, http.StatusPreconditionFailed)
	var got domain.Annotation
	e.json("insp", "GET", "/api/v1/annotations/"+a.ID+"/versions", nil, http.StatusOK, &[]map[string]any{})
	list := e.listAnnotations("insp", r.path+"/annotations?checklist_item=fire-exits")
	if len(list) != 1 || list[0].Version != 2 || list[0].Body != "安全出口被杂物堵塞（已复核）" || *list[0].StartMS != 3300 {
		t.Fatalf("after edit: got %+v", list)
	}
	var versions []domain.Annotation
	e.json("insp", "GET", "/api/v1/annotations/"+a.ID+"/versions", nil, http.StatusOK, &versions)
	if len(versions) != 1 || versions[0].Version != 1 || versions[0].Body != "安全出口被杂物堵塞" {
		t.Fatalf("versions: got %+v, want version 1 kept", versions)
	}
	// Threads and resolving.
	e.json("rev", "POST", apath+"/replies", map[string]string{"body": "同意，需整改"}, http.StatusCreated, nil)
	e.json("rev", "POST", apath+"/resolve", nil, http.StatusOK, &got)
	if !got.Resolved || len(got.Replies) != 1 || got.Replies[0].Author.Username != "rev" {
		t.Fatalf("resolved: got resolved %v replies %+v", got.Resolved, got.Replies)
	}
	if n := len(e.listAnnotations("insp", r.path+"/annotations?state=open")); n != 2 {
		t.Fatalf("open annotations: got %d, want 2", n)
	}
	if n := len(e.listAnnotations("insp", r.path+"/annotations?severity=violation")); n != 1 {
		t.Fatalf("violations: got %d, want 1", n)
	}
	e.json("insp", "POST", apath+"/reopen", nil, http.StatusOK, &got)
	// Delete: soft, by the author only, audited.
	if w := e.req("rev", "DELETE", apath, nil, nil); w.Code != http.StatusForbidden {
		t.Fatalf("delete by another officer: got %d, want 403", w.Code)
	}
	// A delete that names a version (If-Match) deletes only that version:
	// the edit made since version 1 is not thrown away unseen.
	if w := e.req("insp", "DELETE", apath, nil, map[string]string{"If-Match": `"1"`}); w.Code != http.StatusPreconditionFailed || !strings.Contains(w.Body.String(), "annotation_changed") {
		t.Fatalf("delete of a stale version: got %d %s, want 412 annotation_changed", w.Code, w.Body)
	}
	if w := e.req("insp", "DELETE", apath, nil, map[string]string{"If-Match": `"one"`}); w.Code != http.StatusBadRequest {
		t.Fatalf("delete with If-Match \"one\": got %d, want 400", w.Code)
	}
	if w := e.req("insp", "DELETE", apath, nil, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: got %d, want 204", w.Code)
	}
	e.json("insp", "GET", apath+"/versions", nil, http.StatusNotFound, nil)
	var events []domain.AuditEvent
	e.json("insp", "GET", r.path+"/audit", nil, http.StatusOK, &events)
	actions := map[string]int{}
	for _, ev := range events {
		actions[ev.Action]++
	}
	for _, want := range []string{"annotation.created", "annotation.edited", "annotation.replied", "annotation.resolved", "annotation.reopened", "annotation.deleted"} {
		if actions[want] == 0 {
			t.Errorf("audit lacks %s: got %v", want, actions)
		}
	}
}

func (e *env) listAnnotations(user, path string) []domain.Annotation {
	e.t.Helper()
	var list []domain.Annotation
	e.json(user, "GET", path, nil, http.StatusOK, &list)
	return list
}

// TestDecisionRoundTrip: findings, a supplement request answered by the
// applicant, a decision the reviewer returns, then one they countersign —
// with every refused step on the way.
func TestDecisionRoundTrip(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	var a domain.Annotation
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "CCTV covers the door", "start_ms": 1000, "checklist_item": "cctv-entrances"}, http.StatusCreated, &a)
	decide := func(user string, body map[string]any, want int) domain.Case {
		var cs domain.Case
		e.json(user, "POST", r.path+"/decision", body, want, &cs)
		return cs
	}
	approve := map[string]any{"outcome": "approve", "summary": "现场符合要求"}
	// Not before every checklist item has a finding; not by others.
	decide("insp", approve, http.StatusUnprocessableEntity)
	decide("rev", approve, http.StatusForbidden)
	decide("appA", approve, http.StatusForbidden)
	e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": "cctv-entrances", "result": "pass", "note": "", "annotation_ids": []string{a.ID}}, http.StatusCreated, nil)
	e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": "fire-exits", "result": "fail"}, http.StatusBadRequest, nil) // a fail needs a note
	e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": "fire-exits", "result": "maybe", "note": "x"}, http.StatusBadRequest, nil)
	e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": "cctv-entrances", "result": "pass", "annotation_ids": []string{"nope"}}, http.StatusBadRequest, nil)
	e.json("rev", "POST", r.path+"/findings", map[string]any{"checklist_item": "fire-exits", "result": "pass"}, http.StatusForbidden, nil)

	// Supplement: owed materials with the permit type's 60 days.
	cs := decide("insp", map[string]any{"outcome": "request_supplement", "summary": "请补充消防验收合格证明", "owed": []string{"消防安全检查合格证明"}}, http.StatusOK)
	if cs.Status != domain.StatusSupplementRequested {
		t.Fatalf("after request_supplement: got %q", cs.Status)
	}
	var owed []domain.Owed
	e.json("appA", "GET", r.path+"/owed", nil, http.StatusOK, &owed)
	if len(owed) != 1 || owed[0].FulfilledAt != nil || owed[0].DueAt.Sub(time.Now()) < 59*24*time.Hour || owed[0].DueAt.Sub(time.Now()) > 64*24*time.Hour {
		// 60 days from the end of the next working day: on a Saturday or
		// Sunday that is Monday's, two days later.
		t.Fatalf("owed: got %+v, want one item due in about 60 days", owed)
	}
	decide("insp", approve, http.StatusUnprocessableEntity) // with the applicant now
	e.upload("appA", r.cs.ID, "certificate.pdf", append([]byte("%PDF-1.4\n"), video(500)...))
	e.json("appA", "POST", r.path+"/submit", nil, http.StatusOK, &cs)
	e.json("appA", "GET", r.path+"/owed", nil, http.StatusOK, &owed)
	if cs.Status != domain.StatusSubmitted || owed[0].FulfilledAt == nil || cs.Inspector == nil || cs.Inspector.ID != e.users["insp"].ID {
		t.Fatalf("resubmitted: got status %q owed %+v inspector %v", cs.Status, owed, cs.Inspector)
	}
	e.json("insp", "POST", r.path+"/assign", map[string]string{}, http.StatusOK, &cs)
	for _, item := range r.checklist[1:] {
		e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	cs = decide("insp", approve, http.StatusOK)
	if cs.Status != domain.StatusPendingCountersign {
		t.Fatalf("after approve: got %q, want pending_countersign", cs.Status)
	}
	// Four eyes: not the inspector, not another reviewer, not without a reason to return.
	sign := func(user string, body map[string]any, want int) domain.Case {
		var out domain.Case
		e.json(user, "POST", r.path+"/countersign", body, want, &out)
		return out
	}
	sign("insp", map[string]any{"agree": true}, http.StatusForbidden)
	sign("rev2", map[string]any{"agree": true}, http.StatusNotFound)
	sign("appA", map[string]any{"agree": true}, http.StatusForbidden)
	sign("rev", map[string]any{"agree": false}, http.StatusBadRequest)
	sign("rev", map[string]any{}, http.StatusBadRequest)
	cs = sign("rev", map[string]any{"agree": false, "comment": "请补充夜间照明情况"}, http.StatusOK)
	if cs.Status != domain.StatusInReview {
		t.Fatalf("returned: got %q, want in_review", cs.Status)
	}
	decide("insp", map[string]any{"outcome": "approve", "summary": "夜间照明已核实", "owed": []string{"营业执照副本"}}, http.StatusOK) // hotel is commitment-based
	cs = sign("rev", map[string]any{"agree": true, "comment": "同意"}, http.StatusOK)
	if cs.Status != domain.StatusApproved {
		t.Fatalf("countersigned: got %q, want approved", cs.Status)
	}
	sign("rev", map[string]any{"agree": true}, http.StatusUnprocessableEntity)
	var decisions []domain.Decision
	e.json("admin", "GET", r.path+"/decisions", nil, http.StatusOK, &decisions)
	if len(decisions) != 3 || decisions[1].Agree == nil || *decisions[1].Agree || decisions[2].Reviewer == nil || decisions[2].Reviewer.ID != e.users["rev"].ID || decisions[2].CountersignedAt == nil {
		t.Fatalf("decisions: got %d rounds %+v", len(decisions), decisions)
	}
	var final caseWithOwed
	e.json("appA", "GET", r.path, nil, http.StatusOK, &final)
	if final.OwedOpen != 1 || final.OwedOverdue {
		t.Fatalf("approved with materials owed: got owed_open %d overdue %v, want 1 not overdue", final.OwedOpen, final.OwedOverdue)
	}
	// Annotating is over once the case is decided.
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "late", "start_ms": 1}, http.StatusUnprocessableEntity, nil)
}

// TestNoOwedMaterialsWithoutCommitment: a precursor-chemical filing is not
// commitment-based, so it cannot be approved with materials still owed.
func TestNoOwedMaterialsWithoutCommitment(t *testing.T) {
	e := newEnv(t)
	var cs domain.Case
	e.json("appA", "POST", "/api/v1/cases", map[string]string{"permit_type": "precursor-purchase", "site_name": "仓库", "site_address": "1 Dock Rd"}, http.StatusCreated, &cs)
	path := "/api/v1/cases/" + cs.ID
	e.upload("appA", cs.ID, "store.mp4", video(1000))
	e.json("appA", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("insp", "POST", path+"/assign", map[string]string{}, http.StatusOK, nil)
	for _, item := range []string{"storage-room", "ledger", "usage-matches"} {
		e.json("insp", "POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	e.json("insp", "POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "ok", "owed": []string{"购买合同原件"}}, http.StatusBadRequest, nil)
	var got domain.Case
	e.json("insp", "POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "ok"}, http.StatusOK, &got)
	if got.Status != domain.StatusPendingCountersign || got.OwedOpen != 0 {
		t.Fatalf("approved without owed materials: got %q with %d owed, want pending_countersign with none", got.Status, got.OwedOpen)
	}
}

type caseWithOwed struct {
	domain.Case
	OwedOverdue bool `json:"owed_overdue"`
}

// TestCaseEventsStream: the SSE stream delivers events as they happen and
// resumes after the last id a client saw.
func TestCaseEventsStream(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	ts := newHTTPServer(t, e)
	get := func(lastID string) (*http.Response, func() string) {
		return openEvents(t, ts+r.path+"/events", e.tokens["rev"], lastID)
	}
	resp, next := get("")
	var lastID string
	for { // the history so far, up to the assignment
		ev := next()
		if strings.Contains(ev, "event: case.assigned") || strings.Contains(ev, `"to":"in_review"`) {
			lastID = sseID(ev)
			break
		}
	}
	start := time.Now()
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "live one", "start_ms": 10}, http.StatusCreated, nil)
	for ev := next(); ; ev = next() {
		if strings.Contains(ev, "event: annotation.created") && strings.Contains(ev, "live one") {
			if d := time.Since(start); d > time.Second {
				t.Fatalf("annotation event arrived after %s, want within 1s", d)
			}
			break
		}
	}
	resp.Body.Close()
	// Events while disconnected arrive on reconnection from Last-Event-ID.
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "while away", "start_ms": 20}, http.StatusCreated, nil)
	resp2, next2 := get(lastID)
	defer resp2.Body.Close()
	seen := map[string]bool{}
	for !seen["while away"] {
		ev := next2()
		for _, s := range []string{"live one", "while away"} {
			if strings.Contains(ev, s) {
				seen[s] = true
			}
		}
	}
	if !seen["live one"] {
		t.Fatal("resumed stream skipped an event after Last-Event-ID")
	}
}

// TestCaseEventsAfterTheCaseRead: GET of a case names in X-Events-After
// the events its page has read; a stream opened with ?after= that sends
// none of them, only what happens next, and a reconnection's
// Last-Event-ID wins over ?after=.
func TestCaseEventsAfterTheCaseRead(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	ts := newHTTPServer(t, e)
	w := e.req("rev", "GET", r.path, nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET the case: got %d", w.Code)
	}
	after, err := strconv.ParseInt(w.Header().Get("X-Events-After"), 10, 64)
	if err != nil || after < 3 {
		t.Fatalf("X-Events-After: got %q, want the seq of the case's events so far", w.Header().Get("X-Events-After"))
	}
	open := func(query, lastID string) func() string {
		resp, next := openEvents(t, ts+r.path+"/events"+query, e.tokens["rev"], lastID)
		t.Cleanup(func() { resp.Body.Close() })
		return func() string { // the next event, past the retry block
			for {
				if ev := next(); strings.Contains(ev, "event: ") {
					return ev
				}
			}
		}
	}
	next := open(fmt.Sprintf("?after=%d", after), "")
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "after the read", "start_ms": 10}, http.StatusCreated, nil)
	ev := next()
	if !strings.Contains(ev, "event: annotation.created") || !strings.Contains(ev, "after the read") {
		t.Fatalf("first event after X-Events-After %d: got %q, want the new annotation", after, ev)
	}
	id, _ := strconv.ParseInt(sseID(ev), 10, 64)
	if id <= after {
		t.Errorf("new event's id %d, want above %d", id, after)
	}
	again := open(fmt.Sprintf("?after=%d", id), strconv.FormatInt(id-1, 10))
	if got, _ := strconv.ParseInt(sseID(again()), 10, 64); got != id {
		t.Errorf("reconnection with Last-Event-ID %d and ?after=%d: first event %d, want %d", id-1, id, got, id)
	}
}

func mustJSONString(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}
