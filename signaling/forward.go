package signaling

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// forwarder feeds one kind of media (video or audio) from whichever
// publisher is current to every viewer of a session.
//
// Viewers outlive publishers: when a publisher reconnects, its new SSRC
// starts at a random sequence number and timestamp (RFC 3550 §5.1), so the
// forwarder rewrites both to continue where the previous publisher stopped.
// A viewer's decoder then sees one stream with a gap, not a new stream.
//
// The publisher's read loop only rewrites the header and puts the packet
// in each viewer's sendQueue; every viewer's own goroutine encrypts and
// sends it. A keyframe is dozens of packets arriving together, and one
// viewer's writes (SRTP, then a sendto that on loopback runs the
// receiver's network stack too, or a TCP connection that stalls) then
// never wait behind another's, nor hold up the publisher's reads and the
// recording.
//
// The talkback forwarder (a viewer's microphone to the publishers) has
// track instead: it is bound to the publishers that asked for audio, at
// most a couple, and written in the caller's goroutine.
type forwarder struct {
	codec    webrtc.RTPCodecCapability
	kind     string
	streamID string
	track    *webrtc.TrackLocalStaticRTP // written directly; nil for a fan-out forwarder

	sinkMu sync.Mutex                   // serializes changes to sinks
	sinks  atomic.Pointer[[]*sendQueue] // copied on change, read per packet without a lock

	mu      sync.Mutex
	source  string // resource id of the publisher allowed to write
	ssrc    uint32 // that publisher's SSRC, once seen
	started bool   // anything written yet
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16 // highest sequence number written
	lastTS  uint32 // timestamp of that packet
	lastAt  time.Time
}

// newForwarder returns a forwarder of codec. With direct it writes to its
// own track (talkback); without, to the sendQueues added to it.
func newForwarder(codec webrtc.RTPCodecCapability, kind, streamID string, direct bool) (*forwarder, error) {
	f := &forwarder{codec: codec, kind: kind, streamID: streamID}
	if direct {
		track, err := webrtc.NewTrackLocalStaticRTP(codec, kind, streamID)
		if err != nil {
			return nil, err
		}
		f.track = track
	}
	f.sinks.Store(&[]*sendQueue{})
	return f, nil
}

// newTrack returns a track of the forwarder's codec for one viewer.
func (f *forwarder) newTrack() (*webrtc.TrackLocalStaticRTP, error) {
	return webrtc.NewTrackLocalStaticRTP(f.codec, f.kind, f.streamID)
}

// add makes q receive every packet written from now on, unless q is
// closed already.
func (f *forwarder) add(q *sendQueue) {
	f.sinkMu.Lock()
	defer f.sinkMu.Unlock()
	if q.isClosed() {
		return
	}
	next := append(slices.Clone(*f.sinks.Load()), q)
	f.sinks.Store(&next)
}

// remove stops q receiving packets; it is idempotent.
func (f *forwarder) remove(q *sendQueue) {
	f.sinkMu.Lock()
	defer f.sinkMu.Unlock()
	next := slices.DeleteFunc(slices.Clone(*f.sinks.Load()), func(s *sendQueue) bool { return s == q })
	f.sinks.Store(&next)
}

// setSource makes publisher id the only one whose packets are forwarded,
// so a replaced publisher's last packets cannot interleave with the new one's.
func (f *forwarder) setSource(id string) {
	f.mu.Lock()
	f.source, f.ssrc = id, 0
	f.mu.Unlock()
}

// write forwards pkt from publisher src. It does not modify pkt: the
// recorder holds on to it. A viewer whose connection is closing fails its
// own write only, so errors are not returned: the next packet goes out anyway.
func (f *forwarder) write(src string, pkt *rtp.Packet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if src != f.source {
		return
	}
	if pkt.SSRC != f.ssrc {
		// A new stream: continue the output where the last one ended,
		// advanced by the wall time in between so the gap plays as a gap.
		f.ssrc = pkt.SSRC
		if f.started {
			gap := uint32(time.Since(f.lastAt).Seconds() * float64(f.codec.ClockRate))
			f.seqOff = f.lastSeq + 1 - pkt.SequenceNumber
			f.tsOff = f.lastTS + gap + 1 - pkt.Timestamp
		}
	}
	// A header copy shared by every viewer's queue: pion's track copies
	// it again before setting its SSRC and payload type, and the payload
	// is only ever read.
	out := &rtp.Packet{Header: pkt.Header, Payload: pkt.Payload, PaddingSize: pkt.PaddingSize}
	// Header extension ids were agreed with the publisher, not with each
	// viewer (Chromium's transport-cc id can be a pion viewer's
	// repaired-stream id, which makes it drop every packet); each viewer's
	// own interceptors add the extensions agreed with it.
	out.Extension, out.ExtensionProfile, out.Extensions = false, 0, nil
	out.SequenceNumber += f.seqOff
	out.Timestamp += f.tsOff
	if !f.started || int16(out.SequenceNumber-f.lastSeq) > 0 {
		f.lastSeq, f.lastTS, f.lastAt = out.SequenceNumber, out.Timestamp, time.Now()
	}
	f.started = true

	// Under f.mu, so that packets reach the queues in the order written
	// even while a replaced publisher's reader is still running.
	if f.track != nil {
		_ = f.track.WriteRTP(out)
	}
	for _, q := range *f.sinks.Load() {
		q.push(out)
	}
}

// keyframeThrottle spaces keyframe requests to one per interval per
// publisher: each PLI costs the publisher a large frame, and viewers
// joining together need only one.
type keyframeThrottle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
}

// allow reports whether a request may be sent now, and if so records it.
func (k *keyframeThrottle) allow() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := time.Now(); now.Sub(k.last) >= k.interval {
		k.last = now
		return true
	}
	return false
}
