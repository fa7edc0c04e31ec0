package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/live"
	"siteinspect/signaling"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// matrix is a server on a real SQLite file and a disk object store, with a
// user in every relation a case can have, and a way to build a case in any
// state with one of each thing a route can name.
type matrix struct {
	t      *testing.T
	s      *Server
	db     *storage.DB
	ups    *storage.Uploads
	users  map[string]*domain.User
	tokens map[string]string
}

// fixture is a case in one state with one of each thing a route names;
// empty ids are things the state cannot have yet.
type fixture struct {
	cs                                       *domain.Case
	evidence, annotation, live, owed, upload string
}

func newMatrix(t *testing.T) *matrix {
	t.Helper()
	db := testenv.NewDB(t)
	// Each granted change gets a case of its own: hundreds for Acme, past
	// its daily cases (TestCaseCompanyQuota holds that bound).
	db.SetCompanyDailyCases(1 << 20)
	d, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, d, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := signaling.NewManager(signaling.Config{RecordDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	svc, err := live.New(live.Config{DB: db, Objects: d, Media: mgr})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{DB: db, Objects: d, Uploads: ups, Office: "binhai", NumberPrefix: "BH", Live: svc, Location: time.UTC,
		LoginLimit: RateLimit{Failures: 100, Window: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	m := &matrix{t: t, s: s, db: db, ups: ups, users: map[string]*domain.User{}, tokens: map[string]string{}}
	for _, u := range []struct{ name, role, org string }{
		{"appA", "applicant", "Acme"}, {"appA2", "applicant", "Acme"}, {"appB", "applicant", "Other Co"},
		{"insp", "inspector", "binhai"}, {"insp2", "inspector", "binhai"}, {"inspOther", "inspector", "elsewhere"},
		{"rev", "reviewer", "binhai"}, {"rev2", "reviewer", "binhai"}, {"revOther", "reviewer", "elsewhere"}, {"admin", "admin", ""},
		{"sup", "supervisor", "binhai"}, {"supOther", "supervisor", "elsewhere"},
	} {
		usr, err := db.CreateUser(context.Background(), u.name, "password-"+u.name, domain.Role(u.role), "", u.org)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := db.CreateSession(context.Background(), usr.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m.users[u.name], m.tokens[u.name] = usr, tok
	}
	return m
}

func (m *matrix) must(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *matrix) reload(cs *domain.Case) *domain.Case {
	m.t.Helper()
	c, err := m.db.Case(context.Background(), cs.ID)
	m.must(err)
	return c
}

// mp4 is n bytes that sniff as an MP4.
func mp4(n int) []byte {
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	copy(b, "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1")
	return b
}

// build walks a new case of appA's company through the lifecycle to state,
// the way the people would, through the storage methods (which follow the
// same policy).
func (m *matrix) build(state domain.Status) fixture {
	m.t.Helper()
	ctx := context.Background()
	u := m.users
	cs, err := m.db.CreateCase(ctx, u["appA"], "binhai", "BH", time.UTC, domain.NewCase{PermitType: "hotel", SiteName: "Harbour Hotel", SiteAddress: "1 Harbour Rd"})
	m.must(err)
	var f fixture
	up, err := m.ups.Create(ctx, cs, u["appA"], domain.UploadSpec{Length: 2000, Metadata: map[string]string{"filename": "site.mp4", "filetype": "video/mp4"}})
	m.must(err)
	_, ev, err := m.ups.Append(ctx, up.ID, 0, bytes.NewReader(mp4(2000)), nil)
	m.must(err)
	f.evidence = ev.ID
	// An upload begun in the draft and left open: the late-PATCH rows.
	open, err := m.ups.Create(ctx, cs, u["appA"], domain.UploadSpec{Length: 2000, Metadata: map[string]string{"filename": "late.mp4", "filetype": "video/mp4"}})
	m.must(err)
	_, _, err = m.ups.Append(ctx, open.ID, 0, bytes.NewReader(mp4(100)), nil)
	m.must(err)
	f.upload = open.ID
	step := func(s domain.Status) bool { f.cs = m.reload(cs); return f.cs.Status == state || state == s }
	if f.cs = m.reload(cs); state == domain.StatusDraft {
		return f
	}
	_, err = m.db.SubmitCase(ctx, f.cs, u["appA"], time.UTC)
	m.must(err)
	if step(domain.StatusSubmitted) {
		return f
	}
	if state == domain.StatusWithdrawn {
		_, err = m.db.WithdrawCase(ctx, f.cs, u["appA"])
		m.must(err)
		f.cs = m.reload(cs)
		return f
	}
	_, err = m.db.AssignCase(ctx, f.cs, u["insp"], "", "")
	m.must(err)
	f.cs = m.reload(cs)
	start := int64(500)
	a, err := m.db.CreateAnnotation(ctx, f.cs, ev, u["insp"], domain.AnnotationInput{Body: "fire exit", StartMS: &start, Severity: "info"})
	m.must(err)
	f.annotation = a.ID
	ls, _, err := m.db.CreateLiveSession(ctx, f.cs, u["insp"], nil, time.Hour)
	m.must(err)
	_, _, err = m.db.EndLiveSession(ctx, ls, u["insp"].ID, "test", nil)
	m.must(err)
	f.live = ls.ID
	if step(domain.StatusInReview) {
		return f
	}
	if state == domain.StatusSupplementRequested {
		_, err = m.db.Decide(ctx, f.cs, u["insp"], time.UTC, domain.DecisionInput{Outcome: "request_supplement", Summary: "more", Owed: []string{"fire certificate"}})
		m.must(err)
		f.cs = m.reload(cs)
		f.owed = m.firstOwed(cs.ID)
		return f
	}
	pt, err := m.db.PermitType(ctx, "hotel")
	m.must(err)
	for _, item := range pt.Checklist {
		_, err = m.db.SetFinding(ctx, f.cs, u["insp"], domain.Finding{ChecklistItem: item.ID, Result: "pass"})
		m.must(err)
	}
	outcome, owed := "approve", []string{"fire certificate"}
	if state == domain.StatusRejected {
		outcome, owed = "reject", nil
	}
	_, err = m.db.Decide(ctx, f.cs, u["insp"], time.UTC, domain.DecisionInput{Outcome: outcome, Summary: "seen", Owed: owed})
	m.must(err)
	f.owed = m.firstOwed(cs.ID)
	if step(domain.StatusPendingCountersign) {
		return f
	}
	_, err = m.db.Countersign(ctx, f.cs, u["rev"], true, "")
	m.must(err)
	f.cs = m.reload(cs)
	if f.cs.Status != state {
		m.t.Fatalf("built a %s case, want %s", f.cs.Status, state)
	}
	return f
}

func (m *matrix) firstOwed(caseID string) string {
	list, err := m.db.OwedItems(context.Background(), caseID)
	m.must(err)
	if len(list) == 0 {
		return ""
	}
	return list[0].ID
}

// path fills a route's parameters from f; ok is false when the state
// cannot have what the route names.
func (f fixture) path(route string) (string, bool) {
	p := route
	for param, v := range map[string]string{":id": f.cs.ID, ":eid": f.evidence, ":aid": f.annotation, ":lid": f.live,
		":uid": f.upload, ":oid": f.owed, ":n": "1", ":rid": "nosuchresource"} {
		if strings.Contains(p, param) {
			if v == "" {
				return "", false
			}
			p = strings.ReplaceAll(p, param, v)
		}
	}
	return p, true
}

// policyCodes are the codes only a refusal by the policy carries.
var policyCodes = map[string]bool{domain.CodeNotPermitted: true, domain.CodeWrongState: true, domain.CodeNotAcceptingEvidence: true,
	domain.CodeReviewerIsInspector: true}

// hiddenMessages are the 404s that hide a case from who may not see it.
var hiddenMessages = []string{"no such case", "no such evidence", "no such annotation", "no such live session", "no such upload"}

// expect is the policy's answer for user on f.cs for route: 0 and "" when
// it grants the action, else the status and code of its refusal.
func (m *matrix) expect(route string, action domain.Action, user string, f fixture) (int, string) {
	u, cs := m.users[user], f.cs
	if !cs.VisibleTo(u) {
		return http.StatusNotFound, "not_found"
	}
	if strings.Contains(route, ":aid") && !domain.Grants(domain.ActionReadNotes, cs.Relations(u), cs.Status) {
		return http.StatusNotFound, "not_found"
	}
	if strings.Contains(route, ":uid") && user != "appA" {
		return http.StatusNotFound, "not_found"
	}
	if action == assignByRole {
		switch u.Role {
		case domain.RoleInspector:
			action = domain.ActionTake
		case domain.RoleReviewer:
			action = domain.ActionTakeReview
		default:
			action = domain.ActionAssign
		}
	}
	err := cs.Authorize(u, action)
	if err == nil {
		return 0, ""
	}
	var se *domain.Error
	if !errors.As(err, &se) {
		m.t.Fatalf("policy refusal %v has no code", err)
	}
	for _, k := range errorKinds {
		if se.Kind == k.kind {
			return k.status, se.Code
		}
	}
	m.t.Fatalf("policy refusal %v of no known kind", err)
	return 0, ""
}

func (m *matrix) do(user, method, path string) (int, string, string) {
	body := "{}"
	hdr := map[string]string{"Content-Type": "application/json"}
	if strings.HasPrefix(path, "/api/v1/uploads/") || strings.HasSuffix(path, "/uploads") {
		body = string(mp4(1900)[100:])
		hdr = map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "100",
			"Upload-Length": "2000", "Upload-Metadata": "filename YS5tcDQ="}
	}
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+m.tokens[user])
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var w http.ResponseWriter = httptest.NewRecorder()
	rec := w.(*httptest.ResponseRecorder)
	if strings.HasSuffix(path, "/events") {
		// The stream has answered once its status is out: end it then.
		w = &cancelOnHeader{ResponseRecorder: rec, cancel: cancel}
	}
	m.s.ServeHTTP(w, r.WithContext(ctx))
	var e apiError
	json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, e.Error.Code, e.Error.Message
}

// cancelOnHeader ends a request (an event stream) as soon as its status
// has been written, however long the machine took to get there.
type cancelOnHeader struct {
	*httptest.ResponseRecorder
	cancel func()
}

func (c *cancelOnHeader) WriteHeader(code int) {
	c.ResponseRecorder.WriteHeader(code)
	c.cancel()
}

// auditLen counts the case's audit events other than refusals, which a
// refused upload records on purpose.
func (m *matrix) auditLen(caseID string) int {
	list, err := m.db.CaseAudit(context.Background(), caseID, 0, 100000)
	m.must(err)
	n := 0
	for _, e := range list {
		if e.Action != "evidence.refused" {
			n++
		}
	}
	return n
}

// TestPolicyMatrix walks every route × user × case state over HTTP and
// checks that the answer is the policy table's: 404 for who may not see the
// case, the policy's 403 or 422 (with its code) for who may not act, and
// no policy refusal for who may. A refused request changes nothing (the
// case's audit chain stays as it was). A route in neither routeActions nor
// routesWithoutCase fails the test, so a new route cannot skip the table.
func TestPolicyMatrix(t *testing.T) {
	m := newMatrix(t)
	for _, r := range m.s.echo.Routes() {
		if r.Path == "/api/v1" || strings.HasSuffix(r.Path, "/*") || r.Method == "echo_route_not_found" {
			continue
		}
		key := r.Method + " " + r.Path
		_, acts := routeActions[key]
		_, other := routesWithoutCase[key]
		if !acts && !other {
			t.Errorf("route %s is in neither routeActions nor routesWithoutCase (server/policy.go)", key)
		}
		if acts && other {
			t.Errorf("route %s is in both tables", key)
		}
	}
	states := []domain.Status{domain.StatusDraft, domain.StatusSubmitted, domain.StatusInReview, domain.StatusSupplementRequested,
		domain.StatusPendingCountersign, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn}
	users := []string{"appA", "appA2", "appB", "insp", "insp2", "inspOther", "rev", "rev2", "revOther", "admin", "sup", "supOther"}
	shared := map[domain.Status]fixture{}
	for _, s := range states {
		shared[s] = m.build(s)
	}
	cells, granted, supRead, supRefused := 0, 0, 0, 0
	for route, action := range routeActions {
		method, pattern, _ := strings.Cut(route, " ")
		for _, s := range states {
			for _, user := range users {
				f := shared[s]
				if _, ok := f.path(pattern); !ok {
					continue
				}
				wantStatus, wantCode := m.expect(pattern, action, user, f)
				if wantStatus == 0 && method != http.MethodGet {
					f = m.build(s) // a granted change gets a case of its own
				}
				path, _ := f.path(pattern)
				before := m.auditLen(f.cs.ID)
				got, code, msg := m.do(user, method, path)
				cells++
				// A supervisor reads every case the office holds and changes
				// none, whatever the table's rows say, but for the urgent
				// mark (特事特办, issue #20: an officer or supervisor sets it).
				if strings.HasPrefix(user, "sup") && action != domain.ActionMarkUrgent {
					switch {
					case method != http.MethodGet && got < 400:
						t.Errorf("%s %s as %s on a %s case: got %d, want a refusal (a supervisor changes nothing)", method, pattern, user, s, got)
					case method != http.MethodGet:
						supRefused++
					case user == "sup" && s != domain.StatusDraft && wantStatus != 0:
						t.Errorf("%s %s as sup on a %s case: the policy refuses it (%d %s), want a supervisor to read it", method, pattern, s, wantStatus, wantCode)
					case user == "sup" && s != domain.StatusDraft:
						supRead++
					}
				}
				switch {
				case wantStatus == 0:
					granted++
					if policyCodes[code] || got == http.StatusUnauthorized || got == http.StatusNotFound && hidden(msg) {
						t.Errorf("%s %s as %s on a %s case: got %d %s %q, want the policy's grant", method, pattern, user, s, got, code, msg)
					}
				case got != wantStatus || code != wantCode:
					t.Errorf("%s %s as %s on a %s case: got %d %s %q, want %d %s", method, pattern, user, s, got, code, msg, wantStatus, wantCode)
				default:
					if after := m.auditLen(f.cs.ID); after != before {
						t.Errorf("%s %s as %s on a %s case: refused, yet the audit chain grew %d → %d", method, pattern, user, s, before, after)
					}
				}
			}
		}
	}
	if cells < 2000 || granted < 200 {
		t.Errorf("the matrix ran %d cells, %d granted; want at least 2000 and 200", cells, granted)
	}
	if supRead < 100 || supRefused < 100 {
		t.Errorf("the supervisor read %d cells and was refused %d changes; want at least 100 of each", supRead, supRefused)
	}
	t.Logf("%d cells, %d granted; the supervisor read %d and was refused %d changes", cells, granted, supRead, supRefused)
}

func hidden(msg string) bool {
	for _, h := range hiddenMessages {
		if strings.HasPrefix(msg, h) {
			return true
		}
	}
	return false
}
