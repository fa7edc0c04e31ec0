package main

import (
	"net/http"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// TestLiveLinkReissueStopsPublisher: a reissued join link ("the link went
// to the wrong person; the old one is revoked") also stops the stream its
// holder is publishing. Before, the old token was refused from the next
// request on, but the publisher already connected went on streaming into
// the session's recording, the case's evidence.
func TestLiveLinkReissueStopsPublisher(t *testing.T) {
	media := testenv.MustRTCMedia(t)
	p := startServer(t, "--jobs", "0", "--webrtc-loopback")
	_, insp, caseID := liveCase(t, p)
	var a liveSession
	insp.mustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	pub := testenv.Publish(t, testenv.CodecVP8, whip(t, p.URL, a))
	defer pub.PC.Close()
	done := make(chan struct{})
	go func() { defer close(done); pub.Send(t, media, 8*time.Second) }()
	publishing := func() bool {
		var ls liveSession
		insp.mustJSON("GET", "/api/v1/live/"+a.ID, nil, http.StatusOK, &ls)
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
	insp.mustJSON("POST", "/api/v1/live/"+a.ID+"/link", nil, http.StatusOK, nil)
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
	media := testenv.MustRTCMedia(t)
	p := startServer(t, "--jobs", "0", "--webrtc-loopback")
	_, insp, caseID := liveCase(t, p)
	var a liveSession
	insp.mustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &a)
	pub := testenv.Publish(t, testenv.CodecVP8, whip(t, p.URL, a))
	defer pub.PC.Close()
	go pub.Send(t, media, 40*time.Second)
	time.Sleep(time.Second)
	viewer := testenv.View(t, whep(t, p.URL, a.ID, insp.token))
	defer viewer.PC.Close()
	phone := &client{tb: t, base: p.URL, token: a.PublishToken, http: http.DefaultClient}
	viewers := func() int {
		var ls struct {
			Viewers int `json:"viewers"`
		}
		phone.mustJSON("GET", "/api/v1/live/"+a.ID, nil, http.StatusOK, &ls)
		return ls.Viewers
	}
	if n := viewers(); n != 1 {
		t.Fatalf("viewers while the officer watches: got %d, want 1", n)
	}
	insp.mustJSON("POST", "/api/v1/auth/logout", nil, http.StatusNoContent, nil)
	for end := time.Now().Add(25 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if viewers() == 0 {
			return
		}
	}
	t.Errorf("the logged-out officer still watches the live inspection 25 s after the logout")
}
