package signaling

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// dropTenth is a viewer's interceptor, nearest the network, that loses
// every video packet whose sequence number is a multiple of 10 (its
// resends too), as a lossy link would before anything counts it.
type dropTenth struct{ interceptor.NoOp }

type dropTenthFactory struct{}

func (dropTenthFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropTenth{}, nil
}

func (*dropTenth) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || n < 4 || binary.BigEndian.Uint16(b[2:4])%10 != 0 {
				return n, attr, err
			}
		}
	})
}

// TestViewerQualityFromReceiverReports: a viewer's quality in Status comes
// from what we send it and from its receiver reports (RFC 3550 §6.4.1):
// a viewer losing a tenth of the video reports a fraction lost that
// Status passes on (0.07–0.10 in runs here; each report covers only the
// packets since the last one), with its jitter and a round-trip time.
func TestViewerQualityFromReceiverReports(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	pub := mustPublish(t, m, "q", codecVP8)
	defer pub.pc.Close()

	api := testenv.ClientAPIWith(t, codecVP8, nil, dropTenthFactory{})
	_, id := mustViewVia(t, m, "q", api, func(webrtc.RTPCodecType, *rtp.Packet) {})
	defer publishFor(t, pub, 6*time.Second)()
	var q PeerQuality
	ok := waitFor(10*time.Second, func() bool {
		st, err := m.Status("q")
		if err != nil {
			return false
		}
		q = st.ViewerQuality[id]
		return q.BitrateKbps >= 100 && q.PacketLoss >= 0.03 && q.PacketLoss <= 0.25 && q.RTTMS > 0 && q.JitterMS > 0
	})
	t.Logf("viewer quality %+v", q)
	if !ok {
		t.Errorf("got viewer quality %+v, want bitrate over 100 kbps, loss near 0.1 from its receiver reports, a jitter and a round trip", q)
	}
}
