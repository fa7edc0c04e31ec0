package signaling

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// TestIngestBound: a publisher sending past Config.MaxIngestKbps has the
// packets past the bound dropped before the viewers and the recorder.
// Over 4.5 s of a 190 kbps clip under a bound of 40 kbps (with 2 s of it
// to spare), sent by a publisher and one that reconnects after it, a
// viewer reads no more payload than the bound lets through from the
// first publisher's start, and still reads some.
func TestIngestBound(t *testing.T) {
	const kbps, id = 40, "flood"
	m := mustManagerWith(t, Config{MaxIngestKbps: kbps})
	start := time.Now()
	pub := mustPublish(t, m, id, codecVP8)
	defer pub.pc.Close()
	var got atomic.Int64
	mustViewVia(t, m, id, clientAPI(t, codecVP8), func(_ webrtc.RTPCodecType, p *rtp.Packet) {
		got.Add(int64(len(p.Payload)))
	})
	frames := mustFrames(t, codecVP8)
	sent := 0
	send := func(p *testPublisher, d time.Duration) {
		i := 0
		pace(time.Second/30, d, func() bool {
			f := frames[i%len(frames)]
			_ = p.video.WriteSample(media.Sample{Data: f, Duration: time.Second / 30})
			sent += len(f)
			i++
			return true
		})
	}
	send(pub, 2*time.Second)
	// The phone reconnects (a new WHIP resource): the budget is the
	// session's, so the new connection brings no burst of its own.
	again := mustPublish(t, m, id, codecVP8)
	defer again.pc.Close()
	waitConnected(t, again.connected, "the publisher reconnecting")
	send(again, 2500*time.Millisecond)
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond) // what is still on its way
	allowed := int64(float64(kbps*1000/8) * (elapsed + ingestBurst).Seconds())
	if int64(sent) <= allowed {
		t.Fatalf("the publisher sent %d bytes, want more than the %d the bound allows, or the test shows nothing", sent, allowed)
	}
	t.Logf("sent %d bytes in %v; the viewer read %d; the bound allows %d", sent, elapsed.Round(time.Millisecond), got.Load(), allowed)
	if n := got.Load(); n > allowed || n == 0 {
		t.Fatalf("viewer read %d bytes of payload of the %d sent in %v, want some and at most the %d a bound of %d kbps lets through",
			n, sent, elapsed.Round(time.Millisecond), allowed, kbps)
	}
	// The inspector is told, in the publisher's quality.
	st, err := m.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Publisher == nil || st.Publisher.DroppedPackets == 0 {
		t.Fatalf("publisher's quality: got %+v, want the packets dropped counted", st.Publisher)
	}
}
