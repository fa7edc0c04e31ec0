package signaling

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// trackClock maps one track's RTP timestamps onto the wall clock. It is
// anchored at the arrival time of the track's first packet, and from then
// on follows the RTP timestamps only (never summed sample durations, which
// drift and give a flushed last frame no duration).
type trackClock struct {
	rate     float64
	anchored bool
	base     time.Time
	last     uint32
	ext      int64 // unwrapped ticks since the first packet
}

func (c *trackClock) observe(ts uint32, now time.Time) {
	if !c.anchored {
		c.anchored, c.base, c.last = true, now, ts
	}
}

// at returns the wall time of RTP timestamp ts. Timestamps may go back a
// little (reordered audio) but never jump by more than 2^31 ticks.
func (c *trackClock) at(ts uint32) time.Time {
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return c.base.Add(time.Duration(float64(c.ext) / c.rate * float64(time.Second)))
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

	mu       sync.Mutex
	vsb, asb *samplebuilder.SampleBuilder
	vclk     trackClock
	aclk     trackClock
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
}

func newRecorder(log *slog.Logger, video *webrtc.RTPCodecParameters, hasAudio bool, path func(string) string, needKeyframe func()) *recorder {
	r := &recorder{log: log, video: video, hasAudio: hasAudio, path: path, needKeyframe: needKeyframe}
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
	now := time.Now()
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

func (r *recorder) writeVideo(s *media.Sample) {
	at := r.vclk.at(s.PacketTimestamp)
	data, key := s.Data, false
	if r.video.MimeType == webrtc.MimeTypeH264 {
		nals := annexBNALs(s.Data)
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
	if ts := at.Sub(r.start); ts > r.prevV {
		r.step, r.prevV = ts-r.prevV, ts
	}
	r.write(r.vw, key, at, data)
}

func (r *recorder) writeAudio(s *media.Sample) {
	at := r.aclk.at(s.PacketTimestamp)
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

// close flushes the frames the samplebuilders still hold and finalizes
// the file (cues, duration). It returns nil if no media was recorded.
func (r *recorder) close() *segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
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
	// Closing the last track's writer blocks until the file is finalized.
	for _, w := range []webm.BlockWriteCloser{r.vw, r.aw} {
		if w != nil {
			w.Close()
		}
	}
	if r.file == "" {
		return nil
	}
	if r.step == 0 || r.step > time.Second {
		r.step = 20 * time.Millisecond // audio only, or a single video frame
	}
	d := r.last + r.step
	r.log.Info("recording: segment finished", "path", r.file, "duration", d)
	return &segment{path: r.file, contentType: r.ctype, duration: d, start: r.start}
}

// segmentPath names segment n of a session's recording.
func segmentPath(dir string, n int, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%d.%s", n, ext))
}
