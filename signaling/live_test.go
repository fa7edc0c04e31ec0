package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"siteinspect/internal/testenv"
)

// Concurrent snapshots wait for the same next keyframe, decode it to a
// JPEG of the picture's size, and place it where the recording has it.
func TestSnapshot(t *testing.T) {
	for _, codec := range []webrtc.RTPCodecParameters{codecVP8, codecH264} {
		t.Run(codec.MimeType, func(t *testing.T) {
			m := mustManager(t)
			frames := mustFrames(t, codec)
			pub := mustPublish(t, m, "snap", codec)
			defer pub.pc.Close()
			// 1.5 s, then a pause: the snapshots must wait for the
			// keyframe that follows (the clip has one a second).
			const paused = 45
			sendFrames(pub.video, frames[:paused])
			s, _ := m.session("snap", false)

			const n = 3
			type result struct {
				jpeg []byte
				at   time.Duration
				err  error
			}
			results := make(chan result, n)
			for range n {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					j, at, err := m.Snapshot(ctx, "snap")
					results <- result{j, at, err}
				}()
			}
			if !waitFor(5*time.Second, func() bool { return waiters(s) == n }) {
				t.Fatalf("got %d snapshot waiters, want %d", waiters(s), n)
			}
			go sendFrames(pub.video, frames[paused:])
			var first result
			for i := range n {
				r := <-results
				if r.err != nil {
					t.Fatalf("Snapshot: %v", r.err)
				}
				if i == 0 {
					first = r
					continue
				}
				if r.at != first.at || string(r.jpeg) != string(first.jpeg) {
					t.Errorf("got snapshot at %v (%d bytes), want the shared keyframe at %v (%d bytes)", r.at, len(r.jpeg), first.at, len(first.jpeg))
				}
			}
			// The next keyframe after frame 45 is at most frame 60: 2 s
			// into the recording, which starts at frame 0.
			if lo, hi := time.Second*paused/30, 2*time.Second+20*time.Millisecond; first.at <= lo || first.at > hi {
				t.Errorf("got snapshot at %v, want in (%v, %v]", first.at, lo, hi)
			}
			path := filepath.Join(t.TempDir(), "snap.jpg")
			if err := os.WriteFile(path, first.jpeg, 0o600); err != nil {
				t.Fatal(err)
			}
			p := mustProbe(t, path)
			if len(p.Streams) != 1 || p.Streams[0].CodecName != "mjpeg" || p.Streams[0].Width != 320 || p.Streams[0].Height != 240 {
				t.Errorf("got JPEG streams %+v, want one 320x240 mjpeg", p.Streams)
			}

			// Cancelled while waiting: no keyframe comes now.
			time.Sleep(200 * time.Millisecond) // the second half is sent
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, _, err := m.Snapshot(ctx, "snap"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Snapshot with no keyframe coming: got %v, want context.DeadlineExceeded", err)
			}
			if n := waiters(s); n != 0 {
				t.Errorf("got %d waiters after the cancelled snapshot, want 0", n)
			}
			if err := m.Unpublish("snap", pub.resourceID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.Snapshot(context.Background(), "snap"); !errors.Is(err, ErrNoPublisher) {
				t.Errorf("Snapshot without publisher: got %v, want ErrNoPublisher", err)
			}
		})
	}
	m := mustManager(t)
	if _, _, err := m.Snapshot(context.Background(), "nosuch"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Snapshot(nosuch): got %v, want ErrNoSession", err)
	}
}

// waiters counts the Snapshot calls waiting on the current publisher.
func waiters(s *session) int {
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p == nil {
		return 0
	}
	p.rec.mu.Lock()
	defer p.rec.mu.Unlock()
	return len(p.rec.waiters)
}

// The phone hears the talker's microphone and nobody else's; switching
// talkers keeps its stream continuous; a talker that leaves stops.
func TestTalkback(t *testing.T) {
	m := mustManager(t)
	_, ogg, _ := mustMedia(t)
	pub := mustPublishWith(t, m, "talk", publishOptions{video: codecVP8, twoWay: true})
	defer pub.pc.Close()
	if got := answerAudioDirection(t, pub.answer); got != "sendrecv" {
		t.Errorf("got answer audio %q for a sendrecv offer, want sendrecv", got)
	}
	oneWay := mustPublish(t, m, "oneway", codecVP8)
	defer oneWay.pc.Close()
	if got := answerAudioDirection(t, oneWay.answer); got != "recvonly" {
		t.Errorf("got answer audio %q for a sendonly offer, want recvonly", got)
	}

	a, b := mustViewWith(t, m, "talk", true), mustViewWith(t, m, "talk", true)
	defer a.pc.Close()
	defer b.pc.Close()
	waitConnected(t, a.connected, "viewer a")
	waitConnected(t, b.connected, "viewer b")
	var wg sync.WaitGroup
	var talking atomic.Int32 // viewers still sending their microphone
	for _, v := range []*testViewer{a, b} {
		wg.Add(1)
		talking.Add(1)
		go func() {
			defer wg.Done()
			defer talking.Add(-1)
			sendOpus(t, v.mic, ogg, 2800*time.Millisecond)
		}()
	}
	defer wg.Wait()

	time.Sleep(300 * time.Millisecond)
	if n := pub.heard.Load(); n != 0 {
		t.Errorf("publisher heard %d packets with no talker, want 0", n)
	}
	if err := m.SetTalker("talk", a.resourceID); err != nil {
		t.Fatalf("SetTalker(a): %v", err)
	}
	if !waitFor(2*time.Second, func() bool { return pub.heard.Load() >= 20 }) {
		t.Fatalf("publisher heard %d packets from talker a, want 20", pub.heard.Load())
	}
	if n := oneWay.heard.Load(); n != 0 {
		t.Errorf("the sendonly publisher heard %d packets, want 0", n)
	}
	if err := m.SetTalker("talk", b.resourceID); err != nil {
		t.Fatalf("SetTalker(b): %v", err)
	}
	before := pub.heard.Load()
	if !waitFor(2*time.Second, func() bool { return pub.heard.Load() >= before+20 }) {
		t.Fatalf("publisher heard %d packets after switching to b, want %d", pub.heard.Load(), before+20)
	}
	seqs := pub.heardSeqs()
	for i := 1; i < len(seqs); i++ {
		if d := seqs[i] - seqs[i-1]; d != 1 {
			t.Errorf("talkback sequence numbers %d → %d at packet %d, want consecutive across the switch", seqs[i-1], seqs[i], i)
		}
	}

	if err := m.SetTalker("talk", ""); err != nil {
		t.Fatalf("SetTalker(\"\"): %v", err)
	}
	// Packets already in flight may still arrive; then the phone hears
	// nothing for good, where a talker still forwarded sends 50 a second.
	var before2 int64
	quiet := func() bool {
		before2 = pub.heard.Load()
		time.Sleep(300 * time.Millisecond)
		return pub.heard.Load() == before2
	}
	if !waitFor(3*time.Second, quiet) {
		t.Errorf("publisher still hears packets 3 s after talking stopped (%d in the last 300 ms), want none", pub.heard.Load()-before2)
	}
	if n := talking.Load(); n != 2 {
		t.Errorf("got %d viewers still sending when the phone went quiet, want 2: the silence proves nothing otherwise", n)
	}

	if err := m.SetTalker("talk", "nosuch"); !errors.Is(err, ErrNoViewer) {
		t.Errorf("SetTalker(nosuch): got %v, want ErrNoViewer", err)
	}
	if err := m.SetTalker("nosuch", ""); !errors.Is(err, ErrNoSession) {
		t.Errorf("SetTalker on no session: got %v, want ErrNoSession", err)
	}
	if err := m.SetTalker("talk", a.resourceID); err != nil {
		t.Fatalf("SetTalker(a): %v", err)
	}
	if err := m.StopViewing("talk", a.resourceID); err != nil {
		t.Fatal(err)
	}
	s, _ := m.session("talk", false)
	s.mu.Lock()
	talker, source := s.talker, s.talk.source
	s.mu.Unlock()
	if talker != "" || source != "" {
		t.Errorf("after the talker left: got talker %q, forwarding %q; want none", talker, source)
	}
}

// answerAudioDirection returns the audio m-line's direction in an answer.
func answerAudioDirection(t *testing.T, answer string) string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		t.Fatal(err)
	}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			return direction(md.Attributes, d.Attributes)
		}
	}
	return ""
}

// Status tells who is connected, whether and how long we record, and the
// connections' quality from real RTP statistics.
func TestStatus(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	if _, err := m.Status("nosuch"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Status(nosuch): got %v, want ErrNoSession", err)
	}
	pub := mustPublish(t, m, "st", codecVP8)
	defer pub.pc.Close()
	view := mustView(t, m, "st")
	defer view.pc.Close()
	waitConnected(t, view.connected, "viewer")

	st, err := m.Status("st")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Publishing || st.PublisherID != pub.resourceID || !st.EverPublished || st.Viewers != 1 ||
		st.Recording || st.RecordingTime != 0 || st.VideoCodec != webrtc.MimeTypeVP8 || st.Publisher == nil || !st.LastPublishEnd.IsZero() {
		t.Errorf("before media: got %+v, want publishing %s, 1 viewer, VP8, not recording", st, pub.resourceID)
	}

	start := time.Now() // the first frame goes out now
	done := make(chan time.Duration)
	go func() { done <- publishFiles(t, pub, codecVP8, 3*time.Second) }()
	// Wait until the recording has run a second and both connections have
	// a measured interval of media (the clip is 500 kbit/s).
	recorded := waitFor(10*time.Second, func() bool {
		st, err = m.Status("st")
		return err == nil && st.Recording && st.RecordingTime >= time.Second &&
			st.Publisher != nil && st.Publisher.BitrateKbps >= 100 && st.ViewerQuality[view.resourceID].BitrateKbps >= 100
	})
	elapsed := time.Since(start)
	t.Logf("while sending: recording %v after %v, publisher %+v, viewers %+v", st.RecordingTime, elapsed, st.Publisher, st.ViewerQuality)
	if !recorded {
		t.Fatalf("got %+v, %v; want a recording past 1 s and publisher and viewer bitrates over 100 kbps within 10 s", st, err)
	}
	// The recording cannot be longer than the media sent so far (give or
	// take a frame: a segment starts at its first packet's timestamp).
	if most := elapsed + 50*time.Millisecond; st.RecordingTime > most {
		t.Errorf("got recording time %v, want at most %v: the %v since sending began and a frame", st.RecordingTime, most, elapsed)
	}
	<-done

	if err := m.Unpublish("st", pub.resourceID); err != nil {
		t.Fatal(err)
	}
	st, err = m.Status("st")
	if err != nil {
		t.Fatal(err)
	}
	if st.Publishing || st.PublisherID != "" || st.Publisher != nil || st.Recording || !st.EverPublished ||
		st.LastPublishEnd.IsZero() || time.Since(st.LastPublishEnd) > time.Second || st.VideoCodec != "" {
		t.Errorf("after unpublish: got %+v, want no publisher, ended just now", st)
	}
	rec, err := m.End("st")
	if err != nil || rec == nil {
		t.Fatalf("End: %v, %v", rec, err)
	}
	if rec.Duration != st.RecordingTime {
		t.Errorf("got recording time %v after the publisher left, want the recording's duration %v", st.RecordingTime, rec.Duration)
	}
}

// The quality meter's rates come from the counters' differences over the
// interval since the previous sample; a sample taken too soon repeats the
// previous figures.
func TestQualitySample(t *testing.T) {
	t0 := time.Now()
	var q qualityMeter
	q.start(nil, t0)
	for _, tt := range []struct {
		name       string
		after      time.Duration
		bytes      uint64
		recv       uint64
		lost       int64
		kbps, loss float64
		ok         bool
	}{
		{"first second", time.Second, 125_000, 90, 10, 1000, 0.1, true},
		{"too soon", time.Second + 100*time.Millisecond, 500_000, 95, 10, 0, 0, false},
		{"no new loss", 2 * time.Second, 375_000, 190, 10, 2000, 0, true},
		{"a quarter lost", 3 * time.Second, 375_000, 220, 20, 0, 0.25, true},
		{"every packet lost", 4 * time.Second, 380_000, 220, 40, 40, 1, true},
	} {
		kbps, loss, ok := q.sample(t0.Add(tt.after), tt.bytes, tt.recv, tt.lost)
		if ok != tt.ok || kbps != tt.kbps || loss != tt.loss {
			t.Errorf("%s: got %v kbps, loss %v, ok %v; want %v kbps, loss %v, ok %v", tt.name, kbps, loss, ok, tt.kbps, tt.loss, tt.ok)
		}
	}
}

// RecordingTime runs on the joined recording's clock: the outage between
// two segments does not count.
func TestRecordingTime(t *testing.T) {
	m := mustManager(t)
	mustMedia(t)
	a := mustPublish(t, m, "rt", codecVP8)
	publishFiles(t, a, codecVP8, 2*time.Second)
	a.pc.Close() // dropped, no WHIP DELETE
	s, _ := m.session("rt", false)
	if !waitFor(5*time.Second, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.pub == nil && len(s.segments) == 1 }) {
		t.Fatal("server did not notice the dropped publisher within 5 s")
	}
	s.mu.Lock()
	first := s.segments[0].duration
	s.mu.Unlock()
	st, _ := m.Status("rt")
	time.Sleep(time.Second)
	st2, _ := m.Status("rt")
	if st.Recording || st.RecordingTime != first || st2.RecordingTime != first {
		t.Errorf("during the outage: got recording %v at %v then %v, want stopped at the first segment's %v", st.Recording, st.RecordingTime, st2.RecordingTime, first)
	}

	b := mustPublish(t, m, "rt", codecVP8)
	defer b.pc.Close()
	start := time.Now() // the first frame goes out now
	sent := publishFiles(t, b, codecVP8, 1500*time.Millisecond)
	st, _ = m.Status("rt")
	// The second segment runs from its first keyframe's arrival, a little
	// after start: never more than the wall time since (give or take a
	// frame), and the outage of a second before does not count.
	most := first + time.Since(start) + 50*time.Millisecond
	t.Logf("first segment %v, recording time %v, want at most %v", first, st.RecordingTime, most)
	if least := first + sent/2; !st.Recording || st.RecordingTime > most || st.RecordingTime < least {
		t.Errorf("got recording %v at %v, want open between %v and %v", st.Recording, st.RecordingTime, least, most)
	}
	if err := m.Unpublish("rt", b.resourceID); err != nil {
		t.Fatal(err)
	}
	st, _ = m.Status("rt")
	rec, err := m.End("rt")
	if err != nil || rec == nil {
		t.Fatalf("End: %v, %v", rec, err)
	}
	if st.RecordingTime != rec.Duration {
		t.Errorf("got final recording time %v, want the joined recording's %v", st.RecordingTime, rec.Duration)
	}
}

// Audio and video captured together land together in the file although
// audio arrives 250 ms later, once sender reports relate their clocks.
func TestSenderReportSync(t *testing.T) {
	for _, tc := range []struct {
		name         string
		reports      bool
		minGap, maxG time.Duration
	}{
		{"sender reports", true, 0, 30 * time.Millisecond},
		{"arrival only", false, 200 * time.Millisecond, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := recordSynthetic(t, 20*time.Millisecond, 270*time.Millisecond, tc.reports)
			v, a := firstPacketTimes(t, path)
			gap := a - v
			if gap < 0 {
				gap = -gap
			}
			t.Logf("first video block at %v, first audio block at %v", v, a)
			if gap < tc.minGap || gap > tc.maxG {
				t.Errorf("got first audio and video blocks %v apart, want %v..%v", gap, tc.minGap, tc.maxG)
			}
			testenv.MustDecodeClean(t, path)
		})
	}
}

// recordSynthetic feeds a recorder 2 s of the test clip's VP8 and Opus,
// captured in sync from sender time 0.5 s, as RTP arriving after the
// given delays, with a sender report per track every second if reports
// is set. The recorder's clock is the simulated arrival time.
func recordSynthetic(t *testing.T, videoDelay, audioDelay time.Duration, reports bool) string {
	t.Helper()
	_, ogg, _ := mustMedia(t)
	frames := mustFrames(t, codecVP8)[:60]
	type event struct {
		at   time.Duration // arrival, in simulated time
		kind webrtc.RTPCodecType
		pkt  *rtp.Packet
		sr   *rtcp.SenderReport
	}
	var events []event
	const senderStart = 500 * time.Millisecond
	ntpBase := uint64(3_900_000_000) << 32
	ntp := func(d time.Duration) uint64 {
		return ntpBase + uint64(d/time.Second)<<32 + uint64(d%time.Second)<<32/uint64(time.Second)
	}
	add := func(kind webrtc.RTPCodecType, sent, delay time.Duration, pkts []*rtp.Packet, ts uint32, report bool) {
		for _, p := range pkts {
			events = append(events, event{at: sent + delay, kind: kind, pkt: p})
		}
		if report && reports {
			events = append(events, event{at: sent + delay, kind: kind, sr: &rtcp.SenderReport{NTPTime: ntp(sent), RTPTime: ts}})
		}
	}
	vp := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	for k, f := range frames {
		pkts := vp.Packetize(f, 3000)
		add(webrtc.RTPCodecTypeVideo, senderStart+time.Duration(k)*time.Second/30, videoDelay, pkts, pkts[0].Timestamp, k%30 == 0)
	}
	f, err := os.Open(ogg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	ap := rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	for j := 0; j < 100; {
		page, _, err := r.ParseNextPage()
		if err != nil {
			t.Fatalf("ogg page %d: %v", j, err)
		}
		if len(page) >= 8 && string(page[:8]) == "OpusTags" {
			continue
		}
		pkts := ap.Packetize(page, 960)
		add(webrtc.RTPCodecTypeAudio, senderStart+time.Duration(j)*20*time.Millisecond, audioDelay, pkts, pkts[0].Timestamp, j%50 == 0)
		j++
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at < events[j].at })

	dir := t.TempDir()
	rec := newRecorder(slog.New(slog.DiscardHandler), &codecVP8, true,
		func(ext string) string { return filepath.Join(dir, "seg."+ext) }, func() {})
	epoch := time.Unix(1_700_000_000, 0)
	var now time.Time
	rec.now = func() time.Time { return now }
	for _, e := range events {
		now = epoch.Add(e.at)
		if e.sr != nil {
			rec.senderReport(e.kind, e.sr.NTPTime, e.sr.RTPTime)
		} else {
			rec.push(e.kind, e.pkt)
		}
	}
	seg := rec.close()
	if seg == nil {
		t.Fatal("nothing recorded")
	}
	return seg.path
}

// firstPacketTimes returns the times of a file's first video and audio
// packets, as ffprobe reads them.
func firstPacketTimes(t *testing.T, path string) (video, audio time.Duration) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time", "-show_entries", "stream=index,codec_type",
		"-of", "json", "-show_packets", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var res struct {
		Packets []struct {
			StreamIndex int    `json:"stream_index"`
			PTS         string `json:"pts_time"`
		} `json:"packets"`
		Streams []struct {
			Index     int    `json:"index"`
			CodecType string `json:"codec_type"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	kind := map[int]string{}
	for _, s := range res.Streams {
		kind[s.Index] = s.CodecType
	}
	first := map[string]time.Duration{}
	for _, p := range res.Packets {
		k := kind[p.StreamIndex]
		if _, ok := first[k]; ok {
			continue
		}
		f, err := strconv.ParseFloat(p.PTS, 64)
		if err != nil {
			t.Fatalf("pts %q: %v", p.PTS, err)
		}
		first[k] = time.Duration(f * float64(time.Second))
	}
	v, vok := first["video"]
	a, aok := first["audio"]
	if !vok || !aok {
		t.Fatalf("got first packets %v, want video and audio", first)
	}
	return v, a
}

// A publisher that may only use TCP reaches the server's ICE-TCP port
// and gets recorded.
func TestICETCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m := mustManagerWith(t, Config{ICETCPPort: port})
	mustMedia(t)
	pub := mustPublishWith(t, m, "tcp", publishOptions{video: codecVP8, setting: func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}})
	defer pub.pc.Close()
	pair, err := pub.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v, %v", pair, err)
	}
	if pair.Local.Protocol != webrtc.ICEProtocolTCP || pair.Remote.Port != uint16(port) {
		t.Errorf("got selected pair %s, want TCP to port %d", pair, port)
	}
	published := publishFiles(t, pub, codecVP8, 1500*time.Millisecond)
	if err := m.Unpublish("tcp", pub.resourceID); err != nil {
		t.Fatal(err)
	}
	rec, err := m.End("tcp")
	if err != nil || rec == nil {
		t.Fatalf("End: %v, %v", rec, err)
	}
	p := mustProbe(t, rec.Path)
	t.Logf("published %v over TCP, recording %v", published, p.duration())
	if !within(p.duration(), published, 0.1) {
		t.Errorf("got duration %v, want %v ± 10%%", p.duration(), published)
	}
	testenv.MustDecodeClean(t, rec.Path)

	// Close releases the port.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ln, err = net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		t.Errorf("port %d after Close: %v, want free", port, err)
	} else {
		ln.Close()
	}
}
