package signaling

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestNackResendsTheSamePacket: a viewer's NACK for video packets it had
// read half a second earlier, a dozen or more packets back, brings each
// of them again with the same sequence number, timestamp, marker and
// payload (RFC 4585 §6.2.1). The server keeps each viewer's sent packets
// for this; the packets of every viewer share one payload, so this also
// shows that what later packets go through leaves the kept ones alone.
func TestNackResendsTheSamePacket(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	pub := mustPublish(t, m, "nack", codecVP8)
	defer pub.pc.Close()
	v := mustReplayViewer(t, m, "nack")
	defer publishFor(t, pub, 4*time.Second)()

	// Wait until video has been read for 1.5 s, then ask again for every
	// other packet read between 0.7 and 0.5 s ago.
	var asked []uint16
	if !waitFor(5*time.Second, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		asked = asked[:0]
		var first time.Time
		for _, s := range v.got {
			if first.IsZero() || s.at.Before(first) {
				first = s.at
			}
		}
		if first.IsZero() || time.Since(first) < 1500*time.Millisecond {
			return false
		}
		for seq, s := range v.got {
			if age := time.Since(s.at); age > 500*time.Millisecond && age < 700*time.Millisecond && seq%2 == 0 {
				asked = append(asked, seq)
			}
		}
		return len(asked) >= 3
	}) {
		t.Fatal("no video packets to ask for again")
	}
	v.mustNack(t, asked)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.mismatch {
		t.Error(s)
	}
	t.Logf("asked again for %d packets; read %d distinct video packets", len(asked), len(v.got))
}

// replayViewer is a Go WHEP viewer that keeps every video packet it reads
// by sequence number and notes any that comes again different. Its SRTP
// replay protection is off: a packet sent again after a NACK is one it
// read already, which SRTP would drop as a replay (RFC 3711 §3.3.2),
// where a lost packet's resend is new to it.
type replayViewer struct {
	pc       *webrtc.PeerConnection
	mu       sync.Mutex
	got      map[uint16]*seenPacket
	ssrc     uint32 // of the video, once read
	mismatch []string
}

// seenPacket is one video packet a replayViewer read, and how often.
type seenPacket struct {
	ts      uint32
	marker  bool
	payload []byte
	at      time.Time // first read
	times   int
}

func mustReplayViewer(t *testing.T, m *Manager, sessionID string) *replayViewer {
	t.Helper()
	v := &replayViewer{got: map[uint16]*seenPacket{}}
	api := clientAPIWith(t, codecVP8, func(se *webrtc.SettingEngine) { se.DisableSRTPReplayProtection(true) })
	v.pc, _ = mustViewVia(t, m, sessionID, api, func(kind webrtc.RTPCodecType, p *rtp.Packet) {
		if kind != webrtc.RTPCodecTypeVideo {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.ssrc = p.SSRC
		if s := v.got[p.SequenceNumber]; s == nil {
			v.got[p.SequenceNumber] = &seenPacket{ts: p.Timestamp, marker: p.Marker, payload: bytes.Clone(p.Payload), at: time.Now(), times: 1}
		} else {
			s.times++
			if s.ts != p.Timestamp || s.marker != p.Marker || !bytes.Equal(s.payload, p.Payload) {
				v.mismatch = append(v.mismatch, "packet "+strconv.Itoa(int(p.SequenceNumber))+" came again different")
			}
		}
	})
	return v
}

// videoSSRC waits for the first video packet and returns its SSRC.
func (v *replayViewer) videoSSRC(t *testing.T) uint32 {
	t.Helper()
	var ssrc uint32
	if !waitFor(5*time.Second, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		ssrc = v.ssrc
		return ssrc != 0
	}) {
		t.Fatal("no video packets")
	}
	return ssrc
}

// mustNack sends a NACK for asked and wants each of them read again
// within 3 s.
func (v *replayViewer) mustNack(t *testing.T, asked []uint16) {
	t.Helper()
	asked = slices.Sorted(slices.Values(asked)) // so that they pair up
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: v.videoSSRC(t), Nacks: rtcp.NackPairsFromSequenceNumbers(asked)}}); err != nil {
		t.Fatal(err)
	}
	if waitFor(3*time.Second, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, seq := range asked {
			if v.got[seq].times < 2 {
				return false
			}
		}
		return true
	}) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, seq := range asked {
		t.Errorf("packet %d: read %d times, want it again after the NACK", seq, v.got[seq].times)
	}
}

// The responder alone, its writer and RTCP reader driven directly: what it sends again
// and what it does not.
func TestNackResponderKeepsAndResends(t *testing.T) {
	r, err := nackResponderFactory{}.NewInterceptor("viewer")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type sent struct {
		h       rtp.Header
		payload []byte
	}
	var out []sent
	net := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		out = append(out, sent{*h, p})
		return len(p), nil
	})
	video := &interceptor.StreamInfo{SSRC: 1, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	audio := &interceptor.StreamInfo{SSRC: 2} // negotiated no NACK
	wv, wa := r.BindLocalStream(video, net), r.BindLocalStream(audio, net)
	var rtcpIn []byte
	read := r.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, rtcpIn), a, nil
	}))
	nack := func(ssrc uint32, seqs ...uint16) []sent {
		t.Helper()
		rtcpIn, err = rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
		if err != nil {
			t.Fatal(err)
		}
		out = out[:0]
		if _, _, err := read.Read(make([]byte, 1500), nil); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}

	// 2,000 packets from sequence number 65000: the last 1,024 are kept,
	// across the wrap to 0.
	h := rtp.Header{Version: 2, SSRC: 1, PayloadType: 96}
	for i := range 2000 {
		h.SequenceNumber, h.Timestamp, h.Marker = uint16(65000+i), uint32(i*3000), i%3 == 0
		wv.Write(&h, []byte{byte(i), byte(i >> 8)}, nil)
		ha := rtp.Header{Version: 2, SSRC: 2, SequenceNumber: uint16(i)}
		wa.Write(&ha, []byte{1}, nil)
	}
	h.SequenceNumber = 999               // the caller's header is its own again
	last := uint16(65000 + 1999 - 65536) // 1463
	got := nack(1, last, last-1023, 65535, last-1024, 40000)
	if len(got) != 2 {
		t.Fatalf("NACK for the newest, the oldest kept, one long gone (1,024 back), one not sent: resent %d packets, want 2", len(got))
	}
	for _, s := range got {
		i := int(s.h.SequenceNumber - 65000)
		if s.h.SSRC != 1 || s.h.Timestamp != uint32(i*3000) || s.h.Marker != (i%3 == 0) || !bytes.Equal(s.payload, []byte{byte(i), byte(i >> 8)}) {
			t.Errorf("resent %+v %v, want packet %d as sent", s.h, s.payload, i)
		}
	}
	if got := nack(1, last); len(got) != 0 {
		t.Errorf("the same NACK again at once: resent %d, want 0 within %v", len(got), nackResendGap)
	}
	time.Sleep(nackResendGap + 10*time.Millisecond)
	if got := nack(1, last); len(got) != 1 {
		t.Errorf("the same NACK after %v: resent %d, want 1", nackResendGap, len(got))
	}
	// Everything kept, twice: at most nackResendMax a second.
	var all []uint16
	for i := range sentKept {
		all = append(all, last-uint16(sentKept-1-i)) // oldest first, so they pair up
	}
	time.Sleep(time.Second) // a new second: the resends above no longer count
	n := len(nack(1, all...))
	time.Sleep(nackResendGap + 10*time.Millisecond)
	n += len(nack(1, all...))
	if n != nackResendMax {
		t.Errorf("NACKs for all %d kept packets twice within a second: resent %d, want %d", sentKept, n, nackResendMax)
	}
	if got := nack(2, 1999); len(got) != 0 {
		t.Errorf("NACK for a stream that negotiated none: resent %d, want 0", len(got))
	}
	r.UnbindLocalStream(video)
	if got := nack(1, last-1); len(got) != 0 {
		t.Errorf("NACK after the stream ended: resent %d, want 0", len(got))
	}
}

// malformedRTCP is an RTCP packet whose framing and destination parse,
// so that SRTCP delivers it to the stream it names, but whose body does
// not: a transport-cc feedback (RFC 8888's predecessor, draft-holmer)
// claiming 100 packet statuses and carrying no chunks.
type malformedRTCP struct{ media uint32 }

func (p malformedRTCP) Marshal() ([]byte, error) {
	b := []byte{0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[8:], p.media)
	return b, nil
}
func (p malformedRTCP) Unmarshal([]byte) error    { return errors.New("not for reading") }
func (p malformedRTCP) DestinationSSRC() []uint32 { return []uint32{p.media} }
func (p malformedRTCP) MarshalSize() int          { return 20 }

// TestViewerRTCPGoesOnAfterMalformed: a viewer's RTCP packet that does not
// parse is skipped; the viewer's NACKs after it are still answered.
func TestViewerRTCPGoesOnAfterMalformed(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	pub := mustPublish(t, m, "malformed", codecVP8)
	defer pub.pc.Close()
	v := mustReplayViewer(t, m, "malformed")
	defer publishFor(t, pub, 4*time.Second)()

	if err := v.pc.WriteRTCP([]rtcp.Packet{malformedRTCP{media: v.videoSSRC(t)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // read and skipped by now

	// Ask again for up to three packets read 100 to 300 ms ago.
	var asked []uint16
	v.mu.Lock()
	for seq, s := range v.got {
		if age := time.Since(s.at); age > 100*time.Millisecond && age < 300*time.Millisecond && len(asked) < 3 {
			asked = append(asked, seq)
		}
	}
	v.mu.Unlock()
	if len(asked) == 0 {
		t.Fatal("no video packets read 100 to 300 ms ago")
	}
	v.mustNack(t, asked)
}
