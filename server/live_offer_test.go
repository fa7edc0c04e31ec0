package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/signaling"
)

// pionOffer is a real offer from a pion peer with the given transceivers
// (sendonly for a publisher, recvonly for a viewer), or with only a data
// channel when kinds is empty.
func pionOffer(t *testing.T, dir webrtc.RTPTransceiverDirection, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	pc, err := testenv.ClientAPI(t, testenv.CodecVP8).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, kind := range kinds {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if len(kinds) == 0 {
		if _, err := pc.CreateDataChannel("chat", nil); err != nil {
			t.Fatal(err)
		}
	}
	return testenv.Offer(t, pc)
}

// TestOfferWithoutMediaRefused: a WHIP or WHEP offer with no audio or
// video section (no m= line, or a data channel only) is refused with 400
// offer_no_media, and nothing is made for it: no media session for a
// publish, no viewer for a watch, no start or live.published recorded.
func TestOfferWithoutMediaRefused(t *testing.T) {
	m := newMatrix(t)
	ctx := context.Background()
	f := m.build(domain.StatusInReview)
	ls, token, err := m.db.CreateLiveSession(ctx, f.cs, m.users["insp"], nil, time.Hour)
	m.must(err)
	mgr := m.s.live.mgr
	sdpHeader := map[string]string{"Content-Type": "application/sdp"}
	noLines := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	dataOnly := pionOffer(t, webrtc.RTPTransceiverDirectionSendonly)

	whip := "/api/v1/live/" + ls.ID + "/whip"
	for _, tt := range []struct{ name, offer string }{{"no m= line", noLines}, {"a data channel only", dataOnly}} {
		status, code, w := m.send("token:"+token, "POST", whip, []byte(tt.offer), sdpHeader)
		if status != http.StatusBadRequest || code != "offer_no_media" {
			t.Errorf("WHIP with %s: got %d %s %s, want 400 offer_no_media", tt.name, status, code, w.Body)
		}
		if st, err := mgr.Status(ls.ID); !errors.Is(err, signaling.ErrNoSession) {
			t.Errorf("WHIP with %s: got a media session left behind (%+v, %v), want none", tt.name, st, err)
		}
		got, err := m.db.LiveSession(ctx, ls.ID)
		m.must(err)
		if got.StartedAt != nil || m.audited(ls.CaseID, "live.published") != 0 {
			t.Errorf("WHIP with %s: got the session recorded as published, want not", tt.name)
		}
	}

	// A real publisher, then viewer offers without media.
	pub := pionOffer(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	if status, code, w := m.send("token:"+token, "POST", whip, []byte(pub), sdpHeader); status != http.StatusCreated {
		t.Fatalf("WHIP with video and audio: got %d %s %s, want 201", status, code, w.Body)
	}
	whep := "/api/v1/live/" + ls.ID + "/whep"
	for _, tt := range []struct{ name, offer string }{{"no m= line", noLines}, {"a data channel only", pionOffer(t, webrtc.RTPTransceiverDirectionRecvonly)}} {
		status, code, w := m.send("insp", "POST", whep, []byte(tt.offer), sdpHeader)
		if status != http.StatusBadRequest || code != "offer_no_media" {
			t.Errorf("WHEP with %s: got %d %s %s, want 400 offer_no_media", tt.name, status, code, w.Body)
		}
		st, err := mgr.Status(ls.ID)
		m.must(err)
		if st.Viewers != 0 {
			t.Errorf("WHEP with %s: got %d viewers, want 0", tt.name, st.Viewers)
		}
	}
}
