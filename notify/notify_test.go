package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
)

// TestRender: every kind is worded in both languages, names the case, and
// writes times in the office's zone whatever the server's.
func TestRender(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"case_number": "BH-2026-000042", "site_name": "港湾酒店", "due_at": "2027-02-02T15:59:00Z",
		"outcome": "approve", "to": "approved", "comment": "请补充消防记录", "text": "营业执照", "days_overdue": 3,
		"join_link": "/#/join/live_x?token=t0k", "token_expires_at": "2027-02-02T15:59:00Z"}
	b, _ := json.Marshal(data)
	kinds := []string{domain.NotifySubmitted, domain.NotifyClaimed, domain.NotifySupplement, domain.NotifyDecided, domain.NotifyCountersigned,
		domain.NotifyReturned, domain.NotifyWithdrawn, domain.NotifyLiveInvite, domain.NotifyOwedReminder, domain.NotifyOwedEscalated,
		domain.NotifyFollowup, domain.NotifyFollowupClosed}
	seen := map[string]string{}
	for _, kind := range kinds {
		d := &domain.Delivery{Notification: domain.Notification{ID: "n1", CaseID: "c1", Kind: kind, Data: b}, Recipient: "王芳"}
		m := Render(d, shanghai, "https://permits.example.gov/")
		if !strings.Contains(m.Subject, "BH-2026-000042") || !strings.Contains(m.Subject, " / Case BH-2026-000042: ") {
			t.Errorf("%s subject: got %q, want the number in both halves", kind, m.Subject)
		}
		if !strings.Contains(m.Body, "王芳，您好") || !strings.Contains(m.Body, "Dear 王芳") || !strings.Contains(m.Body, "https://permits.example.gov/#/cases/c1") {
			t.Errorf("%s body: got\n%s\nwant both greetings and the case link", kind, m.Body)
		}
		if other, dup := seen[m.SMS]; dup {
			t.Errorf("%s and %s read the same: %q", kind, other, m.SMS)
		}
		seen[m.SMS] = kind
	}
	due := Render(&domain.Delivery{Notification: domain.Notification{Kind: domain.NotifyOwedReminder, Data: b}}, shanghai, "")
	if !strings.Contains(due.SMS, "2027-02-02 23:59 (UTC+08:00)") || !strings.Contains(due.SMS, "3 天") || !strings.Contains(due.SMS, "3 days overdue") {
		t.Errorf("reminder: got %q, want the due date in Shanghai time and 3 days", due.SMS)
	}
	live := Render(&domain.Delivery{Notification: domain.Notification{Kind: domain.NotifyLiveInvite, Data: b}}, shanghai, "https://permits.example.gov")
	if !strings.Contains(live.SMS, "https://permits.example.gov/#/join/live_x?token=t0k") {
		t.Errorf("live invitation: got %q, want the absolute join link", live.SMS)
	}
}

// TestWebhook: the body is signed over its exact bytes; 2xx succeeds, 5xx
// and 429 may pass, other answers are permanent.
func TestWebhook(t *testing.T) {
	var status int
	var gotBody []byte
	var gotSig, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotSig, gotKey = r.Header.Get(SignatureHeader), r.Header.Get("Idempotency-Key")
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w, err := NewWebhook(srv.URL, "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	req := SMSRequest{To: "+8613800138000", Text: "案件 BH-1 已提交。", NotificationID: "n42"}
	for _, c := range []struct {
		status          int
		wantErr, wantPm bool
	}{{200, false, false}, {204, false, false}, {503, true, false}, {429, true, false}, {400, true, true}, {401, true, true}} {
		status = c.status
		err := w.Send(context.Background(), req)
		if (err != nil) != c.wantErr || IsPermanent(err) != c.wantPm {
			t.Errorf("answer %d: got err %v (permanent %v), want error %v permanent %v", c.status, err, IsPermanent(err), c.wantErr, c.wantPm)
		}
	}
	var back SMSRequest
	if err := json.Unmarshal(gotBody, &back); err != nil || back != req {
		t.Fatalf("body: got %s (%v), want %+v", gotBody, err, req)
	}
	if want := Sign([]byte("s3cret"), gotBody); gotSig != want || !strings.HasPrefix(gotSig, "sha256=") || len(gotSig) != 7+64 {
		t.Fatalf("signature: got %q, want %q", gotSig, want)
	}
	if gotKey != "n42" {
		t.Fatalf("Idempotency-Key: got %q, want n42", gotKey)
	}
	if _, err := NewWebhook("ftp://x", "", nil); err == nil {
		t.Fatal("NewWebhook(ftp://x): got no error, want one")
	}
}

// TestMailerRefusesSMTPDown: a mail server that does not answer is a
// passing failure (retried), never a permanent one.
func TestMailerRefusesSMTPDown(t *testing.T) {
	m, err := NewMailer(MailConfig{Addr: "127.0.0.1:1", From: "noreply@permits.example.gov", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), "a@b.example", "s", "b", "id@x")
	if err == nil || IsPermanent(err) {
		t.Fatalf("send to a closed port: got %v (permanent %v), want a passing error", err, IsPermanent(err))
	}
	if _, err := NewMailer(MailConfig{Addr: "smtp.example.gov", From: "noreply@x"}); err == nil {
		t.Fatal("NewMailer without a port: got no error, want one")
	}
}
