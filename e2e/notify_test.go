package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/smtptest"
	"siteinspect/internal/testenv"
	"siteinspect/notify"
)

// smsGateway is an office's SMS webhook as a test sees it: it checks each
// request's signature, refuses the first with 503 (a provider hiccup) and
// records the rest.
type smsGateway struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	calls  int
	got    []notify.SMSRequest
	badSig int
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if r.Header.Get(notify.SignatureHeader) != notify.Sign([]byte(g.secret), body) {
		g.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if g.calls == 1 {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var req notify.SMSRequest
	if err := json.Unmarshal(body, &req); err != nil {
		g.t.Errorf("SMS body %s: %v", body, err)
	}
	g.got = append(g.got, req)
}

func (g *smsGateway) requests() []notify.SMSRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.got)
}

// TestNotificationDelivery is the whole service sending notifications to
// a real SMTP server process and an SMS webhook: with the mail server down
// when the applicant submits, the receipt arrives once it is back, once;
// claim, decision and countersign each send one e-mail (subject and body
// in Chinese and English, with the case number and its link) and one SMS
// whose body carries a valid HMAC-SHA256 signature; the first SMS attempt
// meets a 503 and is retried.
func TestNotificationDelivery(t *testing.T) {
	smtp := smtptest.Start(t, "mailer", "mail-password")
	smtp.Stop() // the office's mail server is down
	gw := &smsGateway{t: t, secret: "sms-shared-secret"}
	hook := httptest.NewServer(gw)
	t.Cleanup(hook.Close)
	p := harness.StartServer(t, "--jobs", "1", "--timezone", "Asia/Shanghai", "--public-url", "https://permits.example.gov",
		"--smtp-addr", smtp.Addr, "--smtp-from", "noreply@permits.example.gov", "--smtp-user", "mailer", "--smtp-password", "mail-password",
		"--sms-webhook", hook.URL+"/sms", "--sms-webhook-secret", gw.secret, "--notify-retry", "200ms")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	ins := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	app.MustJSON("PUT", "/api/v1/me/contact", map[string]any{"email": "wang.fang@harbour.example", "phone": "+86 138 0013 8000"}, http.StatusOK, nil)

	cs := app.NewCase()
	clip := testenv.MakeMP4(t, t.TempDir(), 1, "160x120")
	app.MustUploadFile(cs.ID, clip)
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs)
	// Down: the receipt waits in the queue (the SMS goes on its own).
	deadline := time.Now().Add(30 * time.Second)
	for len(gw.requests()) < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := smtp.Messages(); len(got) != 0 {
		t.Fatalf("mail server down: got %d messages, want 0", len(got))
	}
	if err := smtp.Start(); err != nil {
		t.Fatal(err)
	}
	if got := smtp.WaitMessages(1, 30*time.Second); len(got) != 1 || !strings.Contains(got[0].Subject, cs.Number) || !strings.Contains(got[0].Subject, "已提交") {
		t.Fatalf("after the outage: got %d messages %v, want the receipt of %s", len(got), subjects(got), cs.Number)
	}

	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, nil)
	rev.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]any{}, http.StatusOK, nil)
	var types []domain.PermitType
	app.MustJSON("GET", "/api/v1/permit-types", nil, http.StatusOK, &types)
	for _, pt := range types {
		if pt.Code == cs.PermitType {
			for _, item := range pt.Checklist {
				ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/findings", map[string]any{"checklist_item": item.ID, "result": "pass"}, http.StatusCreated, nil)
			}
		}
	}
	ins.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/decision", map[string]any{"outcome": "approve", "summary": "现场符合要求"}, http.StatusOK, nil)
	rev.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/countersign", map[string]any{"agree": true}, http.StatusOK, nil)

	mails := smtp.WaitMessages(4, 30*time.Second)
	wantSubjects := []string{"已提交", "已受理审查", "检查结论已作出", "已办结：准予许可"}
	if len(mails) != 4 {
		t.Fatalf("e-mails: got %d %v, want 4 (%v)", len(mails), subjects(mails), wantSubjects)
	}
	ids := map[string]bool{}
	for i, m := range mails {
		if !strings.Contains(m.Subject, wantSubjects[i]) || !strings.Contains(m.Subject, cs.Number) {
			t.Errorf("e-mail %d subject: got %q, want %q and %s", i, m.Subject, wantSubjects[i], cs.Number)
		}
		if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "wang.fang@harbour.example" || m.EnvelopeFrom != "noreply@permits.example.gov" {
			t.Errorf("e-mail %d envelope: got from %q to %v, want noreply@permits.example.gov → wang.fang@harbour.example", i, m.EnvelopeFrom, m.EnvelopeTo)
		}
		ids[m.Header.Get("Message-Id")] = true
	}
	if len(ids) != 4 {
		t.Errorf("Message-IDs: got %d distinct, want 4", len(ids))
	}
	decided := mails[3]
	for _, want := range []string{"王芳 Wang Fang，您好", "案件 " + cs.Number, "已复核办结：准予许可", "Dear 王芳 Wang Fang",
		"Case " + cs.Number, "is decided after countersign: approved", "https://permits.example.gov/#/cases/" + cs.ID} {
		if !strings.Contains(decided.Body, want) {
			t.Errorf("decision e-mail body: got\n%s\nwant it to contain %q", decided.Body, want)
		}
	}
	if !strings.Contains(decided.Subject, "Case "+cs.Number+": case approved") {
		t.Errorf("decision e-mail subject: got %q, want the English half too", decided.Subject)
	}

	// SMS: one per notification, signed; the first answered 503 and retried.
	deadline = time.Now().Add(30 * time.Second)
	for len(gw.requests()) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	sms := gw.requests()
	seen := map[string]bool{}
	for _, r := range sms {
		if r.To != "+8613800138000" || !strings.Contains(r.Text, cs.Number) || r.NotificationID == "" || seen[r.NotificationID] {
			t.Errorf("SMS: got %+v, want to +8613800138000 about %s, each notification once", r, cs.Number)
		}
		seen[r.NotificationID] = true
	}
	gw.mu.Lock()
	calls, bad := gw.calls, gw.badSig
	gw.mu.Unlock()
	if len(sms) != 4 || calls != 5 || bad != 0 {
		t.Fatalf("SMS gateway: got %d delivered in %d calls (%d badly signed), want 4 in 5 (one 503 retried), 0", len(sms), calls, bad)
	}
	if !strings.Contains(sms[3].Text, "已复核办结：准予许可") || !strings.Contains(sms[3].Text, "approved") {
		t.Errorf("decision SMS: got %q, want both languages", sms[3].Text)
	}

	// The inbox holds the same four.
	var inbox struct {
		Items  []domain.Notification `json:"items"`
		Unread int                   `json:"unread"`
	}
	app.MustJSON("GET", "/api/v1/notifications", nil, http.StatusOK, &inbox)
	if len(inbox.Items) != 4 || inbox.Unread != 4 || !slices.Contains(seen2(inbox.Items), sms[0].NotificationID) {
		t.Fatalf("inbox: got %d items, %d unread, want 4 and 4 including the SMS's notification", len(inbox.Items), inbox.Unread)
	}
	// Nothing is sent twice: a moment later the counts have not grown.
	time.Sleep(time.Second)
	if n, s := len(smtp.Messages()), len(gw.requests()); n != 4 || s != 4 {
		t.Fatalf("a second later: got %d e-mails and %d SMS, want 4 and 4", n, s)
	}
}

func subjects(ms []smtptest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

func seen2(ns []domain.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// TestLiveInvitationSealed is a live invitation through the whole service
// on its embedded default (SQLite, local directory): the applicant's
// e-mail carries the join link, whose token opens the session; the inbox
// shows the same link; and the server's database holds the token nowhere
// in the clear, the link only sealed under the key in the object store
// (docs/SECURITY.md, "Join links at rest").
func TestLiveInvitationSealed(t *testing.T) {
	smtp := smtptest.Start(t, "mailer", "mail-password")
	data := t.TempDir()
	p := harness.StartServer(t, "--data", data, "--jobs", "1", "--public-url", "https://permits.example.gov",
		"--smtp-addr", smtp.Addr, "--smtp-from", "noreply@permits.example.gov", "--smtp-user", "mailer", "--smtp-password", "mail-password")
	app, insp, caseID := harness.LiveCase(t, p)
	app.MustJSON("PUT", "/api/v1/me/contact", map[string]any{"email": "wang.fang@harbour.example"}, http.StatusOK, nil)
	var ls harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	if ls.PublishToken == "" || !strings.Contains(ls.JoinURL, ls.PublishToken) {
		t.Fatalf("live session: got %+v, want a token and a join link with it", ls)
	}

	link := "https://permits.example.gov" + ls.JoinURL
	msgs := smtp.WaitMessages(1, 30*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "远程视频检查邀请") || !strings.Contains(msgs[0].Body, link) {
		t.Fatalf("e-mail: got %d messages %v, want the invitation with %s", len(msgs), subjects(msgs), link)
	}
	req, _ := http.NewRequest("GET", p.URL+"/api/v1/live/"+ls.ID, nil)
	req.Header.Set("Authorization", "Bearer "+ls.PublishToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the e-mail's token: GET the session got %d, want 200", resp.StatusCode)
	}
	var inbox struct {
		Items []struct {
			Kind string `json:"kind"`
			Data struct {
				JoinLink string `json:"join_link"`
			} `json:"data"`
		} `json:"items"`
	}
	app.MustJSON("GET", "/api/v1/notifications", nil, http.StatusOK, &inbox)
	if len(inbox.Items) == 0 || inbox.Items[0].Kind != domain.NotifyLiveInvite || inbox.Items[0].Data.JoinLink != ls.JoinURL {
		t.Fatalf("inbox: got %+v, want the invitation first with %s", inbox.Items, ls.JoinURL)
	}

	db := testenv.OpenDBAt(t, filepath.Join(data, "siteinspect.db"))
	rows, err := db.SQL().Query(`SELECT kind, data FROM notifications`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sealed := 0
	for rows.Next() {
		var kind, data string
		if err := rows.Scan(&kind, &data); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(data, ls.PublishToken) {
			t.Errorf("a %s notification holds the publish token in the clear: %s", kind, data)
		}
		if kind == domain.NotifyLiveInvite && strings.Contains(data, `"join_link_sealed"`) {
			sealed++
		}
	}
	if sealed != 1 {
		t.Errorf("sealed invitations in the database: got %d, want 1", sealed)
	}
	if key, err := os.ReadFile(filepath.Join(data, "objects", "system", "notify-key")); err != nil || len(key) != 32 {
		t.Errorf("the key in the object store: %d bytes, %v; want 32", len(key), err)
	}
}
