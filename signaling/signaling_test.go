package signaling

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// publishFiles sends video and audio at real time for up to limit and
// returns the video's publishing time (first frame to last).
func publishFiles(t *testing.T, p *testPublisher, video webrtc.RTPCodecParameters, limit time.Duration) time.Duration {
	t.Helper()
	ivf, ogg, h264 := mustMedia(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendOpus(t, p.audio, ogg, limit)
	}()
	var d time.Duration
	if video.MimeType == webrtc.MimeTypeH264 {
		d = sendH264(t, p.video, h264, limit)
	} else {
		d = sendVP8(t, p.video, ivf, limit)
	}
	wg.Wait()
	return d
}

func within(got, want time.Duration, frac float64) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return float64(diff) <= frac*float64(want)
}

func TestPublishViewRecordVP8(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	pub := mustPublish(t, m, "case1-live1", codecVP8)
	defer pub.pc.Close()
	view := mustView(t, m, "case1-live1")
	defer view.pc.Close()

	published := publishFiles(t, pub, codecVP8, 10*time.Second)
	if !waitFor(2*time.Second, func() bool { return view.video.Load() > 0 && view.audio.Load() > 0 }) {
		t.Errorf("viewer got %d video and %d audio packets, want some of each", view.video.Load(), view.audio.Load())
	}
	if n := pub.plis.Load(); n < 1 {
		t.Errorf("publisher got %d PLIs, want at least 1 (viewer join)", n)
	}
	rec, err := m.End("case1-live1")
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	if rec == nil || rec.ContentType != "video/webm" || rec.Segments != 1 || !strings.HasSuffix(rec.Path, ".webm") {
		t.Fatalf("got recording %+v, want one WebM segment", rec)
	}
	p := mustProbe(t, rec.Path)
	t.Logf("published %v, recording %v (ffprobe %v), streams %+v", published, rec.Duration, p.duration(), p.Streams)
	if !strings.Contains(p.Format.FormatName, "webm") {
		t.Errorf("got format %q, want webm", p.Format.FormatName)
	}
	if !within(p.duration(), published, 0.05) {
		t.Errorf("got duration %v, want %v ± 5%%", p.duration(), published)
	}
	codecs := map[string]bool{}
	for _, s := range p.Streams {
		codecs[s.CodecName] = true
		if s.CodecType == "video" && (s.Width != 320 || s.Height != 240) {
			t.Errorf("got video %dx%d, want 320x240", s.Width, s.Height)
		}
	}
	if !codecs["vp8"] || !codecs["opus"] {
		t.Errorf("got codecs %v, want vp8 and opus", codecs)
	}
	testenv.MustDecodeClean(t, rec.Path)
}

func TestPublishRecordH264(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	pub := mustPublish(t, m, "obs", codecH264)
	defer pub.pc.Close()
	published := publishFiles(t, pub, codecH264, 10*time.Second)
	if err := m.Unpublish("obs", pub.resourceID); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	rec, err := m.End("obs")
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	if rec == nil || rec.ContentType != "video/x-matroska" || !strings.HasSuffix(rec.Path, ".mkv") {
		t.Fatalf("got recording %+v, want Matroska", rec)
	}
	p := mustProbe(t, rec.Path)
	t.Logf("published %v, recording %v (ffprobe %v), streams %+v", published, rec.Duration, p.duration(), p.Streams)
	if !strings.Contains(p.Format.FormatName, "matroska") {
		t.Errorf("got format %q, want matroska", p.Format.FormatName)
	}
	var h264 bool
	for _, s := range p.Streams {
		if s.CodecName == "h264" {
			h264 = true
			if s.Width != 320 || s.Height != 240 {
				t.Errorf("got video %dx%d, want 320x240", s.Width, s.Height)
			}
		}
	}
	if !h264 {
		t.Errorf("got streams %+v, want h264", p.Streams)
	}
	if !within(p.duration(), published, 0.05) {
		t.Errorf("got duration %v, want %v ± 5%%", p.duration(), published)
	}
	testenv.MustDecodeClean(t, rec.Path)
}

func TestErrors(t *testing.T) {
	m := mustManager(t)
	ctx := context.Background()
	for _, offer := range []string{"", "hello", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"} {
		if _, _, err := m.Publish(ctx, "s1", offer); !errors.Is(err, ErrBadSDP) {
			t.Errorf("Publish(%q): got %v, want ErrBadSDP", offer, err)
		}
	}
	if _, _, err := m.View(ctx, "nosuch", "v=0"); !errors.Is(err, ErrNoSession) {
		t.Errorf("View: got %v, want ErrNoSession", err)
	}
	if err := m.Trickle("nosuch", "r", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Trickle: got %v, want ErrNoSession", err)
	}
	if _, err := m.End("nosuch"); !errors.Is(err, ErrNoSession) {
		t.Errorf("End: got %v, want ErrNoSession", err)
	}
	if _, _, err := m.Publish(ctx, "../etc", "v=0"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Publish(../etc): got %v, want ErrInvalidID", err)
	}

	pub := mustPublish(t, m, "s2", codecVP8)
	defer pub.pc.Close()
	if err := m.Trickle("s2", "wrong", ""); !errors.Is(err, ErrNoPublisher) {
		t.Errorf("Trickle(wrong resource): got %v, want ErrNoPublisher", err)
	}
	if err := m.Trickle("s2", pub.resourceID, "a=ice-ufrag:new\r\na=ice-pwd:newnewnewnewnewnewnewnew\r\n"); !errors.Is(err, ErrICERestart) {
		t.Errorf("Trickle(new credentials): got %v, want ErrICERestart", err)
	}
	if err := m.Trickle("s2", pub.resourceID, "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n"); err != nil {
		t.Errorf("Trickle(candidate): got %v, want nil", err)
	}
	if err := m.Trickle("s2", pub.resourceID, "garbage"); !errors.Is(err, ErrBadSDP) {
		t.Errorf("Trickle(garbage): got %v, want ErrBadSDP", err)
	}
	if _, _, err := m.View(ctx, "s2", "garbage"); !errors.Is(err, ErrBadSDP) {
		t.Errorf("View(garbage): got %v, want ErrBadSDP", err)
	}
	if err := m.StopViewing("s2", "nosuch"); !errors.Is(err, ErrNoViewer) {
		t.Errorf("StopViewing: got %v, want ErrNoViewer", err)
	}
	if rec, err := m.End("s2"); err != nil || rec != nil {
		t.Errorf("End without media: got %+v, %v; want nil, nil", rec, err)
	}
}

// A publisher that vanishes without a WHIP DELETE keeps what was recorded;
// its reconnect continues the recording as a second segment.
func TestPublisherDropAndReconnect(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	const outage = 700 * time.Millisecond
	a := mustPublish(t, m, "drop", codecVP8)
	view := mustView(t, m, "drop")
	defer view.pc.Close()
	first := publishFiles(t, a, codecVP8, 1500*time.Millisecond)
	time.Sleep(150 * time.Millisecond) // let the last frames arrive: this measures the recorder, not in-flight loss
	a.pc.Close()                       // no Unpublish: the phone just went away
	s, _ := m.session("drop", false)
	if !waitFor(5*time.Second, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.pub == nil && len(s.segments) == 1 }) {
		t.Fatal("server did not notice the dropped publisher within 5 s")
	}
	time.Sleep(outage)
	before := view.video.Load()
	b := mustPublish(t, m, "drop", codecVP8)
	defer b.pc.Close()
	second := publishFiles(t, b, codecVP8, 1500*time.Millisecond)
	if !waitFor(2*time.Second, func() bool { return view.video.Load() > before }) {
		t.Errorf("viewer got no video after the reconnect (%d packets before)", before)
	}
	rec, err := m.End("drop")
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	if rec == nil || rec.Segments != 2 {
		t.Fatalf("got recording %+v, want 2 segments", rec)
	}
	p := mustProbe(t, rec.Path)
	want := first + second
	t.Logf("published %v + %v, recording %v (ffprobe %v)", first, second, rec.Duration, p.duration())
	if !within(p.duration(), want, 0.05) {
		t.Errorf("got duration %v, want %v ± 5%%", p.duration(), want)
	}
	if gap := maxVideoGap(t, rec.Path); gap > outage {
		t.Errorf("got a %v gap between video frames, want at most the outage %v", gap, outage)
	}
	testenv.MustDecodeClean(t, rec.Path)
}

// maxVideoGap is the largest step between consecutive video packet times.
func maxVideoGap(t *testing.T, path string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	var gap, prev float64
	for i, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64)
		if err != nil {
			continue
		}
		if i > 0 && v-prev > gap {
			gap = v - prev
		}
		prev = v
	}
	return time.Duration(gap * float64(time.Second))
}

// Sessions opened and closed leave no goroutines behind: publishers,
// viewers talking back to the phone, and snapshots included.
func TestNoGoroutineLeak(t *testing.T) {
	mustMedia(t)
	m := mustManager(t)
	runtime.GC()
	base := runtime.NumGoroutine()
	ivf, ogg, _ := mustMedia(t)
	for i := range 20 {
		id := "leak-" + strconv.Itoa(i)
		pub := mustPublishWith(t, m, id, publishOptions{video: codecVP8, twoWay: true})
		view := mustViewWith(t, m, id, true)
		waitConnected(t, view.connected, "viewer")
		if err := m.SetTalker(id, view.resourceID); err != nil {
			t.Fatalf("SetTalker: %v", err)
		}
		s, _ := m.session(id, false)
		snap := make(chan error, 1)
		go func() {
			jpeg, _, err := m.Snapshot(context.Background(), id)
			if err == nil && len(jpeg) == 0 {
				err = errors.New("empty JPEG")
			}
			snap <- err
		}()
		if !waitFor(5*time.Second, func() bool { return waiters(s) == 1 }) {
			t.Fatal("the snapshot is not waiting")
		}
		talked := make(chan struct{})
		go func() {
			defer close(talked)
			sendOpus(t, view.mic, ogg, 100*time.Millisecond)
		}()
		sendVP8(t, pub.video, ivf, 100*time.Millisecond)
		<-talked
		if err := <-snap; err != nil {
			t.Fatalf("Snapshot %s: %v", id, err)
		}
		if !waitFor(time.Second, func() bool { return pub.heard.Load() > 0 }) {
			t.Fatalf("%s: the publisher heard no talkback", id)
		}
		if _, err := m.End(id); err != nil {
			t.Fatalf("End %s: %v", id, err)
		}
		pub.pc.Close()
		view.pc.Close()
	}
	if n := settleGoroutines(base, 10*time.Second); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("got %d goroutines after 20 sessions, want at most the baseline %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// TestViewersBounded: a session takes Config.MaxViewers viewers at once,
// offers still being answered included: of six sent together, three are
// answered and three refused with ErrViewersFull; a viewer that leaves
// frees its place, a bad offer takes none, and another session counts
// apart.
func TestViewersBounded(t *testing.T) {
	m := mustManagerWith(t, Config{MaxViewers: 3})
	ctx := context.Background()
	offer := func() string {
		pc, err := clientAPI(t, codecVP8).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
		return mustOffer(t, pc)
	}
	for _, id := range []string{"bounded", "other"} {
		pub := mustPublish(t, m, id, codecVP8)
		defer pub.pc.Close()
	}

	offers := make([]string, 6)
	for i := range offers {
		offers[i] = offer()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answered []string
	full := 0
	for _, o := range offers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, rid, err := m.View(ctx, "bounded", o)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				answered = append(answered, rid)
			case errors.Is(err, ErrViewersFull):
				full++
			default:
				t.Errorf("View: got %v, want an answer or ErrViewersFull", err)
			}
		}()
	}
	wg.Wait()
	if len(answered) != 3 || full != 3 {
		t.Fatalf("six offers at once under a bound of 3: %d answered, %d refused as full; want 3 and 3", len(answered), full)
	}
	if _, _, err := m.View(ctx, "bounded", "garbage"); !errors.Is(err, ErrViewersFull) {
		t.Errorf("a bad offer to a full session: got %v, want ErrViewersFull", err)
	}
	if _, _, err := m.View(ctx, "other", offer()); err != nil {
		t.Errorf("another session's first viewer: got %v, want an answer", err)
	}

	if err := m.StopViewing("bounded", answered[0]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.View(ctx, "bounded", "garbage"); !errors.Is(err, ErrBadSDP) {
		t.Errorf("a bad offer after a viewer left: got %v, want ErrBadSDP", err)
	}
	// The bad offer took no place: the next good one gets the freed one.
	v := mustView(t, m, "bounded")
	defer v.pc.Close()
	if _, _, err := m.View(ctx, "bounded", offer()); !errors.Is(err, ErrViewersFull) {
		t.Errorf("a fourth viewer: got %v, want ErrViewersFull", err)
	}
}

// TestOffersAnsweredAfterEnd: an offer answered while its session ends
// (it found the session before End removed it) joins nothing: its peer
// connection is closed and ErrNoSession returned, so neither a viewer
// nor a publisher outlives the session unseen by End.
func TestOffersAnsweredAfterEnd(t *testing.T) {
	m := mustManager(t)
	ctx := context.Background()
	pub := mustPublish(t, m, "late", codecVP8)
	defer pub.pc.Close()
	s, err := m.session("late", false)
	if err != nil {
		t.Fatal(err)
	}
	newPC := func() *webrtc.PeerConnection {
		pc, err := clientAPI(t, codecVP8).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	viewPC := newPC()
	if _, err := viewPC.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	viewOffer := mustOffer(t, viewPC)
	pubPC := newPC()
	track, err := webrtc.NewTrackLocalStaticSample(codecVP8.RTPCodecCapability, "video", "phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pubPC.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	pubOffer := mustOffer(t, pubPC)
	info, err := parseOffer(pubOffer)
	if err != nil {
		t.Fatal(err)
	}

	video := s.video
	if _, err := m.End("late"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.view(ctx, viewOffer); !errors.Is(err, ErrNoSession) {
		t.Errorf("a viewer answered after End: got %v, want ErrNoSession", err)
	}
	if _, _, err := s.publish(ctx, pubOffer, info); !errors.Is(err, ErrNoSession) {
		t.Errorf("a publisher answered after End: got %v, want ErrNoSession", err)
	}
	s.mu.Lock()
	viewers, current := len(s.viewers), s.pub
	s.mu.Unlock()
	if viewers != 0 || current != nil || len(*video.sinks.Load()) != 0 {
		t.Errorf("after End: %d viewers, a publisher %t, %d queues fed; want none", viewers, current != nil, len(*video.sinks.Load()))
	}
}
