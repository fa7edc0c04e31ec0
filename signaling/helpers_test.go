package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// testMedia holds media files generated once per test run with ffmpeg.
var testMedia struct {
	once           sync.Once
	dir            string
	ivf, ogg, h264 string
	err            error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testMedia.dir != "" {
		os.RemoveAll(testMedia.dir)
	}
	os.Exit(code)
}

// mustMedia generates 3 s of VP8 (IVF), H.264 (Annex B) and Opus (OGG,
// one packet per page so each page is one sample).
func mustMedia(tb testing.TB) (ivf, ogg, h264 string) {
	tb.Helper()
	testMedia.once.Do(func() {
		if testMedia.dir, testMedia.err = os.MkdirTemp("", "signaling-media-"); testMedia.err != nil {
			return
		}
		d := testMedia.dir
		testMedia.ivf, testMedia.ogg, testMedia.h264 = filepath.Join(d, "x.ivf"), filepath.Join(d, "x.ogg"), filepath.Join(d, "x.h264")
		for _, args := range [][]string{
			{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3", "-c:v", "libvpx", "-b:v", "500k", "-g", "30", testMedia.ivf},
			{"-f", "lavfi", "-i", "sine=frequency=440", "-t", "3", "-c:a", "libopus", "-page_duration", "20000", testMedia.ogg},
			{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3", "-c:v", "libx264", "-profile:v", "baseline",
				"-pix_fmt", "yuv420p", "-g", "30", "-bsf:v", "h264_mp4toannexb", "-f", "h264", testMedia.h264},
		} {
			out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
			if err != nil {
				testMedia.err = errors.New(err.Error() + ": " + string(out))
				return
			}
		}
	})
	if testMedia.err != nil {
		tb.Fatalf("generate media: %v", testMedia.err)
	}
	return testMedia.ivf, testMedia.ogg, testMedia.h264
}

func mustManager(tb testing.TB) *Manager {
	tb.Helper()
	return mustManagerWith(tb, Config{})
}

// mustManagerWith makes a Manager from cfg, gathering loopback candidates
// and recording into a temporary directory.
func mustManagerWith(tb testing.TB, cfg Config) *Manager {
	tb.Helper()
	cfg.IncludeLoopback, cfg.RecordDir = true, tb.TempDir()
	m, err := NewManager(cfg)
	if err != nil {
		tb.Fatalf("NewManager: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// clientAPI is a pion stack for the test's own peers, offering exactly the
// given video codec (as OBS or a phone would) and Opus; clientAPIWith
// adjusts its SettingEngine.
func clientAPI(tb testing.TB, video webrtc.RTPCodecParameters) *webrtc.API {
	tb.Helper()
	return testenv.ClientAPI(tb, video)
}

func clientAPIWith(tb testing.TB, video webrtc.RTPCodecParameters, setting func(*webrtc.SettingEngine)) *webrtc.API {
	tb.Helper()
	return testenv.ClientAPIWith(tb, video, setting)
}

// testPublisher is testenv's Go WHIP client publishing straight into a
// Manager, under the short names these tests use.
type testPublisher struct {
	*testenv.Publisher
	pc           *webrtc.PeerConnection
	resourceID   string
	answer       string
	video, audio *webrtc.TrackLocalStaticSample
	connected    chan struct{}
	plis         *atomic.Int32
	heard        *atomic.Int64
}

// publishOptions shape a test publisher.
type publishOptions struct {
	video webrtc.RTPCodecParameters
	// twoWay offers audio sendrecv: the phone also hears the talker.
	twoWay bool
	// setting adjusts the client's SettingEngine (network types).
	setting func(*webrtc.SettingEngine)
}

func mustPublish(tb testing.TB, m *Manager, sessionID string, video webrtc.RTPCodecParameters) *testPublisher {
	tb.Helper()
	return mustPublishWith(tb, m, sessionID, publishOptions{video: video})
}

func mustPublishWith(tb testing.TB, m *Manager, sessionID string, o publishOptions) *testPublisher {
	tb.Helper()
	p := testenv.PublishWith(tb, clientAPIWith(tb, o.video, o.setting), o.video, o.twoWay, func(offer string) (string, string, error) {
		return m.Publish(context.Background(), sessionID, offer)
	})
	return &testPublisher{Publisher: p, pc: p.PC, resourceID: p.Resource, answer: p.Answer, video: p.Video, audio: p.Audio,
		connected: p.Connected, plis: &p.PLIs, heard: &p.Heard}
}

// heardSeqs returns the sequence numbers of the talkback packets so far.
func (p *testPublisher) heardSeqs() []uint16 { return p.HeardSeqs() }

// The test peers' offer and media pacing are shared with the HTTP-level
// tests (internal/testenv).
var (
	mustOffer = testenv.Offer
	sendVP8   = testenv.SendVP8
	sendH264  = testenv.SendH264
	sendOpus  = testenv.SendOpus
	pace      = testenv.Pace
)

// testViewer is a Go WHEP client counting the RTP packets it receives.
type testViewer struct {
	pc         *webrtc.PeerConnection
	resourceID string
	video      atomic.Int64
	audio      atomic.Int64
	connected  chan struct{}
	// mic sends the officer's voice (viewers made with talk set).
	mic *webrtc.TrackLocalStaticSample
}

func mustView(tb testing.TB, m *Manager, sessionID string) *testViewer {
	tb.Helper()
	return mustViewWith(tb, m, sessionID, false)
}

// mustViewWith makes a viewer; with talk, its audio is sendrecv and it
// has a microphone track.
func mustViewWith(tb testing.TB, m *Manager, sessionID string, talk bool) *testViewer {
	tb.Helper()
	pc, err := clientAPI(tb, codecVP8).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v := &testViewer{pc: pc, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(v.connected) })
		}
	})
	recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recv); err != nil {
		tb.Fatal(err)
	}
	if talk {
		v.mic, _ = webrtc.NewTrackLocalStaticSample(codecOpus.RTPCodecCapability, "audio", "officer")
		if _, err := pc.AddTransceiverFromTrack(v.mic, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			tb.Fatal(err)
		}
	} else if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recv); err != nil {
		tb.Fatal(err)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &v.audio
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			n = &v.video
		}
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
			n.Add(1)
		}
	})
	answer, id, err := m.View(context.Background(), sessionID, mustOffer(tb, pc))
	if err != nil {
		pc.Close()
		tb.Fatalf("View: %v", err)
	}
	v.resourceID = id
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		tb.Fatal(err)
	}
	return v
}

// probe is what ffprobe says of a recording.
type probe struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func (p probe) duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

func mustProbe(tb testing.TB, path string) probe {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// waitConnected waits for ch (a peer's connected signal) for up to 10 s.
func waitConnected(tb testing.TB, ch chan struct{}, who string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s did not connect", who)
	}
}

// mustFrames reads the test clip's video frames (VP8 or H.264 access units).
func mustFrames(tb testing.TB, codec webrtc.RTPCodecParameters) [][]byte {
	tb.Helper()
	ivf, _, h264 := mustMedia(tb)
	path := h264
	if codec.MimeType == webrtc.MimeTypeVP8 {
		path = ivf
	}
	frames, _ := testenv.Frames(tb, path, codec.MimeType)
	return frames
}

// sendFrames sends frames at 30 fps.
func sendFrames(track *webrtc.TrackLocalStaticSample, frames [][]byte) {
	testenv.SendFrames(track, frames, time.Second/30, time.Hour)
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// settleGoroutines waits for the goroutine count to fall to at most want.
func settleGoroutines(want int, d time.Duration) int {
	var n int
	waitFor(d, func() bool { n = runtime.NumGoroutine(); return n <= want })
	return n
}

// mustViewVia connects a receive-only viewer made by api (the test's own
// pion stack) to session sessionID, handing every RTP packet it reads to
// onPacket, and returns its connection and resource id. The connection
// closes when the test ends.
func mustViewVia(tb testing.TB, m *Manager, sessionID string, api *webrtc.API, onPacket func(webrtc.RTPCodecType, *rtp.Packet)) (*webrtc.PeerConnection, string) {
	tb.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, recv); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			onPacket(tr.Kind(), p)
		}
	})
	answer, id, err := m.View(context.Background(), sessionID, mustOffer(tb, pc))
	if err != nil {
		tb.Fatalf("View: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		tb.Fatal(err)
	}
	return pc, id
}

// publishFor publishes the test media from p for up to limit in the
// background; the returned function waits for it to end.
func publishFor(t *testing.T, p *testPublisher, limit time.Duration) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishFiles(t, p, codecVP8, limit)
	}()
	return func() { <-done }
}
