package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestLiveLinkReissueStopsPublisher: a reissued join link ("the link went
// to the wrong person; the old one is revoked") also stops the stream its
// holder is publishing. Before, the old token was refused from the next
// request on, but the publisher already connected went on streaming into
// the session's recording, the case's evidence.
func TestLiveLinkReissueStopsPublisher(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback")
	_, insp, caseID := harness.LiveCase(t, p)
	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, a))
	defer pub.PC.Close()
	done := make(chan struct{})
	go func() { defer close(done); pub.Send(t, media, 8*time.Second) }()
	publishing := func() bool {
		var ls harness.LiveSession
		insp.MustJSON("GET", "/api/v1/live/"+a.ID, nil, http.StatusOK, &ls)
		return ls.Publishing
	}
	wait := func(want bool, within time.Duration) bool {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if publishing() == want {
				return true
			}
		}
		return false
	}
	if !wait(true, 5*time.Second) {
		t.Fatal("the publisher never showed as publishing")
	}
	insp.MustJSON("POST", "/api/v1/live/"+a.ID+"/link", nil, http.StatusOK, nil)
	if !wait(false, 3*time.Second) {
		t.Errorf("the old link's publisher still publishes after the link was reissued")
	}
	<-done
}

// TestLiveViewerEndsWithSession: an officer watching a live inspection
// (WHEP) who logs out stops receiving it within the recheck interval.
// Before, the officer's login was checked once, at the WHEP offer, and the
// video and sound of the company's premises went on flowing to a session
// that had ended (or a disabled account, or an officer an admin had
// replaced) for as long as the connection lasted.
func TestLiveViewerEndsWithSession(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback")
	insp, a := liveOnAir(t, p, 40*time.Second)
	viewer := testenv.View(t, harness.WHEP(t, p.URL, a.ID, insp.Token))
	defer viewer.PC.Close()
	phone := harness.WithToken(t, p.URL, a.PublishToken)
	viewers := func() int {
		var ls struct {
			Viewers int `json:"viewers"`
		}
		phone.MustJSON("GET", "/api/v1/live/"+a.ID, nil, http.StatusOK, &ls)
		return ls.Viewers
	}
	if n := viewers(); n != 1 {
		t.Fatalf("viewers while the officer watches: got %d, want 1", n)
	}
	insp.MustJSON("POST", "/api/v1/auth/logout", nil, http.StatusNoContent, nil)
	for end := time.Now().Add(25 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if viewers() == 0 {
			return
		}
	}
	t.Errorf("the logged-out officer still watches the live inspection 25 s after the logout")
}

// TestLiveViewersBounded: a live session takes --live-max-viewers viewers
// at once. Past that, a WHEP offer gets 429 live_viewers_full (with
// Retry-After) and makes no
// viewer; once a viewer leaves (its WHEP DELETE) the next offer is
// answered.
func TestLiveViewersBounded(t *testing.T) {
	p := harness.StartServer(t, "--jobs", "0", "--webrtc-loopback", "--live-max-viewers", "2")
	insp, a := liveOnAir(t, p, 20*time.Second)
	first := testenv.View(t, harness.WHEP(t, p.URL, a.ID, insp.Token))
	defer first.PC.Close()
	second := testenv.View(t, harness.WHEP(t, p.URL, a.ID, insp.Token))
	defer second.PC.Close()

	pc, err := testenv.BareAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer := testenv.Offer(t, pc)
	resp, body := harness.SDPPost(t, "POST", p.URL+"/api/v1/live/"+a.ID+"/whep", insp.Token, "application/sdp", offer)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || resp.StatusCode != http.StatusTooManyRequests || e.Error.Code != "live_viewers_full" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third viewer under --live-max-viewers 2: got %d %s (Retry-After %q), want 429 live_viewers_full with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, body := harness.SDPPost(t, "DELETE", p.URL+first.Resource, insp.Token, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("WHEP DELETE: got %d %s", resp.StatusCode, body)
	}
	third := testenv.View(t, harness.WHEP(t, p.URL, a.ID, insp.Token))
	defer third.PC.Close()
	harness.WaitFor(t, 10*time.Second, "video to the viewer answered after another left", func() bool { return third.VideoPackets.Load() > 0 })
}

// liveOnAir opens a live session on a case of p's inspector and has a
// pion phone publish the test media into it for up to d; it returns the
// inspector and the session. The phone hangs up when the test ends.
func liveOnAir(t *testing.T, p *harness.Proc, d time.Duration) (*harness.Client, harness.LiveSession) {
	t.Helper()
	media := testenv.MustRTCMedia(t)
	_, insp, caseID := harness.LiveCase(t, p)
	var a harness.LiveSession
	insp.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	pub := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, p.URL, a))
	t.Cleanup(func() { pub.PC.Close() })
	go pub.Send(t, media, d)
	time.Sleep(time.Second)
	return insp, a
}
