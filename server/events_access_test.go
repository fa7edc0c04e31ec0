package server_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestApplicantStreamShowsNoDrafts: the company's event stream says that
// its case moved, and carries a request for supplements whole, but not the
// office's draft: the inspector's summary and review of a decision awaiting
// countersign, nor the comment of a reviewer who returns it. The office's
// own stream carries them.
func TestApplicantStreamShowsNoDrafts(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	ts := newHTTPServer(t, e)
	appResp, appNext := openEvents(t, ts+r.path+"/events", e.tokens["appA"], "")
	defer appResp.Body.Close()
	revResp, revNext := openEvents(t, ts+r.path+"/events", e.tokens["rev"], "")
	defer revResp.Body.Close()

	for _, item := range r.checklist {
		e.json("insp", "POST", r.path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	e.json("insp", "POST", r.path+"/decision", map[string]any{"outcome": "approve", "summary": "DRAFT-SUMMARY 草稿"}, http.StatusOK, nil)
	e.json("rev", "POST", r.path+"/countersign", map[string]any{"agree": false, "comment": "RETURN-COMMENT 内部意见"}, http.StatusOK, nil)
	e.json("insp", "POST", r.path+"/decision", map[string]any{"outcome": "request_supplement", "summary": "请补充消防验收合格证明", "owed": []string{"消防安全检查合格证明"}}, http.StatusOK, nil)

	// until reads a stream's events up to the request for supplements.
	until := func(next func() string) string {
		var all strings.Builder
		for {
			ev := next()
			all.WriteString(ev)
			if strings.Contains(ev, `"to":"supplement_requested"`) {
				return all.String()
			}
		}
	}
	office := until(revNext)
	for _, want := range []string{"DRAFT-SUMMARY", "RETURN-COMMENT", `"review":`} {
		if !strings.Contains(office, want) {
			t.Errorf("the reviewer's stream lacks %s", want)
		}
	}
	company := until(appNext)
	for _, secret := range []string{"DRAFT-SUMMARY", "RETURN-COMMENT", `"review":`, `"comment":`} {
		if strings.Contains(company, secret) {
			t.Errorf("the company's stream carries %s:\n%s", secret, company)
		}
	}
	for _, want := range []string{`"to":"pending_countersign"`, `"outcome":"approve"`, "请补充消防验收合格证明", "消防安全检查合格证明"} {
		if !strings.Contains(company, want) {
			t.Errorf("the company's stream lacks %s:\n%s", want, company)
		}
	}
	returned := false
	for _, ev := range strings.Split(company, "\n") {
		returned = returned || strings.Contains(ev, `"from":"pending_countersign"`) && strings.Contains(ev, `"to":"in_review"`)
	}
	if !returned {
		t.Errorf("the company's stream does not say that the decision went back to review:\n%s", company)
	}
	for _, ev := range strings.Split(company, "\n") {
		if strings.Contains(ev, `"action":"case.status"`) && !strings.Contains(ev, `"hash":""`) {
			t.Errorf("a case.status event to the company carries the record's hash, which does not cover what it shows: %s", ev)
		}
	}
}

// TestStreamEndsWithAccess: an inspector's stream of a case ends once an
// admin gives the case to another inspector, before the new inspector's
// first note: the one removed may no longer read the case's trail (GET
// …/audit says so), and the stream now decides again before it sends.
// Before, it decided once, when it opened.
func TestStreamEndsWithAccess(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	ts := newHTTPServer(t, e)
	lines := streamLines(t, ts+r.path+"/events", e.tokens["insp"])
	read := func(until string) {
		t.Helper()
		for deadline := time.After(5 * time.Second); ; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the stream ended before %s", until)
				}
				if strings.Contains(l, until) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within 5 s", until)
			}
		}
	}
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "OLD-NOTE", "start_ms": 10}, http.StatusCreated, nil)
	read("OLD-NOTE")

	e.json("admin", "POST", r.path+"/assign", map[string]any{"inspector_id": e.users["insp2"].ID}, http.StatusOK, nil)
	if w := e.req("insp", "GET", r.path+"/audit", nil, nil); w.Code < 400 {
		t.Fatalf("the replaced inspector's GET of the trail: got %d, want a refusal", w.Code)
	}
	e.json("insp2", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "NEW-NOTE", "start_ms": 20}, http.StatusCreated, nil)
	for deadline := time.After(5 * time.Second); ; {
		select {
		case l, ok := <-lines:
			if !ok {
				return // ended, and nothing of the new inspector's came first
			}
			if strings.Contains(l, "NEW-NOTE") {
				t.Fatalf("the stream sent the new inspector's note to the one replaced: %s", l)
			}
		case <-deadline:
			t.Fatal("the replaced inspector's stream still runs 5 s after the case was given to another")
		}
	}
}

// TestBadgeStreamEndsAtLogout: the notification badge's stream of a
// session logged out since it opened sends no more counts and ends.
func TestBadgeStreamEndsAtLogout(t *testing.T) {
	e := newEnv(t)
	ts := newHTTPServer(t, e)
	lines := streamLines(t, ts+"/api/v1/notifications/events", e.tokens["appA"])
	// next is the next count, false once the stream has ended.
	next := func() (string, bool) {
		for deadline := time.After(5 * time.Second); ; {
			select {
			case l, ok := <-lines:
				if !ok {
					return "", false
				}
				if v, ok := strings.CutPrefix(l, "data: "); ok {
					return v, true
				}
			case <-deadline:
				t.Fatal("the badge's stream neither sent nor ended within 5 s")
				return "", false
			}
		}
	}
	if v, _ := next(); v != `{"unread":0}` {
		t.Fatalf("first count: got %s, want 0 unread", v)
	}
	cs := e.newCase("appA")
	e.upload("appA", cs.ID, "walk.mp4", video(1000))
	e.json("appA", "POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	if v, _ := next(); v != `{"unread":1}` {
		t.Fatalf("after the submission: got %s, want 1 unread (the receipt)", v)
	}
	e.json("appA", "POST", "/api/v1/auth/logout", nil, http.StatusNoContent, nil)
	e.json("insp", "POST", "/api/v1/cases/"+cs.ID+"/assign", nil, http.StatusOK, nil)
	if v, ok := next(); ok {
		t.Fatalf("after logging out: the stream sent %s, want it ended", v)
	}
}

// streamLines opens an event stream with token and hands on its lines; the
// channel closes when the server ends the stream.
func streamLines(t *testing.T, url, token string) <-chan string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open the stream %s: %v %v", url, resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}
