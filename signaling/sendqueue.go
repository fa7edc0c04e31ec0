package signaling

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Queue lengths, in packets, of one viewer's send queues. A queue holds
// what the viewer's goroutine has not sent yet: normally at most one
// keyframe burst (30–40 packets at 1.5 Mbps 720p, a few more at higher
// rates), since sending to a viewer is much faster than the publisher's
// rate. Only a viewer whose writes block (ICE over TCP to a stalled peer)
// or that the scheduler starves for long fills its queue: 256 video
// packets are one to two seconds of video, 64 Opus packets 1.3 s.
const (
	videoQueueLen = 256
	audioQueueLen = 64
)

// sendQueue is one viewer's bounded queue of packets for one track,
// drained by that viewer's own goroutine (run): the publisher's read
// loop only pushes, so a slow viewer never delays the others.
//
// On overflow the queue drops rather than block or grow. Audio drops
// its oldest packet (each Opus packet decodes on its own). Video cannot
// drop one packet and go on: every later frame refers to the lost one,
// so the viewer would decode nothing until the next keyframe anyway. A
// full video queue drops its oldest packets up to the first keyframe
// it holds; holding none, it drops everything, then discards incoming
// packets until a keyframe starts, and asks the publisher for one
// (needKeyframe; the publisher throttles these). A slow viewer thus
// resumes with a clean picture as soon as it keeps up again, and never
// costs the others anything but one push per packet.
type sendQueue struct {
	write        func(*rtp.Packet) error
	keyStart     func(payload []byte) bool // nil for audio
	needKeyframe func()

	mu      sync.Mutex
	ring    []*rtp.Packet
	head, n int
	waitKey bool   // video: discard until a keyframe starts
	gen     uint64 // advanced on every overflow
	wake    chan struct{}
	done    chan struct{}
	closed  bool

	pushed, dropped, sent atomic.Uint64
}

// newSendQueue returns a queue of length n writing to write; for video
// (keyStart set) it asks for a keyframe with needKeyframe after an
// overflow. Start its goroutine with go q.run().
func newSendQueue(n int, write func(*rtp.Packet) error, keyStart func([]byte) bool, needKeyframe func()) *sendQueue {
	return &sendQueue{
		write: write, keyStart: keyStart, needKeyframe: needKeyframe,
		ring: make([]*rtp.Packet, max(n, 2)), wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// push queues p for sending; it never blocks on the viewer.
func (q *sendQueue) push(p *rtp.Packet) {
	q.pushed.Add(1)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	ask := false
	if q.n == len(q.ring) {
		ask = q.overflowLocked(p)
	}
	if q.waitKey {
		if !q.keyStart(p.Payload) {
			q.mu.Unlock()
			q.dropped.Add(1)
			if ask {
				q.needKeyframe()
			}
			return
		}
		q.waitKey = false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
	q.mu.Unlock()
	if ask {
		q.needKeyframe()
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// overflowLocked makes room in a full queue, before next is added, by the
// policy in sendQueue's doc. It reports whether to ask for a keyframe.
func (q *sendQueue) overflowLocked(next *rtp.Packet) bool {
	q.gen++
	if q.keyStart == nil {
		q.dropHeadLocked(1)
		return false
	}
	// Keep the packets from the first keyframe after the head on; a
	// keyframe at the head itself does not fit and goes too.
	for i := 1; i < q.n; i++ {
		if q.keyStart(q.ring[(q.head+i)%len(q.ring)].Payload) {
			q.dropHeadLocked(i)
			return false
		}
	}
	q.dropHeadLocked(q.n)
	if q.keyStart(next.Payload) {
		return false
	}
	q.waitKey = true
	return true
}

func (q *sendQueue) dropHeadLocked(k int) {
	for i := 0; i < k; i++ {
		q.ring[(q.head+i)%len(q.ring)] = nil
	}
	q.head = (q.head + k) % len(q.ring)
	q.n -= k
	q.dropped.Add(uint64(k))
}

// run sends the queued packets in order until close. It takes all that
// are queued at once; if the queue overflows while it writes them (the
// viewer's writes block), the rest of what it took is stale and dropped
// too, so that after a stall the viewer gets the queue's clean start.
func (q *sendQueue) run() {
	batch := make([]*rtp.Packet, 0, len(q.ring))
	for {
		select {
		case <-q.wake:
		case <-q.done:
			return
		}
		for {
			q.mu.Lock()
			if q.closed {
				q.mu.Unlock()
				return
			}
			gen := q.gen
			for ; q.n > 0; q.n-- {
				batch = append(batch, q.ring[q.head])
				q.ring[q.head] = nil
				q.head = (q.head + 1) % len(q.ring)
			}
			q.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i, p := range batch {
				if i > 0 && q.overflowedSince(gen) {
					q.dropped.Add(uint64(len(batch) - i))
					break
				}
				if q.write(p) == nil {
					q.sent.Add(1)
				}
			}
			clear(batch)
			batch = batch[:0]
		}
	}
}

func (q *sendQueue) overflowedSince(gen uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.gen != gen
}

// close stops the goroutine and drops what is queued; it is idempotent.
// A write blocked in the viewer's connection ends when that closes.
func (q *sendQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	clear(q.ring)
	q.n = 0
	close(q.done)
}

func (q *sendQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// keyframeStart returns the test for the first packet of a keyframe in
// codec's RTP payload format, or nil for audio.
func keyframeStart(mimeType string) func([]byte) bool {
	switch mimeType {
	case webrtc.MimeTypeVP8:
		return vp8KeyframeStart
	case webrtc.MimeTypeH264:
		return h264KeyframeStart
	}
	return nil
}

// vp8KeyframeStart reports whether payload starts a VP8 keyframe: the
// start of partition 0 (RFC 7741 §4.2, S=1 and PID=0) whose payload
// header has the inverse keyframe flag P clear (§4.3, RFC 6386 §9.1).
func vp8KeyframeStart(payload []byte) bool {
	if len(payload) < 1 || payload[0]&0x10 == 0 || payload[0]&0x07 != 0 {
		return false
	}
	i := 1
	if payload[0]&0x80 != 0 { // X: extended control bits
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I: PictureID, 7 or 15 bits (M)
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(payload) > i && payload[i]&0x01 == 0
}

// h264KeyframeStart reports whether payload starts an H.264 keyframe
// (RFC 6184 §5.6-5.8): an SPS or IDR NAL unit on its own, in a STAP-A,
// or as the first fragment of an FU-A.
func h264KeyframeStart(payload []byte) bool {
	key := func(t byte) bool { return t == nalSPS || t == nalIDR }
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			if size == 0 || i+2+size > len(payload) {
				return false
			}
			if key(payload[i+2] & 0x1f) {
				return true
			}
			i += 2 + size
		}
		return false
	case 28: // FU-A: S bit and the fragmented unit's type
		return len(payload) > 1 && payload[1]&0x80 != 0 && key(payload[1]&0x1f)
	default:
		return key(t)
	}
}
