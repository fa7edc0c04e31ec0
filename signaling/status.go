package signaling

import (
	"maps"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/webrtc/v4"
)

// PeerQuality is one connection's media quality, measured between two
// Status calls.
type PeerQuality struct {
	// BitrateKbps is the media received from the publisher, or sent to
	// the viewer, over the last interval (RTP payload, kbit/s).
	BitrateKbps float64 `json:"bitrate_kbps"`
	// PacketLoss is the fraction (0..1) of packets lost: for the
	// publisher, of those we expected over the interval; for a viewer,
	// as its latest receiver report says (RFC 3550 §6.4.1).
	PacketLoss float64 `json:"packet_loss"`
	// JitterMS is the interarrival jitter (RFC 3550 §6.4.1) we measure
	// on the publisher's stream, or that the viewer reports on ours.
	JitterMS float64 `json:"jitter_ms"`
	// RTTMS is the round-trip time: from the viewer's receiver reports
	// when they carry one, otherwise from ICE connectivity checks.
	RTTMS float64 `json:"rtt_ms"`
	// DroppedPackets, for the publisher, is how many packets the session
	// has dropped so far for coming past its ingest bound
	// (Config.MaxIngestKbps): the picture breaks up where they were.
	DroppedPackets uint64 `json:"dropped_packets,omitempty"`
}

// Status is a live session's state, for the room's state and quality
// messages.
type Status struct {
	// Publishing is whether a publisher is connected now.
	Publishing bool
	// PublisherID is the current publisher's WHIP resource id, or "".
	PublisherID string
	// LastPublishEnd is when the last publisher left; zero while one is
	// publishing or if none ever did.
	LastPublishEnd time.Time
	// EverPublished is whether anyone has published in this session.
	EverPublished bool
	// Viewers is the number of WHEP viewers.
	Viewers int
	// Recording is whether a segment is open: a publisher is connected
	// and its first keyframe has arrived.
	Recording bool
	// RecordingTime is the current position in the final recording,
	// whose segments are joined back to back: the finished segments'
	// durations plus the time since the open one started.
	RecordingTime time.Duration
	// VideoCodec is the current publisher's video codec,
	// webrtc.MimeTypeVP8 ("video/VP8") or webrtc.MimeTypeH264
	// ("video/H264"); "" without a publisher or video.
	VideoCodec string
	// Publisher is the publisher's connection quality; nil if none.
	Publisher *PeerQuality
	// ViewerQuality is each viewer's connection quality, by WHEP
	// resource id.
	ViewerQuality map[string]PeerQuality
}

// Status reports the session's state and its connections' quality. It
// reads counters pion keeps anyway, so calling it every couple of
// seconds per session costs little; each peer's rates cover the time
// since the previous call (calls less than half a second apart repeat
// the previous figures). It returns ErrNoSession if the Manager does not
// know the session.
func (m *Manager) Status(sessionID string) (Status, error) {
	s, err := m.session(sessionID, false)
	if err != nil {
		return Status{}, err
	}
	return s.status(time.Now()), nil
}

func (s *session) status(now time.Time) Status {
	s.mu.Lock()
	p := s.pub
	st := Status{Publishing: p != nil, EverPublished: s.ever, Viewers: len(s.viewers)}
	if p != nil {
		st.PublisherID = p.id
		if p.info.video != nil {
			st.VideoCodec = p.info.video.MimeType
		}
	} else {
		st.LastPublishEnd = s.lastEnd
	}
	st.Recording, st.RecordingTime = s.recordingTimeLocked(now, time.Time{})
	viewers := maps.Clone(s.viewers)
	s.mu.Unlock()

	if p != nil {
		q := p.quality.publisher(p, now)
		q.DroppedPackets = s.budget.droppedPackets()
		st.Publisher = &q
	}
	st.ViewerQuality = make(map[string]PeerQuality, len(viewers))
	for id, v := range viewers {
		st.ViewerQuality[id] = v.quality.viewer(v, now)
	}
	return st
}

// recordingTimeLocked adds up the segments (finished, finishing and
// open) that start before before, or all of them when before is zero:
// the position in the final recording, which joins the segments in the
// order of their starts. open reports whether the current publisher's
// segment is open. The caller holds s.mu (the recorder's lock nests
// inside it).
func (s *session) recordingTimeLocked(now, before time.Time) (open bool, d time.Duration) {
	counts := func(start time.Time) bool { return before.IsZero() || start.Before(before) }
	for _, seg := range s.segments {
		if counts(seg.start) {
			d += seg.duration
		}
	}
	for p := range s.closing {
		if p.accounted {
			continue // its segments are in s.segments already (OnSegment runs)
		}
		d += rotatedTime(p.rec, counts)
		if start, dur, _, ok := p.rec.elapsed(now, true); ok && counts(start) {
			d += dur
		}
	}
	if s.pub != nil {
		d += rotatedTime(s.pub.rec, counts)
		if start, dur, isOpen, ok := s.pub.rec.elapsed(now, false); ok && counts(start) {
			d += dur
			open = isOpen
		}
	}
	return open, d
}

// rotatedTime adds up the segments r has finished by rotation that
// counts.
func rotatedTime(r *recorder, counts func(time.Time) bool) time.Duration {
	var d time.Duration
	for _, seg := range r.rotatedSegments() {
		if counts(seg.start) {
			d += seg.duration
		}
	}
	return d
}

// qualityMinInterval is the shortest interval rates are measured over:
// Status calls closer together than this (two clients asking at once)
// repeat the previous figures rather than divide by a tiny interval.
const qualityMinInterval = 500 * time.Millisecond

// qualityMeter turns one PeerConnection's cumulative RTP statistics
// into rates between successive Status calls.
type qualityMeter struct {
	stats stats.Getter // nil if pion gave none; the figures stay zero

	mu   sync.Mutex
	at   time.Time // when the previous sample was taken
	prev struct {
		bytes uint64
		recv  uint64
		lost  int64
	}
	last PeerQuality
}

func (q *qualityMeter) start(st stats.Getter, now time.Time) {
	q.stats, q.at = st, now
}

// sample records the cumulative counters taken at now and returns the
// bitrate and (from the packet counters) loss since the previous sample;
// ok is false when that is too recent and q.last should be repeated.
func (q *qualityMeter) sample(now time.Time, bytes, recv uint64, lost int64) (kbps, loss float64, ok bool) {
	dt := now.Sub(q.at)
	if dt < qualityMinInterval && q.prev.bytes > 0 {
		return 0, 0, false
	}
	if bytes >= q.prev.bytes && dt > 0 {
		kbps = float64(bytes-q.prev.bytes) * 8 / 1000 / dt.Seconds()
	}
	dRecv, dLost := int64(recv)-int64(q.prev.recv), lost-q.prev.lost
	if dLost > 0 && dRecv+dLost > 0 {
		loss = min(float64(dLost)/float64(dRecv+dLost), 1)
	}
	q.at = now
	q.prev.bytes, q.prev.recv, q.prev.lost = bytes, recv, lost
	return kbps, loss, true
}

// publisher measures what we receive from p: inbound-rtp of its tracks,
// loss and jitter from its video (audio if it sends none).
func (q *qualityMeter) publisher(p *publisher, now time.Time) PeerQuality {
	var bytes, recv uint64
	var lost int64
	var jitter float64
	if q.stats != nil {
		main := p.videoSSRC.Load()
		if main == 0 {
			main = p.audioSSRC.Load()
		}
		for _, ssrc := range []uint32{p.videoSSRC.Load(), p.audioSSRC.Load()} {
			st := q.stats.Get(ssrc)
			if ssrc == 0 || st == nil {
				continue
			}
			bytes += st.InboundRTPStreamStats.BytesReceived
			if ssrc == main {
				recv, lost = st.InboundRTPStreamStats.PacketsReceived, st.InboundRTPStreamStats.PacketsLost
				jitter = st.InboundRTPStreamStats.Jitter
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	kbps, loss, ok := q.sample(now, bytes, recv, lost)
	if ok {
		q.last = PeerQuality{BitrateKbps: kbps, PacketLoss: loss, JitterMS: jitter * 1000, RTTMS: iceRTT(p.pc)}
	}
	return q.last
}

// viewer measures what we send to v: outbound-rtp of its streams, and
// loss, jitter and round trip from its receiver reports (remote-inbound-rtp)
// on the video stream, or the audio one when video has none yet.
func (q *qualityMeter) viewer(v *viewer, now time.Time) PeerQuality {
	var bytes uint64
	var rr *stats.RemoteInboundRTPStreamStats
	if q.stats != nil {
		for _, ssrc := range v.ssrcs {
			st := q.stats.Get(ssrc)
			if st == nil {
				continue
			}
			bytes += st.OutboundRTPStreamStats.BytesSent
			if r := st.RemoteInboundRTPStreamStats; rr == nil && (r.PacketsReceived > 0 || r.PacketsLost != 0 || r.RoundTripTimeMeasurements > 0) {
				rr = &r
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	kbps, _, ok := q.sample(now, bytes, 0, 0)
	if !ok {
		return q.last
	}
	out := PeerQuality{BitrateKbps: kbps}
	if rr != nil {
		out.PacketLoss, out.JitterMS = rr.FractionLost, rr.Jitter*1000
		out.RTTMS = float64(rr.RoundTripTime) / float64(time.Millisecond)
	}
	if out.RTTMS <= 0 {
		out.RTTMS = iceRTT(v.pc)
	}
	q.last = out
	return out
}

// iceRTT is the round-trip time of the connection's selected ICE
// candidate pair, from its STUN consent checks (RFC 7675), in ms; 0 until
// the pair is chosen. It asks for the pair only once the transport is
// connected: pion's ICETransport writes its gatherer while it starts (a
// moment after SetRemoteDescription) without the lock the stats read
// takes, so a Status right after a WHIP answer raced with it under -race.
func iceRTT(pc *webrtc.PeerConnection) float64 {
	sctp := pc.SCTP()
	if sctp == nil {
		return 0
	}
	dtls := sctp.Transport()
	if dtls == nil {
		return 0
	}
	ice := dtls.ICETransport()
	if ice == nil {
		return 0
	}
	switch ice.State() {
	case webrtc.ICETransportStateConnected, webrtc.ICETransportStateCompleted:
	default:
		return 0
	}
	st, ok := ice.GetSelectedCandidatePairStats()
	if !ok {
		return 0
	}
	return st.CurrentRoundTripTime * 1000
}
