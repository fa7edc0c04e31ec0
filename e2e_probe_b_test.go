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
