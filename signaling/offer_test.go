package signaling

import (
	"context"
	"errors"
	"testing"
)

// TestRefusedOfferLeavesNoSession: Publish refuses an offer with no audio
// or video section (ErrNoMedia, an ErrBadSDP) or with no codec we take
// (ErrNoCodec) before it makes the session, so none is left behind.
func TestRefusedOfferLeavesNoSession(t *testing.T) {
	m := mustManager(t)
	for _, tt := range []struct {
		name, offer string
		want        error
	}{
		{"no m= line", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", ErrNoMedia},
		{"a data channel only", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n", ErrNoMedia},
		{"AV1 video only", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 AV1/90000\r\n", ErrNoCodec},
	} {
		_, _, err := m.Publish(context.Background(), "refused", tt.offer)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if st, err := m.Status("refused"); !errors.Is(err, ErrNoSession) {
			t.Errorf("%s: got a session left behind (%+v, %v), want ErrNoSession", tt.name, st, err)
		}
	}
	if !errors.Is(ErrNoMedia, ErrBadSDP) {
		t.Errorf("ErrNoMedia is not an ErrBadSDP")
	}
}
