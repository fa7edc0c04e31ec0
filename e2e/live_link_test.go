package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestLiveLinkReissue: the inspector issues a fresh join link for an open
// session; the old token is refused from then on (the phone's page and
// WHIP), the new one works, the change is audited, and an ended session
// gets no new link.
func TestLiveLinkReissue(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback")
	app, insp, caseID := harness.LiveCase(t, p)
	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	asPhone := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", p.URL+"/api/v1/live/"+a.ID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := asPhone(a.PublishToken); got != http.StatusOK {
		t.Fatalf("the first link before reissue: got %d, want 200", got)
	}
	app.MustJSON("POST", "/api/v1/live/"+a.ID+"/link", nil, http.StatusForbidden, nil)
	var b harness.LiveSession
	insp.MustJSON("POST", "/api/v1/live/"+a.ID+"/link", nil, http.StatusOK, &b)
	if b.PublishToken == "" || b.PublishToken == a.PublishToken || b.JoinURL != "/#/join/"+a.ID+"?token="+b.PublishToken {
		t.Fatalf("reissued: got token %q join %q, want a new token in the join link (old %q)", b.PublishToken, b.JoinURL, a.PublishToken)
	}
	if got := asPhone(a.PublishToken); got != http.StatusUnauthorized {
		t.Errorf("the old link after reissue: got %d, want 401", got)
	}
	if got := asPhone(b.PublishToken); got != http.StatusOK {
		t.Errorf("the new link: got %d, want 200", got)
	}
	if resp, body := harness.SDPPost(t, "POST", p.URL+a.PublishURL, a.PublishToken, "application/sdp", "v=0\r\n"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WHIP with the old token: got %d %s, want 401", resp.StatusCode, body)
	}
	var me domain.User
	insp.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)
	var events []domain.AuditEvent
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &events)
	reissued := 0
	for _, e := range events {
		if e.Action == "live.link_reissued" && e.Target == a.ID {
			var d map[string]any
			json.Unmarshal(e.Data, &d)
			if d["old_link_revoked"] != true || e.ActorID != me.ID || me.ID == "" {
				t.Errorf("audit event: got %+v data %v, want the inspector revoking the old link", e, d)
			}
			reissued++
		}
	}
	if reissued != 1 {
		t.Errorf("live.link_reissued events: got %d, want 1", reissued)
	}
	insp.MustJSON("POST", "/api/v1/live/"+a.ID+"/end", nil, http.StatusOK, nil)
	insp.MustJSON("POST", "/api/v1/live/"+a.ID+"/link", nil, http.StatusUnprocessableEntity, nil)
}

// TestBrowserLiveLinkAgain: the inspector's case page (desktop) keeps the
// join link of an open session after a reload, and issues a fresh one
// after a confirmation; the old link is then refused.
func TestBrowserLiveLinkAgain(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback")
	_, insp, caseID := harness.LiveCase(t, p)
	b := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	b.mustDo(t, "open the case", chromedp.Navigate(p.URL+"/#/cases/"+caseID))
	mustPoll[bool](t, b, "the start button", clickJS, "#live-start")
	first := mustPoll[string](t, b, "the join link", `() => document.getElementById('live-join-url')?.value || null`)
	b.mustDo(t, "reload the page", chromedp.Reload())
	again := mustPoll[string](t, b, "the join link after a reload", `() => document.getElementById('live-join-url')?.value || null`)
	if again != first {
		t.Fatalf("join link after a reload: got %q, want %q", again, first)
	}
	mustPoll[bool](t, b, "the reissue button", clickJS, "#live-link-reissue")
	mustPoll[bool](t, b, "the reissue confirmation", clickJS, "#live-link-reissue-confirm")
	fresh := mustPoll[string](t, b, "a new join link",
		`(old) => { const v = document.getElementById('live-join-url')?.value; return v && v !== old ? v : null; }`, first)
	b.mustScreenshot(t, "live-link-reissued.png")
	u, err := url.Parse(fresh)
	if err != nil {
		t.Fatal(err)
	}
	tokenOf := func(link string) string {
		_, q, _ := strings.Cut(link, "?token=")
		return q
	}
	var sessions struct {
		Sessions []harness.LiveSession `json:"sessions"`
	}
	insp.MustJSON("GET", "/api/v1/cases/"+caseID+"/live", nil, http.StatusOK, &sessions)
	if len(sessions.Sessions) != 1 || !strings.HasPrefix(u.Fragment, "/join/"+sessions.Sessions[0].ID) {
		t.Fatalf("sessions %+v, new link %q: want one open session the link names", sessions.Sessions, fresh)
	}
	for _, c := range []struct {
		link string
		want int
	}{{first, http.StatusUnauthorized}, {fresh, http.StatusOK}} {
		req, _ := http.NewRequest("GET", p.URL+"/api/v1/live/"+sessions.Sessions[0].ID, nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf(c.link))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("the phone's page with %s: got %d, want %d", c.link, resp.StatusCode, c.want)
		}
	}
}

// TestBrowserLiveViewersFull: an officer who opens the live page while the
// session has --live-max-viewers viewers reads why the picture waits (in
// Chinese, live_viewers_full's sentence), the page keeps trying, and once
// a place is free it shows the site and the sentence goes.
func TestBrowserLiveViewersFull(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback", "--live-max-viewers", "1")
	insp, a := liveOnAir(t, p, 90*time.Second)
	other := testenv.View(t, harness.WHEP(t, p.URL, a.ID, insp.Token))
	defer other.PC.Close()

	b := mustNamedBrowser(t, "inspector", deskWidth, deskHeight, browserBudget)
	b.mustLogin(t, p.URL, "inspector", p.Demo["inspector"])
	b.mustDo(t, "open the live page", chromedp.Navigate(p.URL+"/#/live/"+a.ID))
	const full = "本次在线踏勘的观看连接已满，请关闭其他观看页面后重试。"
	mustPoll[bool](t, b, "the full session's sentence", `(want) => document.getElementById('live-msg')?.textContent.includes(want)`, full)
	b.mustScreenshot(t, "live-viewers-full.png")
	if resp, body := harness.SDPPost(t, "DELETE", p.URL+other.Resource, insp.Token, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("WHEP DELETE: got %d %s", resp.StatusCode, body)
	}
	mustPoll[bool](t, b, "the picture once a place is free, without the sentence",
		`() => document.getElementById('live-page')?.dataset.state === 'live' && document.getElementById('live-video')?.videoWidth > 0 && !document.getElementById('live-msg').textContent`)
}
