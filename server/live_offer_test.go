package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
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

// openLiveSession opens a live session, by the inspector, on a case of its
// own in review, and returns it with its publish token.
func openLiveSession(m *matrix) (*domain.LiveSession, string) {
	ls, token, err := m.db.CreateLiveSession(context.Background(), m.build(domain.StatusInReview).cs, m.users["insp"], nil, time.Hour)
	m.must(err)
	return ls, token
}

// takeOffers sends n offers that are not SDP from who to path and fails
// unless each is answered want: taken by the rate limit and refused after.
func takeOffers(t *testing.T, m *matrix, who, path string, n, want int) {
	t.Helper()
	for i := range n {
		if status, code, w := m.send(who, "POST", path, []byte("v=0\r\n"), map[string]string{"Content-Type": "application/sdp"}); status != want {
			t.Fatalf("%s offer %d of %d: got %d %s %s, want %d", path, i+1, n, status, code, w.Body, want)
		}
	}
}

// mustRateLimit sends one more offer from who to path and fails unless it
// is answered 429 rate_limited with a Retry-After of a second or more.
func mustRateLimit(t *testing.T, m *matrix, who, path string) {
	t.Helper()
	status, code, w := m.send(who, "POST", path, []byte("v=0\r\n"), map[string]string{"Content-Type": "application/sdp"})
	if retry, _ := strconv.Atoi(w.Header().Get("Retry-After")); status != http.StatusTooManyRequests || code != "rate_limited" || retry < 1 {
		t.Fatalf("%s past the burst: got %d %s, Retry-After %q, want 429 rate_limited with Retry-After ≥ 1", path, status, code, w.Header().Get("Retry-After"))
	}
}

// TestLiveOffersRateLimited: a session takes offerBurst WHIP offers at
// once, then answers 429 rate_limited with a Retry-After of a second or
// more, whatever the offer holds; another session's offers are counted
// apart, and a wrong token spends none of a session's.
func TestLiveOffersRateLimited(t *testing.T) {
	m := newMatrix(t)
	a, tokenA := openLiveSession(m)
	b, tokenB := openLiveSession(m)

	// 400: the offer is not SDP.
	takeOffers(t, m, "token:"+tokenA, "/api/v1/live/"+a.ID+"/whip", offerBurst, http.StatusBadRequest)
	mustRateLimit(t, m, "token:"+tokenA, "/api/v1/live/"+a.ID+"/whip")

	// Session b: refused tokens spend nothing; its own offers count apart.
	takeOffers(t, m, "token:wrong", "/api/v1/live/"+b.ID+"/whip", 2*offerBurst, http.StatusUnauthorized)
	takeOffers(t, m, "token:"+tokenB, "/api/v1/live/"+b.ID+"/whip", 1, http.StatusBadRequest)
}

// TestLiveViewerOffersRateLimited: one officer's WHEP offers to a session
// are taken viewerOfferBurst at once, then answered 429 rate_limited with
// a Retry-After of a second or more, whatever the offer holds; the same
// officer's offers to another session count apart.
func TestLiveViewerOffersRateLimited(t *testing.T) {
	m := newMatrix(t)
	a, _ := openLiveSession(m)
	b, _ := openLiveSession(m)

	// 409 no_publisher: nobody publishes to either session.
	takeOffers(t, m, "insp", "/api/v1/live/"+a.ID+"/whep", viewerOfferBurst, http.StatusConflict)
	mustRateLimit(t, m, "insp", "/api/v1/live/"+a.ID+"/whep")
	takeOffers(t, m, "insp", "/api/v1/live/"+b.ID+"/whep", 1, http.StatusConflict)
}
