package signaling

import (
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// TestUDPMux runs a live session on one UDP port (--webrtc-udp-port, as
// deploy/ does): the publisher and two viewers connect to that port, the
// viewers get video and audio through it, the recording
// decodes, and Close frees the port.
func TestUDPMux(t *testing.T) {
	port := testenv.FreeUDPPort(t)
	m := mustManagerWith(t, Config{UDPMuxPort: port})
	mustMedia(t)
	udp4 := func(se *webrtc.SettingEngine) { se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4}) }
	pub := mustPublishWith(t, m, "mux", publishOptions{video: codecVP8, setting: udp4})
	defer pub.pc.Close()
	views := []*testViewer{mustView(t, m, "mux"), mustView(t, m, "mux")}
	for _, v := range views {
		defer v.pc.Close()
	}
	waitConnected(t, pub.connected, "publisher")
	for _, v := range views {
		waitConnected(t, v.connected, "viewer")
	}
	published := publishFiles(t, pub, codecVP8, 3*time.Second)
	for i, pc := range []*webrtc.PeerConnection{pub.pc, views[0].pc, views[1].pc} {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("peer %d: selected pair %v, %v", i, pair, err)
		}
		if pair.Remote.Protocol != webrtc.ICEProtocolUDP || pair.Remote.Port != uint16(port) {
			t.Errorf("peer %d: got selected pair %s, want UDP to port %d", i, pair, port)
		}
	}
	for i, v := range views {
		if v.video.Load() < 50 || v.audio.Load() < 50 {
			t.Errorf("viewer %d got %d video and %d audio packets in %v, want 50 of each at least", i, v.video.Load(), v.audio.Load(), published)
		}
	}
	if err := m.Unpublish("mux", pub.resourceID); err != nil {
		t.Fatal(err)
	}
	rec, err := m.End("mux")
	if err != nil || rec == nil {
		t.Fatalf("End: %v, %v", rec, err)
	}
	// The recording starts at the first keyframe the server receives. This
	// publisher sends a file (a keyframe each second) and cannot answer the
	// recorder's keyframe request as a browser does, so on a loaded machine
	// whose first keyframe came too early for the server, it starts a
	// second late (make test, once: 1.98 s of 3 s). The length exactness is
	// TestPublishViewRecordVP8's; here the recording must hold the rest.
	const gop = time.Second
	if d := mustProbe(t, rec.Path).duration(); d < published-gop-published/10 || d > published+published/10 {
		t.Errorf("got recording of %v, want %v ± 10%% (or up to one keyframe interval, %v, shorter)", d, published, gop)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		t.Errorf("port %d after Close: %v, want free", port, err)
	} else {
		u.Close()
	}
}
