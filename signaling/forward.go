package signaling

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// forwarder feeds one kind of media (video or audio) from whichever
// publisher is current to every viewer of a session through a single
// TrackLocalStaticRTP; pion fans it out to each viewer's binding.
//
// Viewers outlive publishers: when a publisher reconnects, its new SSRC
// starts at a random sequence number and timestamp (RFC 3550 §5.1), so the
// forwarder rewrites both to continue where the previous publisher stopped.
// A viewer's decoder then sees one stream with a gap, not a new stream.
//
// A packet goes to every viewer one after another, and a keyframe is
// dozens of packets arriving together, so with many viewers the last
// ones wait for the rest: the viewers are spread over shards (one per
// core), each its own track, and the shards are written in parallel.
type forwarder struct {
	track  *webrtc.TrackLocalStaticRTP // the first shard
	shards []*webrtc.TrackLocalStaticRTP
	next   atomic.Uint32 // round robin over the shards for new viewers
	clock  uint32

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

func newForwarder(codec webrtc.RTPCodecCapability, kind, streamID string, shards int) (*forwarder, error) {
	f := &forwarder{clock: codec.ClockRate}
	for i := 0; i < max(shards, 1); i++ {
		track, err := webrtc.NewTrackLocalStaticRTP(codec, kind, streamID)
		if err != nil {
			return nil, err
		}
		f.shards = append(f.shards, track)
	}
	f.track = f.shards[0]
	return f, nil
}

// fanoutShards is how many shards a session's video and audio forwarders
// have: one per core the process may use, at most 8.
func fanoutShards() int { return min(runtime.GOMAXPROCS(0), 8) }

// pick returns the shard for a new viewer.
func (f *forwarder) pick() *webrtc.TrackLocalStaticRTP {
	return f.shards[int(f.next.Add(1)-1)%len(f.shards)]
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
	if src != f.source {
		f.mu.Unlock()
		return
	}
	if pkt.SSRC != f.ssrc {
		// A new stream: continue the output where the last one ended,
		// advanced by the wall time in between so the gap plays as a gap.
		f.ssrc = pkt.SSRC
		if f.started {
			gap := uint32(time.Since(f.lastAt).Seconds() * float64(f.clock))
			f.seqOff = f.lastSeq + 1 - pkt.SequenceNumber
			f.tsOff = f.lastTS + gap + 1 - pkt.Timestamp
		}
	}
	out := *pkt // header copy; the payload is shared, never written
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
	f.mu.Unlock()

	if len(f.shards) == 1 {
		_ = f.track.WriteRTP(&out)
		return
	}
	// Every shard copies the header before changing it, and the payload
	// is only read, so they can share out.
	var wg sync.WaitGroup
	for _, t := range f.shards[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = t.WriteRTP(&out)
		}()
	}
	_ = f.track.WriteRTP(&out)
	wg.Wait()
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
