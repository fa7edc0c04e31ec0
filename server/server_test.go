package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/server"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a server on a real SQLite file and a real MinIO bucket, with users
// of every role and cases in several states.
type env struct {
	t       *testing.T
	srv     *server.Server
	db      *storage.DB
	ups     *storage.Uploads
	objects *objects.MinIO
	tokens  map[string]string // username → bearer token
	users   map[string]*domain.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, db: testenv.NewDB(t), objects: testenv.NewMinIO(t), tokens: map[string]string{}, users: map[string]*domain.User{}}
	// As serve does: live invitations keep their join link sealed.
	if err := e.db.LoadNotifyKey(ctx, e.objects); err != nil {
		t.Fatal(err)
	}
	var err error
	e.ups, err = storage.NewUploads(e.db, e.objects, domain.UploadConfig{SpoolDir: filepath.Join(t.TempDir(), "spool"), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC,
		LoginLimit: server.RateLimit{Failures: 3, Window: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, role, org string }{
		{"appA", "applicant", "Acme"}, {"appA2", "applicant", "Acme"}, {"appB", "applicant", "Other Co"},
		{"insp", "inspector", "binhai"}, {"insp2", "inspector", "binhai"}, {"inspOther", "inspector", "elsewhere"},
		{"rev", "reviewer", "binhai"}, {"rev2", "reviewer", "binhai"}, {"admin", "admin", ""},
	} {
		usr, err := e.db.CreateUser(ctx, u.name, "password-"+u.name, domain.Role(u.role), "", u.org)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := e.db.CreateSession(ctx, usr.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.users[u.name], e.tokens[u.name] = usr, tok
	}
	return e
}

// req sends a request as user ("" for nobody) and returns the recorder.
func (e *env) req(user, method, path string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, body)
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

// json sends JSON as user, checks the status and decodes the answer.
func (e *env) json(user, method, path string, in any, want int, out any) {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	w := e.req(user, method, path, body, map[string]string{"Content-Type": "application/json"})
	if w.Code != want {
		e.t.Fatalf("%s %s as %q: got %d %s, want %d", method, path, user, w.Code, w.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, w.Body, err)
		}
	}
}

// newCase opens a draft for an applicant.
func (e *env) newCase(user string) domain.Case {
	e.t.Helper()
	var c domain.Case
	e.json(user, "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "Harbour Hotel", "site_address": "1 Harbour Rd"}, http.StatusCreated, &c)
	return c
}

// upload adds evidence to a case through tus and returns its id.
func (e *env) upload(user, caseID, name string, data []byte) string {
	e.t.Helper()
	w := e.req(user, "POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)),
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte(name)) + ",filetype " + base64.StdEncoding.EncodeToString([]byte("video/mp4")),
	})
	if w.Code != http.StatusCreated {
		e.t.Fatalf("create upload: got %d %s, want 201", w.Code, w.Body)
	}
	w = e.req(user, "PATCH", w.Header().Get("Location"), bytes.NewReader(data), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
	})
	if w.Code != http.StatusNoContent || w.Header().Get("Evidence-Id") == "" {
		e.t.Fatalf("PATCH: got %d %s (Evidence-Id %q), want 204 with an id", w.Code, w.Body, w.Header().Get("Evidence-Id"))
	}
	return w.Header().Get("Evidence-Id")
}

// video returns n bytes that sniff as an MP4.
func video(n int) []byte {
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	copy(b, "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1")
	return b
}

// stage builds the cases the matrix runs against.
type stage struct {
	draftA, subA, assignedA, draftB domain.Case
	evDraftA, evSubA, evAssignedA   string
}

func (e *env) stage() stage {
	var s stage
	s.draftA = e.newCase("appA")
	s.evDraftA = e.upload("appA", s.draftA.ID, "draft.mp4", video(1000))
	s.subA = e.newCase("appA")
	s.evSubA = e.upload("appA", s.subA.ID, "sub.mp4", video(1000))
	e.json("appA", "POST", "/api/v1/cases/"+s.subA.ID+"/submit", nil, http.StatusOK, nil)
	s.assignedA = e.newCase("appA2")
	s.evAssignedA = e.upload("appA2", s.assignedA.ID, "assigned.mp4", video(1000))
	e.json("appA2", "POST", "/api/v1/cases/"+s.assignedA.ID+"/submit", nil, http.StatusOK, nil)
	e.json("insp", "POST", "/api/v1/cases/"+s.assignedA.ID+"/assign", nil, http.StatusOK, nil)
	e.json("rev", "POST", "/api/v1/cases/"+s.assignedA.ID+"/assign", nil, http.StatusOK, nil)
	s.draftB = e.newCase("appB")
	return s
}

// TestAuthorizationMatrix checks each role against each endpoint: another
// company's case, an officer of another office, an unassigned inspector,
// drafts hidden from officers. Hidden things are 404, not 403, so ids leak
// nothing.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	s := e.stage()
	c := func(cs domain.Case) string { return "/api/v1/cases/" + cs.ID }
	ev := func(id string) string { return "/api/v1/evidence/" + id }
	tusHdr := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": "filename YS5tcDQ="}
	type row struct {
		user, method, path string
		body               string
		hdr                map[string]string
		want               int
	}
	rows := []row{}
	add := func(method, path, body string, hdr map[string]string, want map[string]int) {
		for user, code := range want {
			rows = append(rows, row{user, method, path, body, hdr, code})
		}
	}
	// Reading cases.
	add("GET", c(s.draftA), "", nil, map[string]int{"": 401, "appA": 200, "appA2": 200, "appB": 404, "insp": 404, "rev": 404, "admin": 200})
	add("GET", c(s.subA), "", nil, map[string]int{"appA": 200, "appB": 404, "insp": 200, "insp2": 200, "inspOther": 404, "rev": 200, "admin": 200})
	add("GET", c(s.assignedA), "", nil, map[string]int{"appA": 200, "appA2": 200, "appB": 404, "insp": 200, "insp2": 404, "inspOther": 404, "rev": 200, "rev2": 404, "admin": 200})
	add("GET", c(s.draftB), "", nil, map[string]int{"appA": 404, "appB": 200, "insp": 404})
	// Reading evidence follows the case.
	for _, p := range []string{ev(s.evDraftA), ev(s.evDraftA) + "/content", c(s.draftA) + "/evidence"} {
		add("GET", p, "", nil, map[string]int{"": 401, "appA": 200, "appA2": 200, "appB": 404, "insp": 404, "admin": 200})
	}
	for _, p := range []string{ev(s.evSubA), ev(s.evSubA) + "/content"} {
		add("GET", p, "", nil, map[string]int{"appB": 404, "insp": 200, "insp2": 200, "inspOther": 404, "rev": 200})
	}
	for _, p := range []string{ev(s.evAssignedA), ev(s.evAssignedA) + "/content"} {
		add("GET", p, "", nil, map[string]int{"appA": 200, "appB": 404, "insp": 200, "insp2": 404, "rev": 200, "rev2": 404, "inspOther": 404})
	}
	// Opening cases is for applicants.
	add("POST", "/api/v1/cases", `{"permit_type":"hotel","site_name":"x","site_address":"y"}`, nil, map[string]int{"": 401, "insp": 403, "rev": 403, "admin": 403})
	// Acting on cases.
	add("POST", c(s.draftA)+"/submit", "", nil, map[string]int{"appB": 404, "insp": 404})
	add("POST", c(s.subA)+"/submit", "", nil, map[string]int{"insp": 403, "rev": 403, "appA": 422, "admin": 403})
	add("POST", c(s.subA)+"/withdraw", "", nil, map[string]int{"insp": 403, "appB": 404})
	add("POST", c(s.assignedA)+"/withdraw", "", nil, map[string]int{"appA": 422})
	add("POST", c(s.subA)+"/assign", "{}", nil, map[string]int{"appA": 403, "inspOther": 404, "appB": 404})
	add("POST", c(s.subA)+"/assign", `{"inspector_id":"`+e.users["insp2"].ID+`"}`, nil, map[string]int{"insp": 403, "rev": 403})
	add("POST", c(s.assignedA)+"/assign", "{}", nil, map[string]int{"insp2": 404, "appA2": 403})
	// Uploads: only the company, only while the case takes evidence.
	add("POST", c(s.draftA)+"/uploads", "", tusHdr, map[string]int{"": 401, "appB": 404, "insp": 404, "admin": 403})
	add("POST", c(s.subA)+"/uploads", "", tusHdr, map[string]int{"appA": 422, "insp": 403})
	for _, r := range rows {
		name := r.user + " " + r.method + " " + strings.TrimPrefix(r.path, "/api/v1")
		var body io.Reader
		hdr := map[string]string{}
		if r.body != "" {
			body = strings.NewReader(r.body)
			hdr["Content-Type"] = "application/json"
		}
		for k, v := range r.hdr {
			hdr[k] = v
		}
		w := e.req(r.user, r.method, r.path, body, hdr)
		if w.Code != r.want {
			t.Errorf("%s: got %d %s, want %d", name, w.Code, strings.TrimSpace(w.Body.String()), r.want)
			continue
		}
		if r.want >= 400 {
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Errorf("%s: error body %q is not {\"error\":{\"code\",\"message\"}}", name, w.Body)
			}
		}
	}
	// Another user's upload is invisible even to a colleague.
	w := e.req("appA", "POST", c(s.draftA)+"/uploads", nil, tusHdr)
	loc := w.Header().Get("Location")
	for user, want := range map[string]int{"appA": 200, "appA2": 404, "appB": 404, "insp": 404} {
		if got := e.req(user, "HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"}).Code; got != want {
			t.Errorf("HEAD upload as %s: got %d, want %d", user, got, want)
		}
	}
}

// TestCaseListsAreScoped: each role's list holds exactly what it may see.
func TestCaseListsAreScoped(t *testing.T) {
	e := newEnv(t)
	s := e.stage()
	want := map[string][]string{
		"appA":      {s.draftA.ID, s.subA.ID, s.assignedA.ID},
		"appB":      {s.draftB.ID},
		"insp":      {s.subA.ID, s.assignedA.ID},
		"insp2":     {s.subA.ID},
		"inspOther": {},
		"rev":       {s.subA.ID, s.assignedA.ID},
		"rev2":      {s.subA.ID},
		"admin":     {s.draftA.ID, s.subA.ID, s.assignedA.ID, s.draftB.ID},
	}
	for user, ids := range want {
		var list []domain.Case
		e.json(user, "GET", "/api/v1/cases", nil, http.StatusOK, &list)
		got := map[string]bool{}
		for _, c := range list {
			got[c.ID] = true
		}
		if len(got) != len(ids) {
			t.Errorf("%s sees %d cases, want %d", user, len(got), len(ids))
		}
		for _, id := range ids {
			if !got[id] {
				t.Errorf("%s does not see case %s", user, id)
			}
		}
	}
	var submitted []domain.Case
	e.json("appA", "GET", "/api/v1/cases?status=submitted", nil, http.StatusOK, &submitted)
	if len(submitted) != 1 || submitted[0].ID != s.subA.ID {
		t.Errorf("?status=submitted: got %d cases, want only %s", len(submitted), s.subA.ID)
	}
	e.json("appA", "GET", "/api/v1/cases?status=bogus", nil, http.StatusBadRequest, nil)
}

// TestCaseLifecycle walks a case through the states this issue owns and
// checks every refused step is 422 and the four-eyes rule holds.
func TestCaseLifecycle(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	if !strings.HasPrefix(cs.Number, "BH-"+strconv.Itoa(time.Now().UTC().Year())+"-0000") || cs.Status != domain.StatusDraft || cs.DueAt != nil {
		t.Fatalf("new case: got number %q status %q due %v, want BH-YYYY-0000NN draft without due date", cs.Number, cs.Status, cs.DueAt)
	}
	next := e.newCase("appA")
	if n1, _ := strconv.Atoi(cs.Number[len(cs.Number)-6:]); next.Number != cs.Number[:len(cs.Number)-6]+strings.Repeat("0", 6-len(strconv.Itoa(n1+1)))+strconv.Itoa(n1+1) {
		t.Fatalf("numbers: got %q after %q, want the next one", next.Number, cs.Number)
	}
	path := "/api/v1/cases/" + cs.ID
	e.json("appA", "POST", path+"/submit", nil, http.StatusUnprocessableEntity, nil) // nothing to inspect yet
	e.json("insp", "POST", path+"/assign", map[string]string{}, http.StatusNotFound, nil)
	e.upload("appA", cs.ID, "walkthrough.mp4", video(5000))
	var got domain.Case
	e.json("appA", "POST", path+"/submit", nil, http.StatusOK, &got)
	if got.Status != domain.StatusSubmitted || got.DueAt == nil || got.SubmittedAt == nil || got.DueAt.Before(*got.SubmittedAt) {
		t.Fatalf("submitted: got status %q due %v submitted %v", got.Status, got.DueAt, got.SubmittedAt)
	}
	e.json("appA", "POST", path+"/submit", nil, http.StatusUnprocessableEntity, nil)
	e.json("insp", "POST", path+"/assign", map[string]string{"reviewer_id": e.users["rev"].ID}, http.StatusForbidden, nil) // the inspector picks no countersigner
	e.json("insp", "POST", path+"/assign", map[string]string{}, http.StatusOK, &got)
	if got.Status != domain.StatusInReview || got.Inspector == nil || got.Inspector.ID != e.users["insp"].ID {
		t.Fatalf("taken: got status %q inspector %+v, want in_review with insp", got.Status, got.Inspector)
	}
	e.json("insp2", "POST", path+"/assign", map[string]string{}, http.StatusNotFound, nil)
	e.json("admin", "POST", path+"/assign", map[string]string{"reviewer_id": e.users["rev"].ID, "inspector_id": e.users["rev"].ID}, http.StatusBadRequest, nil)
	e.json("rev", "POST", path+"/assign", map[string]string{}, http.StatusOK, &got)
	if got.Reviewer == nil || got.Reviewer.ID != e.users["rev"].ID {
		t.Fatalf("reviewer: got %+v, want rev", got.Reviewer)
	}
	e.json("rev2", "POST", path+"/assign", map[string]string{}, http.StatusNotFound, nil)
	e.json("appA", "POST", path+"/withdraw", nil, http.StatusUnprocessableEntity, nil)
	e.json("appA", "POST", "/api/v1/cases/"+next.ID+"/withdraw", nil, http.StatusOK, &got)
	if got.Status != domain.StatusWithdrawn {
		t.Fatalf("withdraw: got %q, want withdrawn", got.Status)
	}
	e.json("appA", "POST", "/api/v1/cases/"+next.ID+"/submit", nil, http.StatusUnprocessableEntity, nil)
}

// TestBadRequests: malformed input gets a clear 4xx in the JSON shape.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"malformed", `{"permit_type":`, 400},
		{"not an object", `[1,2]`, 400},
		{"unknown field", `{"permit_type":"hotel","site_name":"x","site_address":"y","owner":"me"}`, 400},
		{"trailing data", `{"permit_type":"hotel","site_name":"x","site_address":"y"} {}`, 400},
		{"empty", ``, 400},
		{"unknown permit type", `{"permit_type":"casino","site_name":"x","site_address":"y"}`, 400},
		{"missing site", `{"permit_type":"hotel","site_name":" ","site_address":"y"}`, 400},
		{"too long", `{"permit_type":"hotel","site_name":"` + strings.Repeat("x", 201) + `","site_address":"y"}`, 400},
		{"huge body", `{"description":"` + strings.Repeat("x", 2<<20) + `"}`, 413},
	} {
		w := e.req("appA", "POST", "/api/v1/cases", strings.NewReader(tt.body), map[string]string{"Content-Type": "application/json"})
		if w.Code != tt.want || !strings.Contains(w.Body.String(), `"error":{"code":`) {
			t.Errorf("%s: got %d %s, want %d with a JSON error", tt.name, w.Code, w.Body, tt.want)
		}
	}
	if w := e.req("appA", "GET", "/api/v1/nope", nil, nil); w.Code != 404 || !strings.Contains(w.Body.String(), `"not_found"`) {
		t.Errorf("unknown route: got %d %s, want 404 not_found JSON", w.Code, w.Body)
	}
	if w := e.req("appA", "GET", "/api/v1/evidence/nope", nil, nil); w.Code != 404 {
		t.Errorf("unknown evidence: got %d, want 404", w.Code)
	}
	if w := e.req("", "GET", "/api/v1/me", nil, map[string]string{"Authorization": "Basic eDp5"}); w.Code != 401 {
		t.Errorf("basic auth: got %d, want 401", w.Code)
	}
}

// TestListLimits: every list answers a page size outside its range with
// the one code bad_limit, and takes the largest it allows.
func TestListLimits(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	ev := e.upload("appA", cs.ID, "walk.mp4", video(1000))
	for _, tc := range []struct {
		path string
		max  int
	}{
		{"/api/v1/cases", 5000},
		{"/api/v1/cases/" + cs.ID + "/annotations", 5000},
		{"/api/v1/evidence/" + ev + "/annotations", 5000},
		{"/api/v1/notifications", 100},
	} {
		for _, bad := range []string{"0", "-1", "x", strconv.Itoa(tc.max + 1)} {
			w := e.req("admin", "GET", tc.path+"?limit="+bad, nil, nil)
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"code":"bad_limit"`) {
				t.Errorf("GET %s?limit=%s: got %d %s, want 400 bad_limit", tc.path, bad, w.Code, w.Body)
			}
		}
		if w := e.req("admin", "GET", tc.path+"?limit="+strconv.Itoa(tc.max), nil, nil); w.Code != http.StatusOK {
			t.Errorf("GET %s?limit=%d: got %d %s, want 200", tc.path, tc.max, w.Code, w.Body)
		}
	}
}
