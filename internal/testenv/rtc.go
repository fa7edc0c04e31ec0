package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Codecs the test peers offer, as a browser (VP8), OBS (H.264) and every
// WebRTC client (Opus) would.
var (
	CodecVP8  = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	CodecH264 = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}
	CodecOpus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}
)

// FreeUDPPort returns a UDP port nobody uses right now, for a server's
// --webrtc-udp-port (Config.UDPMuxPort).
func FreeUDPPort(tb testing.TB) int {
	tb.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		tb.Fatal(err)
	}
	defer u.Close()
	return u.LocalAddr().(*net.UDPAddr).Port
}

// RTCMedia is media for test publishers, made once per process with ffmpeg:
// 10 s of VP8 (IVF) and H.264 (Annex B, baseline) at 30 fps with a
// keyframe a second, and Opus (OGG, one packet per page).
type RTCMedia struct{ IVF, H264, OGG string }

var rtcMedia struct {
	once sync.Once
	m    RTCMedia
	err  error
}

// MustRTCMedia returns the shared test media, generating it on first use in
// a directory removed when the process exits (not per test: it is reused).
func MustRTCMedia(tb testing.TB) RTCMedia {
	tb.Helper()
	rtcMedia.once.Do(func() {
		dir, err := os.MkdirTemp("", "siteinspect-rtc-")
		if err != nil {
			rtcMedia.err = err
			return
		}
		m := RTCMedia{IVF: filepath.Join(dir, "v.ivf"), H264: filepath.Join(dir, "v.h264"), OGG: filepath.Join(dir, "a.ogg")}
		for _, args := range [][]string{
			{"-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-t", "10", "-c:v", "libvpx", "-b:v", "1200k", "-deadline", "realtime", "-g", "30", m.IVF},
			{"-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-t", "10", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
				"-g", "30", "-bsf:v", "h264_mp4toannexb", "-f", "h264", m.H264},
			{"-f", "lavfi", "-i", "sine=frequency=440", "-t", "10", "-c:a", "libopus", "-page_duration", "20000", m.OGG},
		} {
			if err := ffmpegRun(args...); err != nil {
				rtcMedia.err = err
				return
			}
		}
		rtcMedia.m = m
	})
	if rtcMedia.err != nil {
		tb.Fatalf("generate WebRTC media: %v", rtcMedia.err)
	}
	return rtcMedia.m
}

// ClientAPI is a pion stack for a test peer offering exactly video and
// Opus, with loopback candidates (the sandbox has only loopback), and any
// extra interceptors (a benchmark's pacer and clock, innermost first).
func ClientAPI(tb testing.TB, video webrtc.RTPCodecParameters, extra ...interceptor.Factory) *webrtc.API {
	tb.Helper()
	return ClientAPIWith(tb, video, nil, extra...)
}

// ClientAPIWith is ClientAPI with setting applied to its SettingEngine
// (network types, timeouts).
func ClientAPIWith(tb testing.TB, video webrtc.RTPCodecParameters, setting func(*webrtc.SettingEngine), extra ...interceptor.Factory) *webrtc.API {
	tb.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(video, webrtc.RTPCodecTypeVideo); err != nil {
		tb.Fatal(err)
	}
	if err := me.RegisterCodec(CodecOpus, webrtc.RTPCodecTypeAudio); err != nil {
		tb.Fatal(err)
	}
	// The extras come first, so they sit nearest the network: a pacer
	// paces what the defaults (NACK, reports) hand it, and a clock sees
	// the moment a packet leaves.
	reg := &interceptor.Registry{}
	for _, f := range extra {
		reg.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	if setting != nil {
		setting(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// BareAPI is a pion stack with VP8 and Opus and no interceptors (no
// reports, NACKs or congestion feedback): the cheapest receiver, for load
// generators whose own CPU would otherwise crowd the server they measure.
func BareAPI(tb testing.TB) *webrtc.API {
	tb.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(CodecVP8, webrtc.RTPCodecTypeVideo); err != nil {
		tb.Fatal(err)
	}
	if err := me.RegisterCodec(CodecOpus, webrtc.RTPCodecTypeAudio); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// Signal sends an offer to a WHIP or WHEP endpoint (or straight to the
// signaling package) and returns the answer and the resource id.
type Signal func(offer string) (answer, resource string, err error)

// Publisher is a Go WHIP client: video and Opus sendonly, as OBS sends, or
// with audio sendrecv as the phone page offers it (two-way).
type Publisher struct {
	PC           *webrtc.PeerConnection
	Resource     string
	Answer       string
	Video, Audio *webrtc.TrackLocalStaticSample
	Connected    chan struct{}
	PLIs         atomic.Int32
	// Heard counts the audio packets a two-way publisher received (the
	// officer talking); heardSeq holds their sequence numbers.
	Heard    atomic.Int64
	heardMu  sync.Mutex
	heardSeq []uint16
}

// HeardSeqs returns the sequence numbers of the audio packets heard so far.
func (p *Publisher) HeardSeqs() []uint16 {
	p.heardMu.Lock()
	defer p.heardMu.Unlock()
	return slices.Clone(p.heardSeq)
}

// Publish connects a publisher through signal and waits until it is
// connected. It does not send media: call Send.
func Publish(tb testing.TB, video webrtc.RTPCodecParameters, signal Signal) *Publisher {
	tb.Helper()
	return PublishWith(tb, ClientAPI(tb, video), video, false, signal)
}

// PublishWith is Publish on a given pion stack; twoWay offers audio
// sendrecv, so the publisher also hears what the server sends back.
func PublishWith(tb testing.TB, api *webrtc.API, video webrtc.RTPCodecParameters, twoWay bool, signal Signal) *Publisher {
	tb.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &Publisher{PC: pc, Connected: make(chan struct{})}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			p.Heard.Add(1)
			p.heardMu.Lock()
			p.heardSeq = append(p.heardSeq, pkt.SequenceNumber)
			p.heardMu.Unlock()
		}
	})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.Connected) })
		}
	})
	p.Video, _ = webrtc.NewTrackLocalStaticSample(video.RTPCodecCapability, "video", "phone")
	p.Audio, _ = webrtc.NewTrackLocalStaticSample(CodecOpus.RTPCodecCapability, "audio", "phone")
	for _, t := range []*webrtc.TrackLocalStaticSample{p.Video, p.Audio} {
		dir := webrtc.RTPTransceiverDirectionSendonly
		if twoWay && t == p.Audio {
			dir = webrtc.RTPTransceiverDirectionSendrecv
		}
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: dir})
		if err != nil {
			tb.Fatal(err)
		}
		go func() { // RTCP must be read for the interceptors; count PLIs
			for {
				pkts, _, err := tr.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						p.PLIs.Add(1)
					}
				}
			}
		}()
	}
	answer, id, err := signal(Offer(tb, pc))
	if err != nil {
		pc.Close()
		tb.Fatalf("publish: %v", err)
	}
	p.Resource, p.Answer = id, answer
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.Connected:
	case <-time.After(10 * time.Second):
		tb.Fatal("publisher did not connect")
	}
	return p
}

// Send sends the media's video (VP8 or H.264 by the track's codec) and
// Opus together at real time for up to limit, and returns the media time
// sent.
func (p *Publisher) Send(tb testing.TB, m RTCMedia, limit time.Duration) time.Duration {
	var wg sync.WaitGroup
	var sent time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		SendOpus(tb, p.Audio, m.OGG, limit)
	}()
	if p.Video.Codec().MimeType == webrtc.MimeTypeH264 {
		sent = SendH264(tb, p.Video, m.H264, limit)
	} else {
		sent = SendVP8(tb, p.Video, m.IVF, limit)
	}
	wg.Wait()
	return sent
}

// Offer creates pc's offer and waits for all candidates (WHIP sends them in
// the offer).
func Offer(tb testing.TB, pc *webrtc.PeerConnection) string {
	tb.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// Frames reads a test clip's video frames: the VP8 frames of an IVF file,
// or the H.264 access units (Annex B) of an elementary stream at 30 fps,
// and the duration of a frame.
func Frames(tb testing.TB, path, mimeType string) ([][]byte, time.Duration) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var frames [][]byte
	if mimeType == webrtc.MimeTypeVP8 {
		r, h, err := ivfreader.NewWith(f)
		if err != nil {
			tb.Fatal(err)
		}
		for {
			b, _, err := r.ParseNextFrame()
			if err != nil {
				return frames, time.Duration(float64(time.Second) * float64(h.TimebaseNumerator) / float64(h.TimebaseDenominator))
			}
			frames = append(frames, b)
		}
	}
	r, err := h264reader.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var au []byte
	for {
		nal, err := r.NextNAL()
		if err != nil {
			return frames, time.Second / 30
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
		if t := nal.UnitType; t == h264reader.NalUnitTypeCodedSliceIdr || t == h264reader.NalUnitTypeCodedSliceNonIdr {
			frames, au = append(frames, au), nil
		}
	}
}

// SendFrames sends frames one every frame until they run out or limit
// passes, and returns the media time sent.
func SendFrames(track *webrtc.TrackLocalStaticSample, frames [][]byte, frame, limit time.Duration) time.Duration {
	i := 0
	return Pace(frame, limit, func() bool {
		if i == len(frames) {
			return false
		}
		_ = track.WriteSample(media.Sample{Data: frames[i], Duration: frame})
		i++
		return true
	})
}

// SendVP8 sends the IVF file's frames at their frame rate; it returns the
// media time sent.
func SendVP8(tb testing.TB, track *webrtc.TrackLocalStaticSample, path string, limit time.Duration) time.Duration {
	frames, frame := Frames(tb, path, webrtc.MimeTypeVP8)
	return SendFrames(track, frames, frame, limit)
}

// SendH264 sends the Annex B file one access unit per frame at 30 fps.
func SendH264(tb testing.TB, track *webrtc.TrackLocalStaticSample, path string, limit time.Duration) time.Duration {
	frames, frame := Frames(tb, path, webrtc.MimeTypeH264)
	return SendFrames(track, frames, frame, limit)
}

// SendOpus sends the OGG file's pages (one Opus packet each) at real time.
func SendOpus(tb testing.TB, track *webrtc.TrackLocalStaticSample, path string, limit time.Duration) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		tb.Error(err)
		return 0
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		tb.Error(err)
		return 0
	}
	var last uint64
	return Pace(20*time.Millisecond, limit, func() bool {
		for {
			page, hdr, err := r.ParseNextPage()
			if err != nil {
				return false
			}
			if len(page) >= 8 && string(page[:8]) == "OpusTags" {
				continue
			}
			n := hdr.GranulePosition - last
			last = hdr.GranulePosition
			_ = track.WriteSample(media.Sample{Data: page, Duration: time.Duration(n) * time.Second / 48000})
			return true
		}
	})
}

// Pace calls step every interval until it returns false or limit passes,
// and returns the media time sent: the steps times interval. On a busy
// machine the ticker lags, so this is less than the wall time, and it is
// what the RTP timestamps (and so the recording) follow.
func Pace(interval, limit time.Duration, step func() bool) time.Duration {
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	var n int
	for time.Since(start) < limit && step() {
		n++
		<-t.C
	}
	return time.Duration(n) * interval
}

// Viewer is a Go WHEP client counting the RTP packets it receives.
type Viewer struct {
	PC           *webrtc.PeerConnection
	Resource     string
	VideoPackets atomic.Int64
	AudioPackets atomic.Int64
}

// View connects a recvonly viewer through signal.
func View(tb testing.TB, signal Signal) *Viewer {
	tb.Helper()
	return ViewWith(tb, ClientAPI(tb, CodecVP8), signal, nil)
}

// ViewWith is View on a given pion stack, calling onVideo with each video
// packet's sequence number as it is read (ReadTrack).
func ViewWith(tb testing.TB, api *webrtc.API, signal Signal, onVideo func(seq uint16)) *Viewer {
	tb.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v := &Viewer{PC: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &v.AudioPackets
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			n = &v.VideoPackets
		}
		ReadTrack(t, onVideo, n)
	})
	answer, id, err := signal(Offer(tb, pc))
	if err != nil {
		pc.Close()
		tb.Fatalf("view: %v", err)
	}
	v.Resource = id
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		tb.Fatal(err)
	}
	return v
}

// ReadTrack reads t until it ends into one reused buffer, taking only
// the sequence number from each packet's header (RFC 3550 §5.1, bytes
// 2-3), so that hundreds of receivers in one process cost little next to
// the server they measure. onVideo, if set, gets each video packet's
// number; count, if set, counts the packets.
func ReadTrack(t *webrtc.TrackRemote, onVideo func(seq uint16), count *atomic.Int64) {
	buf := make([]byte, 1500)
	video := t.Kind() == webrtc.RTPCodecTypeVideo && onVideo != nil
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if video && n >= 4 {
			onVideo(uint16(buf[2])<<8 | uint16(buf[3]))
		}
		if count != nil {
			count.Add(1)
		}
	}
}

func ffmpegRun(args ...string) error {
	out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// removeRTCMedia deletes the shared media when the test process ends.
func removeRTCMedia() {
	if rtcMedia.m.IVF != "" {
		os.RemoveAll(filepath.Dir(rtcMedia.m.IVF))
	}
}

// MustDecodeClean decodes every frame of the recording at path with ffmpeg
// and fails tb on any error or warning, keeping a copy of the file in
// tb.ArtifactDir() to look at.
//
// It decodes at the file's own millisecond timestamps (-enc_time_base -1).
// A plain `-f null -` first rounds each frame's time to 1/fps of the rate
// it guesses, 30 or 29.97 for a 30 fps recording, and reports two frames
// that land on one tick as "non monotonically increasing dts": about its
// own output, not the file. A recording's frames come 33 or 34 ms apart,
// and a browser's capture jitter, or the recorder moving video by a few
// ms when it lines the tracks up at the first sender reports, lands some
// of them on one tick; a copy of a recording with its frames after the
// 30th moved by 21 ms gives that message three times at 29.97. The
// recorder writes each track's timestamps strictly increasing; at the
// file's time base the null output still checks that they do.
func MustDecodeClean(tb testing.TB, path string) {
	tb.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	if err == nil && len(out) == 0 {
		return
	}
	keep := filepath.Join(tb.ArtifactDir(), filepath.Base(path))
	if b, rerr := os.ReadFile(path); rerr == nil && os.WriteFile(keep, b, 0o644) == nil {
		tb.Logf("recording kept: %s", keep)
	}
	tb.Errorf("decoding %s: got %v and %q, want no error and no output", path, err, out)
}
