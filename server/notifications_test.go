package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
)

type inboxPage struct {
	Items  []domain.Notification `json:"items"`
	Unread int                   `json:"unread"`
}

// inbox returns user's notification kinds, newest first, and the unread count.
func (e *env) inbox(user string) ([]string, int, []domain.Notification) {
	e.t.Helper()
	var p inboxPage
	e.json(user, "GET", "/api/v1/notifications", nil, http.StatusOK, &p)
	kinds := []string{}
	for _, n := range p.Items {
		kinds = append(kinds, n.Kind)
	}
	return kinds, p.Unread, p.Items
}

// decideWithOwed takes a case of appA from draft to approved with owed
// materials (the commitment signed first), as insp and rev.
func (e *env) decideWithOwed(owed []string) domain.Case {
	e.t.Helper()
	cs := e.newCase("appA")
	path := "/api/v1/cases/" + cs.ID
	e.upload("appA", cs.ID, "walk.mp4", video(2000))
	if len(owed) > 0 {
		e.json("appA", "POST", path+"/commitment", map[string]any{"items": owed, "signer_name": "张三", "agree": true}, http.StatusCreated, nil)
	}
	e.json("appA", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("insp", "POST", path+"/assign", nil, http.StatusOK, nil)
	e.json("rev", "POST", path+"/assign", nil, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"} {
		e.json("insp", "POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	e.json("insp", "POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "现场符合要求", "owed": owed}, http.StatusOK, nil)
	e.json("rev", "POST", path+"/countersign", map[string]any{"agree": true}, http.StatusOK, &cs)
	return cs
}

// TestNotificationInbox: each status change of a case lands in the inbox
// of the people it concerns (not of the one who acted, except the
// applicant's own receipt of submission), with the unread count; marking
// read works on one's own notifications only; the event stream pushes the
// unread count; the contact is the user's own to set and is validated.
func TestNotificationInbox(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	// The applicant's badge, live: the first event is the count now.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/notifications/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["appA"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	nextUnread := func() int {
		t.Helper()
		for events.Scan() {
			if v, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var d struct{ Unread int }
				json.Unmarshal([]byte(v), &d)
				return d.Unread
			}
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return 0
	}
	if n := nextUnread(); n != 0 {
		t.Fatalf("first event: got unread %d, want 0", n)
	}

	cs := e.decideWithOwed(nil)
	if cs.Status != domain.StatusApproved {
		t.Fatalf("case: got %s, want approved", cs.Status)
	}
	kinds, unread, items := e.inbox("appA")
	want := []string{domain.NotifyCountersigned, domain.NotifyDecided, domain.NotifyClaimed, domain.NotifySubmitted}
	if !slices.Equal(kinds, want) || unread != 4 {
		t.Fatalf("applicant's inbox: got %v unread %d, want %v unread 4", kinds, unread, want)
	}
	for _, n := range items {
		var d map[string]any
		json.Unmarshal(n.Data, &d)
		if n.CaseID != cs.ID || d["case_number"] != cs.Number || n.ReadAt != nil || n.UserID != e.users["appA"].ID {
			t.Fatalf("notification %s: got case %s data %v read %v, want case %s number %s unread", n.Kind, n.CaseID, d, n.ReadAt, cs.ID, cs.Number)
		}
	}
	var dec map[string]any
	json.Unmarshal(items[1].Data, &dec)
	if dec["outcome"] != "approve" || dec["to"] != string(domain.StatusPendingCountersign) {
		t.Fatalf("decided notification's data: got %v, want outcome approve, to pending_countersign", dec)
	}
	// The stream follows: at most one event per change, ending at 4.
	for n := nextUnread(); n != 4; n = nextUnread() {
		if n > 4 {
			t.Fatalf("streamed unread %d, want up to 4", n)
		}
	}
	for user, want := range map[string][]string{
		"insp": {domain.NotifyCountersigned}, "rev": {domain.NotifyDecided}, "appB": {}, "insp2": {},
	} {
		if got, n, _ := e.inbox(user); !slices.Equal(got, want) || n != len(want) {
			t.Fatalf("%s's inbox: got %v unread %d, want %v", user, got, n, want)
		}
	}

	// Marking read: another's id changes nothing; one's own does.
	var marked struct{ Marked, Unread int }
	e.json("appB", "POST", "/api/v1/notifications/read", map[string]any{"ids": []string{items[0].ID}}, http.StatusOK, &marked)
	if marked.Marked != 0 || marked.Unread != 0 {
		t.Fatalf("appB marks appA's: got %+v, want 0 marked", marked)
	}
	e.json("appA", "POST", "/api/v1/notifications/read", map[string]any{"ids": []string{items[0].ID}}, http.StatusOK, &marked)
	if marked.Marked != 1 || marked.Unread != 3 {
		t.Fatalf("appA marks one: got %+v, want 1 marked, 3 unread", marked)
	}
	if n := nextUnread(); n != 3 {
		t.Fatalf("streamed after marking one: got %d, want 3", n)
	}
	if w := e.req("appA", "POST", "/api/v1/notifications/read", strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json"}); w.Code != http.StatusBadRequest || errorCode(w.Body.Bytes()) != "notification_ids_missing" {
		t.Fatalf("mark nothing: got %d %s, want 400 notification_ids_missing", w.Code, w.Body)
	}
	e.json("appA", "POST", "/api/v1/notifications/read", map[string]any{"all": true}, http.StatusOK, &marked)
	if _, n, items := e.inbox("appA"); marked.Marked != 3 || n != 0 || items[3].ReadAt == nil {
		t.Fatalf("mark all: got %+v, inbox unread %d, want 3 marked, 0 unread", marked, n)
	}
	// A live invitation carries the join link with its publish token.
	sub := e.newCase("appA")
	e.upload("appA", sub.ID, "walk.mp4", video(2000))
	e.json("appA", "POST", "/api/v1/cases/"+sub.ID+"/submit", nil, http.StatusOK, nil)
	e.json("insp", "POST", "/api/v1/cases/"+sub.ID+"/assign", nil, http.StatusOK, &sub)
	ls, token, err := e.db.CreateLiveSession(context.Background(), &sub, e.users["insp"], nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kinds, _, inv := e.inbox("appA")
	var joined struct {
		JoinLink string `json:"join_link"`
		Expires  string `json:"token_expires_at"`
	}
	json.Unmarshal(inv[0].Data, &joined)
	if kinds[0] != domain.NotifyLiveInvite || joined.JoinLink != domain.LiveJoinPath(ls.ID, token) || joined.Expires == "" {
		t.Fatalf("live invitation: got %s %+v, want %s with link %s", kinds[0], joined, domain.NotifyLiveInvite, domain.LiveJoinPath(ls.ID, token))
	}
	e.json("appA", "POST", "/api/v1/notifications/read", map[string]any{"all": true}, http.StatusOK, nil)

	var page inboxPage
	e.json("appA", "GET", "/api/v1/notifications?limit=2&before="+items[1].ID, nil, http.StatusOK, &page)
	if len(page.Items) != 2 || page.Items[0].ID != items[2].ID || page.Items[1].ID != items[3].ID {
		t.Fatalf("page after the second: got %d items, want the third and fourth", len(page.Items))
	}

	// Contact: validated, normalised, one's own.
	for _, bad := range []struct{ body, code string }{
		{`{"email":"not-an-address","phone":""}`, "contact_email_invalid"},
		{`{"email":"a@b.cn","phone":"12ab"}`, "contact_phone_invalid"},
	} {
		w := e.req("appA", "PUT", "/api/v1/me/contact", strings.NewReader(bad.body), map[string]string{"Content-Type": "application/json"})
		if w.Code != http.StatusBadRequest || errorCode(w.Body.Bytes()) != bad.code {
			t.Fatalf("PUT contact %s: got %d %s, want 400 %s", bad.body, w.Code, w.Body, bad.code)
		}
	}
	var ct domain.Contact
	e.json("appA", "PUT", "/api/v1/me/contact", map[string]any{"email": " zhang@acme.cn ", "phone": "+86 138-0013-8000", "notify_sms": false}, http.StatusOK, &ct)
	want2 := domain.Contact{Email: "zhang@acme.cn", Phone: "+8613800138000", NotifyEmail: true, NotifySMS: false}
	if ct != want2 {
		t.Fatalf("contact set: got %+v, want %+v", ct, want2)
	}
	e.json("appA", "GET", "/api/v1/me/contact", nil, http.StatusOK, &ct)
	if ct != want2 {
		t.Fatalf("contact read back: got %+v, want %+v", ct, want2)
	}
	e.json("appB", "GET", "/api/v1/me/contact", nil, http.StatusOK, &ct)
	if ct != (domain.Contact{NotifyEmail: true, NotifySMS: true}) {
		t.Fatalf("another user's contact: got %+v, want empty with both channels on", ct)
	}
}

// TestNotificationOwedEscalation: an overdue owed material reminds the
// applicant every day and, once, tells the office's supervisors and the
// case's inspector (clock injected).
func TestNotificationOwedEscalation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []struct{ name, org string }{{"head", "binhai"}, {"headOther", "elsewhere"}} {
		usr, err := e.db.CreateUser(ctx, u.name, "password-"+u.name, domain.RoleSupervisor, "", u.org)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := e.db.CreateSession(ctx, usr.ID, 24*time.Hour*365)
		if err != nil {
			t.Fatal(err)
		}
		e.users[u.name], e.tokens[u.name] = usr, tok
	}
	for _, u := range []string{"appA", "insp"} {
		tok, _, err := e.db.CreateSession(ctx, e.users[u].ID, 24*time.Hour*365)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[u] = tok
	}
	cs := e.decideWithOwed([]string{"营业执照"})
	later := time.Now().Add(70 * 24 * time.Hour)
	for day, want := range []int{1, 1} {
		at := later.Add(time.Duration(day) * 25 * time.Hour)
		e.db.SetClock(func() time.Time { return at })
		if n, err := e.db.RemindOverdueOwed(ctx, 24*time.Hour); err != nil || n != want {
			t.Fatalf("day %d reminders: got %d (%v), want %d", day, n, err, want)
		}
	}
	kinds, _, items := e.inbox("appA")
	if !slices.Equal(kinds[:2], []string{domain.NotifyOwedReminder, domain.NotifyOwedReminder}) || slices.Contains(kinds, domain.NotifyOwedEscalated) {
		t.Fatalf("applicant's inbox: got %v, want two reminders first and no escalation", kinds)
	}
	var d struct {
		CaseNumber  string  `json:"case_number"`
		Text        string  `json:"text"`
		DaysOverdue float64 `json:"days_overdue"`
	}
	json.Unmarshal(items[0].Data, &d)
	if d.CaseNumber != cs.Number || d.Text != "营业执照" || d.DaysOverdue < 5 {
		t.Fatalf("reminder data: got %+v, want case %s, 营业执照, ≥ 5 days overdue", d, cs.Number)
	}
	for user, want := range map[string][]string{
		"head": {domain.NotifyOwedEscalated}, "headOther": {},
		"insp": {domain.NotifyOwedEscalated, domain.NotifyCountersigned},
	} {
		if got, _, _ := e.inbox(user); !slices.Equal(got, want) {
			t.Fatalf("%s's inbox: got %v, want %v", user, got, want)
		}
	}

	// A dissatisfied rating: the office head hears of the follow-up, and
	// the applicant of its outcome.
	rated := later.Add(72 * time.Hour)
	e.db.SetClock(func() time.Time { return rated })
	var r domain.Rating
	e.json("appA", "POST", "/api/v1/cases/"+cs.ID+"/rating", map[string]any{"level": domain.LevelDissatisfied, "comment": "等了太久"}, http.StatusCreated, &r)
	if r.FollowUp == nil {
		t.Fatalf("rating %d: got no follow-up, want one", domain.LevelDissatisfied)
	}
	if got, _, _ := e.inbox("head"); !slices.Equal(got, []string{domain.NotifyFollowup, domain.NotifyOwedEscalated}) {
		t.Fatalf("head's inbox after the rating: got %v, want the follow-up first", got)
	}
	e.json("head", "POST", "/api/v1/followups/"+r.FollowUp.ID+"/close", map[string]any{"outcome": "已约谈承办人"}, http.StatusOK, nil)
	kinds, _, items = e.inbox("appA")
	var closed struct{ Outcome string }
	json.Unmarshal(items[0].Data, &closed)
	if kinds[0] != domain.NotifyFollowupClosed || closed.Outcome != "已约谈承办人" {
		t.Fatalf("applicant's newest after closing: got %s %+v, want %s with the outcome", kinds[0], closed, domain.NotifyFollowupClosed)
	}
}
