package signaling

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// arrival is one video packet a test viewer read.
type arrival struct {
	at      time.Time
	seq     uint16
	keyHead bool // the first packet of a VP8 keyframe, by pion's own parser
}

// recordingViewer is a Go WHEP client keeping every video packet's arrival.
type recordingViewer struct {
	pc         *webrtc.PeerConnection
	resourceID string
	mu         sync.Mutex
	video      []arrival
}

func (v *recordingViewer) arrivals() []arrival {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]arrival(nil), v.video...)
}

func mustRecordingViewer(tb testing.TB, m *Manager, sessionID string) *recordingViewer {
	tb.Helper()
	v := &recordingViewer{}
	v.pc, v.resourceID = mustViewVia(tb, m, sessionID, clientAPI(tb, codecVP8), func(kind webrtc.RTPCodecType, pkt *rtp.Packet) {
		if kind != webrtc.RTPCodecTypeVideo {
			return
		}
		var vp8 codecs.VP8Packet
		payload, err := vp8.Unmarshal(pkt.Payload)
		key := err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && payload[0]&1 == 0
		v.mu.Lock()
		v.video = append(v.video, arrival{at: time.Now(), seq: pkt.SequenceNumber, keyHead: key})
		v.mu.Unlock()
	})
	return v
}

// videoQueue is the server's video send queue of viewer id.
func videoQueue(tb testing.TB, m *Manager, sessionID, id string) *sendQueue {
	tb.Helper()
	s, err := m.session(sessionID, false)
	if err != nil {
		tb.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.viewers[id]
	if v == nil || len(v.outs) == 0 || v.outs[0].q.keyStart == nil {
		tb.Fatalf("viewer %s: no video queue", id)
	}
	return v.outs[0].q
}

// TestSlowViewerDoesNotDelayOthers stalls one viewer's writes (as a TCP
// connection to a peer that stopped reading does) for 3 s while a
// publisher sends VP8 at 30 fps to it and to a second viewer, all real
// pion peers. The other viewer must go on receiving: at least 90 % of
// the packets forwarded to it in the window, with no gap between two
// packets over 1 s (the whole stall, had it waited). The stalled viewer's
// queue must overflow and drop, and once its writes flow again, what it
// receives after the one write that was blocked must start with a
// keyframe, skipping the packets it cannot decode.
func TestSlowViewerDoesNotDelayOthers(t *testing.T) {
	m := mustManager(t)
	m.queueLen = 32
	var stall atomic.Bool
	var blocked atomic.Int32
	release := make(chan struct{})
	var releaseOnce sync.Once
	unstall := func() { releaseOnce.Do(func() { stall.Store(false); close(release) }) }
	t.Cleanup(unstall)
	m.wrapWrite = func(kind webrtc.RTPCodecType, write func(*rtp.Packet) error) func(*rtp.Packet) error {
		if kind != webrtc.RTPCodecTypeVideo {
			return write
		}
		return func(p *rtp.Packet) error {
			if stall.Load() {
				blocked.Add(1)
				<-release
			}
			return write(p)
		}
	}

	const id = "slow-viewer"
	pub := mustPublish(t, m, id, codecVP8)
	defer pub.pc.Close()
	slow := mustRecordingViewer(t, m, id)
	m.wrapWrite = nil
	fast := mustRecordingViewer(t, m, id)

	frames := mustFrames(t, codecVP8)
	var stop atomic.Bool
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		i := 0
		pace(time.Second/30, time.Minute, func() bool {
			_ = pub.video.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: time.Second / 30})
			i++
			return !stop.Load()
		})
	}()
	defer func() { stop.Store(true); <-sending }()

	if !waitFor(15*time.Second, func() bool { return len(slow.arrivals()) >= 30 && len(fast.arrivals()) >= 30 }) {
		t.Fatalf("before the stall: slow viewer read %d, fast %d video packets, want 30 each", len(slow.arrivals()), len(fast.arrivals()))
	}
	fastQ, slowQ := videoQueue(t, m, id, fast.resourceID), videoQueue(t, m, id, slow.resourceID)

	stall.Store(true)
	start, pushed0, read0 := time.Now(), fastQ.pushed.Load(), len(fast.arrivals())
	time.Sleep(3 * time.Second) // the window measured
	pushed, read := fastQ.pushed.Load()-pushed0, len(fast.arrivals())-read0
	slowRead := len(slow.arrivals())
	dropped := slowQ.dropped.Load()
	unstall()

	if pushed < 60 {
		t.Fatalf("forwarded %d video packets to the fast viewer in 3 s, want at least 60", pushed)
	}
	if float64(read) < 0.9*float64(pushed) {
		t.Errorf("fast viewer read %d of %d video packets forwarded to it during the stall, want at least 90 %%", read, pushed)
	}
	var maxGap time.Duration
	var prev time.Time
	for _, a := range fast.arrivals() {
		if a.at.Before(start) {
			prev = a.at
			continue
		}
		if !prev.IsZero() {
			maxGap = max(maxGap, a.at.Sub(prev))
		}
		prev = a.at
	}
	if maxGap > time.Second {
		t.Errorf("fast viewer's longest wait between two video packets during the stall: got %v, want at most 1 s", maxGap)
	}
	t.Logf("stall 3 s: fast viewer read %d of %d forwarded, longest gap %v; slow viewer's queue dropped %d, %d writes blocked",
		read, pushed, maxGap, dropped, blocked.Load())
	if blocked.Load() < 1 || dropped == 0 {
		t.Errorf("slow viewer: %d writes blocked and %d packets dropped, want at least 1 and more than 0", blocked.Load(), dropped)
	}

	// After the stall: the blocked write goes out, then the queue's clean start.
	if !waitFor(10*time.Second, func() bool { return len(slow.arrivals()) >= slowRead+2 }) {
		t.Fatalf("after the stall the slow viewer read %d video packets, want at least 2", len(slow.arrivals())-slowRead)
	}
	after := slow.arrivals()[slowRead:]
	if !after[1].keyHead || after[1].seq-after[0].seq <= 1 {
		t.Errorf("after the stall: got packet %d (keyframe start %v) after the blocked %d, want a keyframe start after a gap",
			after[1].seq, after[1].keyHead, after[0].seq)
	}
}
