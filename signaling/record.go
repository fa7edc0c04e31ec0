package signaling

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// segment is one publisher connection's part of a recording.
type segment struct {
	path        string
	contentType string
	duration    time.Duration
	start       time.Time // wall time of its first frame, which orders segments
}

// cuesReserve is the space kept at the head of each file for the Cues
// (seek index); about 20 bytes per cue point, one per cluster of at
// least clusterMin, so 128 KiB covers a couple of hours before ebml-go
// starts thinning the index.
const (
	cuesReserve = 128 << 10
	clusterMin  = 1000  // ms: start a cluster (and a cue) at a keyframe after this
	clusterMax  = 30000 // ms: block timecodes are int16 offsets from the cluster's
)

// trackClock maps one track's RTP timestamps onto the local clock. Until
// the recorder can use sender reports it is anchored at the arrival time
// of the track's first packet, and from then on follows the RTP
// timestamps only (never summed sample durations, which drift and give a
// flushed last frame no duration).
type trackClock struct {
	rate     float64
	anchored bool
	base     time.Time
	last     uint32
	ext      int64 // unwrapped ticks since the first packet

	// The track's first RTCP sender report (RFC 3550 §6.4.1): the RTP
	// timestamp srRTP was sampled at the sender's wall clock srNTP.
	sr    bool
	srNTP time.Duration // since the NTP epoch (1900)
	srRTP uint32
}

func (c *trackClock) observe(ts uint32, now time.Time) {
	if !c.anchored {
		c.anchored, c.base, c.last = true, now, ts
	}
}

// arrival returns the arrival-anchored time of RTP timestamp ts.
// Timestamps may go back a little (reordered audio) but never jump by
// more than 2^31 ticks.
func (c *trackClock) arrival(ts uint32) time.Time {
	ext := c.ext + int64(int32(ts-c.last))
	return c.base.Add(time.Duration(float64(ext) / c.rate * float64(time.Second)))
}

// advance moves the unwrapping reference to ts, the latest sample's.
func (c *trackClock) advance(ts uint32) {
	c.ext += int64(int32(ts - c.last))
	c.last = ts
}

// sender returns the sender's wall clock (NTP) time of RTP timestamp ts.
func (c *trackClock) sender(ts uint32) time.Duration {
	return c.srNTP + time.Duration(float64(int32(ts-c.srRTP))/c.rate*float64(time.Second))
}

// ntpDuration converts a 64-bit NTP timestamp (RFC 5905 §6: 32 bits of
// seconds, 32 of fraction) to the time since the NTP epoch.
func ntpDuration(ntp uint64) time.Duration {
	return time.Duration(ntp>>32)*time.Second + time.Duration((ntp&0xffffffff)*uint64(time.Second)>>32)
}

// maxSyncSkew bounds how far sender-report timing may move a sample from
// its arrival-anchored time; beyond it the report is taken to be wrong
// (a sender with a broken clock) and arrival timing is kept.
const maxSyncSkew = 2 * time.Second

// keyframe is a decodable video frame handed to Snapshot.
type keyframe struct {
	codec string // webrtc.MimeTypeVP8 or webrtc.MimeTypeH264
	// data is the VP8 frame, or the H.264 access unit in Annex B form
	// with the SPS and PPS in front of its slices.
	data     []byte
	segStart time.Time     // start of the segment that holds it
	offset   time.Duration // its time in that segment
}

// recorder writes one publisher connection to one segment file. The file
// starts at the first video keyframe (or the first audio frame when there
// is no video); until then it asks for a keyframe through needKeyframe.
type recorder struct {
	log          *slog.Logger
	path         func(ext string) string // names the segment file once media starts
	video        *webrtc.RTPCodecParameters
	hasAudio     bool
	needKeyframe func()
	now          func() time.Time // the arrival clock; tests replace it

	mu       sync.Mutex
	vsb, asb *samplebuilder.SampleBuilder
	vclk     trackClock
	aclk     trackClock
	// epoch is the local time of the sender's NTP epoch: a sample's local
	// time is epoch plus its sender time, once every track has a sender
	// report. One offset for all tracks is what lines them up: a track
	// whose packets arrive later than the others' (a deeper jitter
	// buffer, another path) still lands at its sender time.
	epoch    time.Time
	epochSet bool
	file     string
	ctype    string
	vw, aw   webm.BlockWriteCloser
	start    time.Time
	last     time.Duration // latest frame time in the file
	step     time.Duration // a frame's duration, to end the file after its last frame
	prevV    time.Duration // previous video frame time
	// lastMS is the last block time written per track: a Matroska track's
	// blocks must advance, and a late or reordered packet can yield a
	// sample whose time does not.
	lastMS   map[webm.BlockWriteCloser]int64
	sps, pps []byte
	closed   bool
	failed   bool
	final    time.Duration   // the segment's duration, once closed
	waiters  []chan keyframe // Snapshot calls waiting for the next keyframe

	// maxSegment, when positive, starts a new segment file at the first
	// keyframe after the current one has run this long (rotation);
	// onRotate receives each segment so finished, under r.mu, so it must
	// not block. rotated holds them, in order, until the recorder closes.
	maxSegment time.Duration
	onRotate   func(*segment)
	rotated    []*segment
}

func newRecorder(log *slog.Logger, video *webrtc.RTPCodecParameters, hasAudio bool, path func(string) string, needKeyframe func()) *recorder {
	r := &recorder{log: log, video: video, hasAudio: hasAudio, path: path, needKeyframe: needKeyframe, now: time.Now}
	if video != nil {
		var d rtp.Depacketizer = &codecs.VP8Packet{}
		if video.MimeType == webrtc.MimeTypeH264 {
			d = &codecs.H264Packet{}
		}
		r.vsb = samplebuilder.New(256, d, video.ClockRate)
		r.vclk.rate = float64(video.ClockRate)
	}
	if hasAudio {
		r.asb = samplebuilder.New(64, &codecs.OpusPacket{}, 48000)
		r.aclk.rate = 48000
	}
	return r
}

// push records one RTP packet of the given kind.
func (r *recorder) push(kind webrtc.RTPCodecType, pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.failed {
		return
	}
	now := r.now()
	switch {
	case kind == webrtc.RTPCodecTypeVideo && r.vsb != nil:
		r.vclk.observe(pkt.Timestamp, now)
		r.vsb.Push(pkt)
		for s := r.vsb.Pop(); s != nil; s = r.vsb.Pop() {
			r.writeVideo(s)
		}
	case kind == webrtc.RTPCodecTypeAudio && r.asb != nil:
		r.aclk.observe(pkt.Timestamp, now)
		r.asb.Push(pkt)
		for s := r.asb.Pop(); s != nil; s = r.asb.Pop() {
			r.writeAudio(s)
		}
	}
}

// senderReport takes a track's RTCP sender report (RFC 3550 §6.4.1).
// Only each track's first report is used: it ties the track's RTP clock
// to the sender's wall clock, and from then on the track follows its RTP
// timestamps as before. Later reports would also correct the drift
// between a phone's audio and video clocks, but each correction moves a
// track's samples and so drops or stretches some, for a drift of a few
// tens of milliseconds over an inspection.
func (r *recorder) senderReport(kind webrtc.RTPCodecType, ntp uint64, rtpTime uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.aclk
	if kind == webrtc.RTPCodecTypeVideo {
		c = &r.vclk
	}
	if r.closed || ntp == 0 || c.rate == 0 || c.sr {
		return
	}
	c.sr, c.srNTP, c.srRTP = true, ntpDuration(ntp), rtpTime
	if !r.epochSet {
		// Against the track's own arrival-anchored clock, so that this
		// track keeps its timing when the recorder switches over.
		local := r.now()
		if c.anchored {
			local = c.arrival(rtpTime)
		}
		r.epoch, r.epochSet = local.Add(-c.srNTP), true
	}
}

// synced reports whether samples are placed by sender time: every track
// has had a sender report. Before that, tracks keep arrival anchoring.
func (r *recorder) synced() bool {
	return r.epochSet && (r.vsb == nil || r.vclk.sr) && (r.asb == nil || r.aclk.sr)
}

// at returns the local time of a track's sample with RTP timestamp ts.
func (r *recorder) at(c *trackClock, ts uint32) time.Time {
	t := c.arrival(ts)
	c.advance(ts)
	if !r.synced() {
		return t
	}
	if st := r.epoch.Add(c.sender(ts)); st.Sub(t) < maxSyncSkew && t.Sub(st) < maxSyncSkew {
		return st
	}
	return t
}

func (r *recorder) writeVideo(s *media.Sample) {
	at := r.at(&r.vclk, s.PacketTimestamp)
	data, key := s.Data, false
	var nals [][]byte
	if r.video.MimeType == webrtc.MimeTypeH264 {
		nals = annexBNALs(s.Data)
		for _, n := range nals {
			switch n[0] & 0x1f {
			case nalIDR:
				key = true
			case nalSPS:
				r.sps = n
			case nalPPS:
				r.pps = n
			}
		}
		key = key && r.sps != nil && r.pps != nil
		data = avccFrame(nals)
	} else {
		key = len(data) > 0 && data[0]&1 == 0 // RFC 6386 §9.1: inverse keyframe flag
	}
	if r.vw == nil {
		if !key {
			r.needKeyframe()
			return
		}
		if err := r.open(at, data); err != nil {
			r.log.Error("recording: open segment", "err", err)
			r.failed = true
			return
		}
	}
	if r.maxSegment > 0 && at.Sub(r.start) >= r.maxSegment {
		if !key {
			r.needKeyframe()
		} else if err := r.rotate(at, data); err != nil {
			r.log.Error("recording: rotate segment", "err", err)
			r.failed = true
			return
		}
	}
	if ts := at.Sub(r.start); ts > r.prevV {
		r.step, r.prevV = ts-r.prevV, ts
	}
	r.write(r.vw, key, at, data)
	if key && len(r.waiters) > 0 {
		kf := keyframe{codec: r.video.MimeType, segStart: r.start, offset: max(at.Sub(r.start), 0)}
		if kf.codec == webrtc.MimeTypeH264 {
			kf.data = annexBKeyframe(r.sps, r.pps, nals)
		} else {
			kf.data = append([]byte(nil), s.Data...)
		}
		for _, ch := range r.waiters {
			ch <- kf // buffered: each waiter gets exactly one
		}
		r.waiters = nil
	}
}

// waitKeyframe registers for the next keyframe written to the file. The
// channel yields it, or is closed without a value when the recorder
// closes first. It fails with ErrNoPublisher when the recorder is closed
// or has no video.
func (r *recorder) waitKeyframe() (chan keyframe, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed || r.video == nil:
		return nil, ErrNoPublisher
	case r.failed:
		return nil, errors.New("signaling: the recording failed, so no frames are decoded")
	}
	ch := make(chan keyframe, 1)
	r.waiters = append(r.waiters, ch)
	return ch, nil
}

// cancelWait forgets a waiter that stopped waiting.
func (r *recorder) cancelWait(ch chan keyframe) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiters = slices.DeleteFunc(r.waiters, func(c chan keyframe) bool { return c == ch })
}

// elapsed returns the segment's start and its duration so far. While
// the segment is open that runs up to now, or, when the recorder is being
// closed (closing), up to its last frame: the connection may have been
// silent for a while before it was given up. Once closed it is the final
// duration. ok is false while no media has been recorded.
func (r *recorder) elapsed(now time.Time, closing bool) (start time.Time, d time.Duration, open, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.file == "":
		return time.Time{}, 0, false, false
	case r.closed:
		return r.start, r.final, false, true
	case closing:
		return r.start, r.last + r.step, false, true
	}
	return r.start, max(now.Sub(r.start), 0), true, true
}

func (r *recorder) writeAudio(s *media.Sample) {
	at := r.at(&r.aclk, s.PacketTimestamp)
	if r.aw == nil && r.vw == nil && r.video == nil {
		if err := r.open(at, nil); err != nil {
			r.log.Error("recording: open segment", "err", err)
			r.failed = true
			return
		}
	}
	if r.aw == nil || at.Before(r.start) {
		return // before the first keyframe: the file starts with video
	}
	r.write(r.aw, true, at, s.Data)
}

func (r *recorder) write(w webm.BlockWriteCloser, key bool, at time.Time, data []byte) {
	ts := at.Sub(r.start)
	if r.lastMS == nil {
		r.lastMS = map[webm.BlockWriteCloser]int64{}
	}
	if prev, ok := r.lastMS[w]; ok && ts.Milliseconds() <= prev {
		// Not after the previous block of this track: a late fragment or
		// a reordered packet. Writing it would give players (and
		// ffmpeg) non-increasing timestamps; dropping it loses one stale
		// sample.
		return
	}
	r.lastMS[w] = ts.Milliseconds()
	if ts > r.last {
		r.last = ts
	}
	if _, err := w.Write(key, ts.Milliseconds(), data); err != nil {
		r.log.Error("recording: write", "err", err)
	}
}

// open creates the segment file at the first keyframe, whose frame gives
// the VP8 picture size or (for H.264) the SPS and PPS.
func (r *recorder) open(start time.Time, keyframe []byte) error {
	ext, doc, ctype := "webm", "webm", "video/webm"
	var tracks []webm.TrackEntry
	if r.video != nil {
		te := webm.TrackEntry{Name: "video", TrackNumber: 1, TrackUID: 1, TrackType: 1, Video: &webm.Video{}}
		if r.video.MimeType == webrtc.MimeTypeH264 {
			ext, doc, ctype = "mkv", "matroska", "video/x-matroska"
			te.CodecID = "V_MPEG4/ISO/AVC"
			te.CodecPrivate = avcDecoderConfig(r.sps, r.pps)
			te.Video.PixelWidth, te.Video.PixelHeight, _ = h264Size(r.sps)
		} else {
			te.CodecID = "V_VP8"
			te.Video.PixelWidth, te.Video.PixelHeight, _ = vp8Size(keyframe)
		}
		tracks = append(tracks, te)
	}
	if r.hasAudio {
		tracks = append(tracks, webm.TrackEntry{
			Name: "audio", TrackNumber: uint64(len(tracks) + 1), TrackUID: uint64(len(tracks) + 1), TrackType: 2,
			CodecID: "A_OPUS", CodecPrivate: opusHead(), Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
		})
	}
	path := r.path(ext)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	sorter, err := mkvcore.NewMultiTrackBlockSorter(
		mkvcore.WithMaxTimescaleDelay(500), mkvcore.WithSortRule(mkvcore.BlockSorterDropOutdated))
	if err != nil {
		f.Close()
		return err
	}
	header := *webm.DefaultEBMLHeader // a copy: ebml-go's defaults are shared package variables
	header.DocType = doc
	opts := []mkvcore.BlockWriterOption{
		mkvcore.WithEBMLHeader(&header),
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "siteinspect", WritingApp: "siteinspect"}),
		mkvcore.WithBlockInterceptor(sorter),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserve),
		mkvcore.WithOnFatalHandler(func(err error) { r.log.Error("recording: fatal", "path", path, "err", err) }),
		mkvcore.WithOnErrorHandler(func(err error) { r.log.Debug("recording", "path", path, "err", err) }),
	}
	if r.video != nil {
		opts = append(opts, mkvcore.WithMinMaxClusterDuration(1, clusterMin, clusterMax))
	}
	ws, err := webm.NewSimpleBlockWriter(f, tracks, opts...)
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("webm writer: %w", err)
	}
	r.file, r.ctype, r.start = path, ctype, start
	if r.video != nil {
		r.vw, ws = ws[0], ws[1:]
	}
	if r.hasAudio {
		r.aw = ws[0]
	}
	r.log.Info("recording: segment started", "path", path)
	return nil
}

// finish finalizes the current file (closing the last track's writer
// blocks until its cues and duration are written) and returns it as a
// segment. The caller holds r.mu.
func (r *recorder) finish() *segment {
	for _, w := range []webm.BlockWriteCloser{r.vw, r.aw} {
		if w != nil {
			w.Close()
		}
	}
	if r.step == 0 || r.step > time.Second {
		r.step = 20 * time.Millisecond // audio only, or a single video frame
	}
	d := r.last + r.step
	r.log.Info("recording: segment finished", "path", r.file, "duration", d)
	return &segment{path: r.file, contentType: r.ctype, duration: d, start: r.start}
}

// rotate finishes the current file at keyframe (at, data) and starts the
// next one with it, so that a segment never runs much longer than
// maxSegment: each finished segment can be stored at once, and a crash
// loses at most the one being written. The caller holds r.mu.
func (r *recorder) rotate(at time.Time, data []byte) error {
	seg := r.finish()
	// The next file starts at this keyframe: its segment begins where
	// this one ends, so the joined recording has no gap or overlap.
	seg.duration = max(at.Sub(r.start), 0)
	r.rotated = append(r.rotated, seg)
	r.vw, r.aw, r.file, r.lastMS, r.last, r.prevV = nil, nil, "", nil, 0, 0
	if r.onRotate != nil {
		r.onRotate(seg) // it must not block: it hands seg to a goroutine
	}
	return r.open(at, data)
}

// rotatedSegments returns the segments finished by rotation so far.
func (r *recorder) rotatedSegments() []*segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*segment(nil), r.rotated...)
}

// close flushes the frames the samplebuilders still hold and finalizes
// the file (cues, duration). It returns nil if no media was recorded.
// Segments finished by rotation before are in rotatedSegments.
func (r *recorder) close() *segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	defer func() {
		for _, ch := range r.waiters {
			close(ch)
		}
		r.waiters = nil
	}()
	if r.vsb != nil && !r.failed {
		r.vsb.Flush()
		for s := r.vsb.Pop(); s != nil; s = r.vsb.Pop() {
			r.writeVideo(s)
		}
	}
	if r.asb != nil && !r.failed {
		r.asb.Flush()
		for s := r.asb.Pop(); s != nil; s = r.asb.Pop() {
			r.writeAudio(s)
		}
	}
	if r.file == "" {
		for _, w := range []webm.BlockWriteCloser{r.vw, r.aw} {
			if w != nil {
				w.Close()
			}
		}
		return nil
	}
	seg := r.finish()
	r.final = seg.duration
	return seg
}

// segmentPath names segment n of a session's recording.
func segmentPath(dir string, n int, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%d.%s", n, ext))
}
