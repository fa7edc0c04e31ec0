package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"siteinspect/domain"
)

// Findings of a security review (an applicant, an outsider, an officer
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
	// Nor takes its countersigning slot, which would keep it from every
	// other reviewer.
	if got, code, _ := m.send("insp", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", nil, nil); got != http.StatusForbidden || code != domain.CodeReviewerIsInspector {
		t.Errorf("the decision's author taking its countersign slot: got %d %s, want 403 %s", got, code, domain.CodeReviewerIsInspector)
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
	// Nor may an admin make them its countersigner.
	if got, code, _ := m.send("admin", "POST", "/api/v1/cases/"+f.cs.ID+"/assign", []byte(`{"reviewer_id":"`+m.users["insp"].ID+`"}`), js); got != http.StatusBadRequest || code != domain.CodeReviewerIsInspector {
		t.Errorf("admin assigning the decision's author as its reviewer: got %d %s, want 400 %s", got, code, domain.CodeReviewerIsInspector)
	}
	// Another reviewer still may.
	if got, code, w := m.send("rev", "POST", "/api/v1/cases/"+f.cs.ID+"/countersign", []byte(`{"agree":true}`), js); got != http.StatusOK {
		t.Errorf("another reviewer countersigning: got %d %s %s, want 200", got, code, w.Body)
	}
}

// An officer in the live room whose session ended (logged out, or the
// account disabled by an admin) acts there no more: before, the room
// checked the session once, at the handshake, and went on storing the
// officer's notes and relaying the room's messages to them for as long as
// the connection lasted.
func TestRoomEndsWithSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(rf *roomFixture)
	}{
		{"logout", func(rf *roomFixture) {
			rf.e.mustDo(t, "insp", "POST", "/api/v1/auth/logout", nil, nil, http.StatusNoContent)
		}},
		{"disabled", func(rf *roomFixture) {
			rf.e.mustDo(t, "admin", "PATCH", "/api/v1/users/"+rf.e.users["insp"].ID, map[string]string{"Content-Type": "application/json"},
				[]byte(`{"disabled":true}`), http.StatusOK)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rf := newRoomFixture(t)
			ts := httptest.NewServer(rf.e.srv)
			t.Cleanup(ts.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/live/"+rf.lsID+"/ws",
				&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + rf.e.tokens["insp"]}}})
			if err != nil {
				t.Fatalf("dial the room: %v", err)
			}
			defer conn.CloseNow()
			conn.SetReadLimit(1 << 20)
			// hello, state, presence.
			for i := 0; i < 3; i++ {
				if _, _, err := conn.Read(ctx); err != nil {
					t.Fatalf("read the room's greeting: %v", err)
				}
			}
			tc.end(rf)
			note := []byte(`{"type":"annotation","body":"written after the session ended","severity":"info"}`)
			if err := conn.Write(ctx, websocket.MessageText, note); err != nil {
				t.Fatalf("send a note: %v", err)
			}
			expectRoomClosed(ctx, t, conn, "a member whose session ended")
			notes, err := rf.e.db.ListLiveAnnotations(context.Background(), rf.lsID)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range notes {
				t.Errorf("note stored after the session ended: %q by %s", n.Body, n.Author.Username)
			}
		})
	}
}

// A phone in the live room whose join link the inspector reissued (the
// link went to the wrong person; "the old link is revoked") is in the room
// no more: before, the revoked token was checked only at the handshake,
// and its holder went on hearing the room and sending positions, shot
// marks and instructions for as long as the connection lasted.
func TestRoomEndsWithRevokedLink(t *testing.T) {
	rf := newRoomFixture(t)
	reissue := func() string {
		w := rf.e.mustDo(t, "insp", "POST", "/api/v1/live/"+rf.lsID+"/link", nil, nil, http.StatusOK)
		var out struct {
			Token string `json:"publish_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Token == "" {
			t.Fatalf("reissue the link: got %s (%v)", w.Body, err)
		}
		return out.Token
	}
	old := reissue()
	ts := httptest.NewServer(rf.e.srv)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/live/"+rf.lsID+"/ws?token="+old, nil)
	if err != nil {
		t.Fatalf("dial the room with the link: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for i := 0; i < 3; i++ {
		if _, _, err := conn.Read(ctx); err != nil {
			t.Fatalf("read the room's greeting: %v", err)
		}
	}
	reissue()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"position","lat":39.0,"lon":117.7}`)); err != nil {
		t.Fatalf("send a position: %v", err)
	}
	expectRoomClosed(ctx, t, conn, "the holder of a revoked link")
	track, err := rf.e.db.LiveTrack(context.Background(), rf.lsID)
	if err != nil {
		t.Fatal(err)
	}
	if len(track) != 0 {
		t.Errorf("positions stored from a revoked link: %+v", track)
	}
}

// A request's method is a label of the request metrics only when it is
// one of HTTP's own: before, anyone (no login needed) could send requests
// with made-up methods, each of which added series to the process's
// memory and to every /metrics answer for good.
func TestMetricsMethodLabelBounded(t *testing.T) {
	e := newFuzzEnv(t, false)
	for i := 0; i < 200; i++ {
		e.do("", "X"+strconv.Itoa(i), "/api/v1/cases", nil, nil)
	}
	body := e.do("", "GET", "/metrics", nil, nil).Body.String()
	methods := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "siteinspect_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `method="`)
		m, _, _ := strings.Cut(rest, `"`)
		methods[m] = true
	}
	if len(methods) > 12 {
		t.Errorf("siteinspect_http_requests_total has %d method labels after 200 made-up methods, want a bounded set", len(methods))
	}
}

// A supervisor reads what the office holds, never the company's drafts
// (the policy's supervisor rows start at submission): the office's audit
// search and its CSV export leave out the events of a case that is still
// a draft, whose site, credit code and contact they showed before while
// GET of the case answered 404. An admin, who sees drafts, still reads
// them; once submitted, the case's whole trail is the office's.
func TestOfficeAuditHidesDrafts(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusDraft)
	if got, _, _ := m.send("sup", "GET", "/api/v1/cases/"+f.cs.ID, nil, nil); got != http.StatusNotFound {
		t.Fatalf("the supervisor reading the draft: got %d, want 404", got)
	}
	count := func(user, path string) int {
		t.Helper()
		got, code, w := m.send(user, "GET", path, nil, nil)
		if got != http.StatusOK {
			t.Fatalf("%s GET %s: got %d %s", user, path, got, code)
		}
		n := 0
		if strings.Contains(path, ".csv") {
			rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), "\uFEFF"))).ReadAll()
			m.must(err)
			for _, r := range rows {
				if r[7] == f.cs.ID {
					n++
				}
			}
			return n
		}
		var events []struct {
			CaseID string `json:"case_id"`
		}
		m.must(json.Unmarshal(w.Body.Bytes(), &events))
		for _, e := range events {
			if e.CaseID == f.cs.ID {
				n++
			}
		}
		return n
	}
	for _, path := range []string{"/api/v1/audit?case=" + f.cs.ID, "/api/v1/audit?limit=1000", "/api/v1/audit.csv"} {
		if n := count("sup", path); n != 0 {
			t.Errorf("supervisor GET %s: the draft's id appears %d times, want none", path, n)
		}
		if n := count("admin", path); n == 0 {
			t.Errorf("admin GET %s: the draft's events missing", path)
		}
	}
	if got, code, _ := m.send("appA", "POST", "/api/v1/cases/"+f.cs.ID+"/submit", nil, nil); got != http.StatusOK {
		t.Fatalf("submit: got %d %s", got, code)
	}
	if n := count("sup", "/api/v1/audit?case="+f.cs.ID); n == 0 {
		t.Errorf("supervisor after the submission: no events of the case, want its whole trail")
	}
}

// A member of the live room cannot flood it: each instruction is an event
// of the hash-chained audit trail (and a line of the case's bundle), and
// every write of the office waits for the chain, so a member sending them
// as fast as the socket carries them (the phone, or a company user who
// joined with their login) held up the office and grew the trail without
// bound. Past a burst, a member's messages are refused (rate_limited)
// until their allowance refills.
func TestRoomMessagesRateLimited(t *testing.T) {
	rf := newRoomFixture(t)
	ts := httptest.NewServer(rf.e.srv)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/live/"+rf.lsID+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + rf.e.tokens["app"]}}})
	if err != nil {
		t.Fatalf("dial the room as the company: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	go func() { // drain
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	const sent = 400
	for i := 0; i < sent; i++ {
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"instruction","text":"flood `+strconv.Itoa(i)+`"}`)); err != nil {
			t.Fatalf("send instruction %d: %v", i, err)
		}
	}
	// Let the room handle what it read.
	last := settledInstructions(t, rf)
	if last > sent/2 {
		t.Errorf("%d of %d instructions sent at once entered the audit trail, want the flood cut short", last, sent)
	}
	if last == 0 {
		t.Errorf("no instruction entered the audit trail, want the first ones to")
	}
}

// expectRoomClosed pings the room on conn and fails the test if it
// answers with a pong before it closes the connection: who, whose access
// has ended, is still a member.
func expectRoomClosed(ctx context.Context, t *testing.T, conn *websocket.Conn, who string) {
	t.Helper()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		return // already closed
	}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return // closed: what we want
		}
		var msg map[string]any
		json.Unmarshal(b, &msg)
		if msg["type"] == "pong" {
			t.Errorf("the room still answers %s", who)
			return
		}
	}
}

// An upload finishes only while its uploader may still upload to the case
// (the policy's upload, the code its creation would get): before, the
// PATCH checked that the caller created the upload and the completion
// checked the case's state, so an applicant whose role an admin changed
// mid-upload still added the rest of the file to the company's case. The
// relation is checked before the PATCH reads a byte and again in the
// transaction that attaches the evidence (here the role changes while the
// last PATCH's body is still arriving).
func TestUploadRechecksUploaderRole(t *testing.T) {
	js := map[string]string{"Content-Type": "application/json"}
	demote := func(t *testing.T, m *matrix) {
		t.Helper()
		if got, code, w := m.send("admin", "PATCH", "/api/v1/users/"+m.users["appA"].ID, []byte(`{"role":"inspector"}`), js); got != http.StatusOK {
			t.Fatalf("admin makes appA an inspector: got %d %s %s", got, code, w.Body)
		}
	}
	refused := func(t *testing.T, m *matrix, f fixture, got int, code string, w *httptest.ResponseRecorder) {
		t.Helper()
		if got != http.StatusNotFound || code != "not_found" {
			t.Errorf("PATCH after the role changed: got %d %s %s, want 404 not_found", got, code, w.Body)
		}
		if id := w.Header().Get("Evidence-Id"); id != "" {
			t.Errorf("refused PATCH answered Evidence-Id %q", id)
		}
		if n := m.evidenceCount(f.cs.ID); n != 1 {
			t.Errorf("evidence of the case: got %d, want the fixture's 1", n)
		}
		if n := m.audited(f.cs.ID, "evidence.refused"); n != 1 {
			t.Errorf("evidence.refused events: got %d, want 1", n)
		}
	}
	t.Run("before the PATCH", func(t *testing.T) {
		m := newMatrix(t)
		f := m.build(domain.StatusDraft)
		demote(t, m)
		got, code, w := m.send("appA", "PATCH", "/api/v1/uploads/"+f.upload, mp4(2000)[100:], tusPatch(100))
		refused(t, m, f, got, code, w)
	})
	t.Run("while the last bytes arrive", func(t *testing.T) {
		m := newMatrix(t)
		f := m.build(domain.StatusDraft)
		rest := mp4(2000)[100:]
		pr, pw := io.Pipe()
		r := httptest.NewRequest("PATCH", "/api/v1/uploads/"+f.upload, pr)
		r.ContentLength = int64(len(rest))
		r.Header.Set("Authorization", "Bearer "+m.tokens["appA"])
		for k, v := range tusPatch(100) {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); m.s.ServeHTTP(w, r) }()
		// The handler has checked the PATCH once this half is read.
		if _, err := pw.Write(rest[:len(rest)/2]); err != nil {
			t.Fatal(err)
		}
		demote(t, m)
		if _, err := pw.Write(rest[len(rest)/2:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		<-done
		var e apiError
		json.Unmarshal(w.Body.Bytes(), &e)
		refused(t, m, f, w.Code, e.Error.Code, w)
	})
	t.Run("still an applicant", func(t *testing.T) {
		m := newMatrix(t)
		f := m.build(domain.StatusDraft)
		got, code, w := m.send("appA", "PATCH", "/api/v1/uploads/"+f.upload, mp4(2000)[100:], tusPatch(100))
		if got != http.StatusNoContent || w.Header().Get("Evidence-Id") == "" {
			t.Fatalf("PATCH completing the upload: got %d %s %s, Evidence-Id %q; want 204 and the evidence", got, code, w.Body, w.Header().Get("Evidence-Id"))
		}
		if n := m.evidenceCount(f.cs.ID); n != 2 {
			t.Errorf("evidence of the case: got %d, want 2", n)
		}
	})
}

// settledInstructions waits (up to 10 s) until the count of rf's case's
// live.instruction audit events has held still for a second, and returns
// it: what the room took in of a flood it has finished reading.
func settledInstructions(t *testing.T, rf *roomFixture) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last, stable := -1, 0
	for time.Now().Before(deadline) && stable < 5 {
		time.Sleep(200 * time.Millisecond)
		n := 0
		list, err := rf.e.db.CaseAudit(context.Background(), rf.cs.ID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range list {
			if ev.Action == "live.instruction" {
				n++
			}
		}
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}
