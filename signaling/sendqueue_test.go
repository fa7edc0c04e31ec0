package signaling

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// packetize splits frames into RTP payloads with pion's payloader for
// codec, and marks which payload starts each frame and which frames are
// keyframes (VP8: P bit clear, RFC 6386 §9.1; H.264: holds an IDR, and
// both its parameter sets' packet and its IDR's first one count).
func packetize(tb testing.TB, codec webrtc.RTPCodecParameters, frames [][]byte) (payloads [][]byte, keyStarts map[int]bool) {
	tb.Helper()
	var pl rtp.Payloader = &codecs.VP8Payloader{EnablePictureID: true}
	if codec.MimeType == webrtc.MimeTypeH264 {
		pl = &codecs.H264Payloader{}
	}
	keyStarts = map[int]bool{}
	for _, f := range frames {
		key := f[0]&1 == 0
		if codec.MimeType == webrtc.MimeTypeH264 {
			key = false
			for _, n := range annexBNALs(f) {
				key = key || n[0]&0x1f == nalIDR
			}
		}
		if key {
			keyStarts[len(payloads)] = true
			if codec.MimeType == webrtc.MimeTypeH264 {
				// pion sends SPS and PPS as one STAP-A, then the IDR's
				// first fragment: both are places to start.
				keyStarts[len(payloads)+1] = true
			}
		}
		payloads = append(payloads, pl.Payload(1200, f)...)
	}
	return payloads, keyStarts
}

// TestKeyframeStart runs the keyframe detector over every RTP payload of
// the test clips (VP8, and H.264 with SPS and PPS before each IDR, as
// ffmpeg writes them): it must say yes exactly at each keyframe's first
// packet.
func TestKeyframeStart(t *testing.T) {
	for _, codec := range []webrtc.RTPCodecParameters{codecVP8, codecH264} {
		t.Run(codec.MimeType, func(t *testing.T) {
			payloads, want := packetize(t, codec, mustFrames(t, codec))
			is := keyframeStart(codec.MimeType)
			var got int
			for i, p := range payloads {
				if is(p) != want[i] {
					t.Errorf("payload %d of %d: got keyframe start %v, want %v", i, len(payloads), is(p), want[i])
				}
				if is(p) {
					got++
				}
			}
			if got < 3 || got != len(want) || !want[0] {
				t.Errorf("got %d keyframe starts, want %d (at least 3: a keyframe a second in 3 s)", got, len(want))
			}
		})
	}
	if keyframeStart(webrtc.MimeTypeOpus) != nil {
		t.Errorf("got a keyframe test for Opus, want none")
	}
}

// TestSendQueueOverflow fills queues nobody drains and checks the
// overflow policy (sendQueue's doc): audio drops its oldest packet;
// video drops up to the first keyframe it holds, or, holding none,
// everything, then skips to the next keyframe and asks for one.
func TestSendQueueOverflow(t *testing.T) {
	pkt := func(seq uint16, key bool) *rtp.Packet {
		payload := []byte{0x10, 0x01} // VP8: S=1, PID=0; P=1: an interframe
		if key {
			payload[1] = 0x00
		}
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: payload}
	}
	seqs := func(q *sendQueue) []uint16 {
		q.mu.Lock()
		defer q.mu.Unlock()
		var out []uint16
		for i := 0; i < q.n; i++ {
			out = append(out, q.ring[(q.head+i)%len(q.ring)].SequenceNumber)
		}
		return out
	}
	equal := func(a, b []uint16) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	noWrite := func(*rtp.Packet) error { return nil }

	t.Run("audio", func(t *testing.T) {
		q := newSendQueue(4, noWrite, nil, func() { t.Error("audio asked for a keyframe") })
		for s := uint16(1); s <= 6; s++ {
			q.push(pkt(s, false))
		}
		if got, want := seqs(q), []uint16{3, 4, 5, 6}; !equal(got, want) {
			t.Errorf("queued: got %v, want %v", got, want)
		}
		if got := q.dropped.Load(); got != 2 {
			t.Errorf("dropped: got %d, want 2", got)
		}
	})
	t.Run("video keeps a queued keyframe", func(t *testing.T) {
		asked := 0
		q := newSendQueue(4, noWrite, vp8KeyframeStart, func() { asked++ })
		for _, p := range []*rtp.Packet{pkt(1, false), pkt(2, false), pkt(3, true), pkt(4, false), pkt(5, false)} {
			q.push(p)
		}
		if got, want := seqs(q), []uint16{3, 4, 5}; !equal(got, want) || asked != 0 {
			t.Errorf("queued: got %v and %d keyframe requests, want %v and none", got, asked, want)
		}
	})
	t.Run("video without a keyframe skips to the next", func(t *testing.T) {
		asked := 0
		q := newSendQueue(4, noWrite, vp8KeyframeStart, func() { asked++ })
		for s := uint16(1); s <= 7; s++ {
			q.push(pkt(s, false))
		}
		if got := seqs(q); len(got) != 0 || asked != 1 {
			t.Errorf("after overflow with no keyframe: got %v queued and %d requests, want none queued and 1", got, asked)
		}
		q.push(pkt(8, true))
		q.push(pkt(9, false))
		if got, want := seqs(q), []uint16{8, 9}; !equal(got, want) {
			t.Errorf("after the keyframe: got %v, want %v", got, want)
		}
		if got := q.dropped.Load(); got != 7 {
			t.Errorf("dropped: got %d, want 7", got)
		}
	})
}

// TestSendQueueRun checks that run writes in order and ends on close.
func TestSendQueueRun(t *testing.T) {
	got := make(chan uint16, 100)
	q := newSendQueue(8, func(p *rtp.Packet) error { got <- p.SequenceNumber; return nil }, nil, nil)
	done := make(chan struct{})
	go func() { q.run(); close(done) }()
	for s := uint16(0); s < 50; s++ {
		q.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}})
		if s%4 == 3 {
			// Let the queue drain: 50 pushed at once would overflow 8.
			if !waitFor(2*time.Second, func() bool { return len(got) >= int(s)+1 }) {
				t.Fatalf("written: got %d packets, want %d", len(got), s+1)
			}
		}
	}
	waitFor(2*time.Second, func() bool { return len(got) == 50 })
	q.close()
	<-done
	if len(got) != 50 {
		t.Fatalf("written: got %d packets, want 50", len(got))
	}
	for want := uint16(0); want < 50; want++ {
		if s := <-got; s != want {
			t.Fatalf("written out of order: got %d, want %d", s, want)
		}
	}
	q.push(&rtp.Packet{})
	if n := q.pushed.Load() - q.sent.Load(); n != 1 {
		t.Errorf("after close: got %d pushed but unsent, want 1 (ignored)", n)
	}
}
