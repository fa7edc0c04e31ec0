package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/pacing"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// sendClock remembers when each video RTP packet left the publisher, by
// sequence number (the server forwards a first publisher's numbers
// unchanged).
type sendClock struct {
	at [1 << 16]atomic.Int64
}

// stamp is a pion interceptor writing the publisher's send times.
type stamp struct {
	interceptor.NoOp
	clock *sendClock
}

func (s *stamp) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		s.clock.at[h.SequenceNumber].Store(time.Now().UnixNano())
		return w.Write(h, payload, a)
	})
}

type stampFactory struct{ clock *sendClock }

func (f stampFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &stamp{clock: f.clock}, nil
}

// latencies collects send→receive delays of video packets.
type latencies struct {
	mu    sync.Mutex
	on    bool
	clock *sendClock
	d     []time.Duration
}

func (l *latencies) record(seq uint16) {
	now := time.Now().UnixNano()
	sent := l.clock.at[seq].Load()
	l.mu.Lock()
	if l.on && sent > 0 {
		l.d = append(l.d, time.Duration(now-sent))
	}
	l.mu.Unlock()
}

func (l *latencies) start() {
	l.mu.Lock()
	l.on, l.d = true, l.d[:0]
	l.mu.Unlock()
}

// stop returns p50 and p99 and how many packets were measured.
func (l *latencies) stop() (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	if len(l.d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	return l.d[len(l.d)/2], l.d[len(l.d)*99/100], len(l.d)
}

// directPeer answers an offer in this process: the publisher talks to a
// receiving pion peer with no server in between (the baseline).
func directPeer(tb testing.TB, onVideo func(uint16)) (testenv.Signal, func()) {
	pc, err := testenv.ClientAPI(tb, testenv.CodecVP8).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				onVideo(pkt.SequenceNumber)
			}
		}
	})
	return func(offer string) (string, string, error) {
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			return "", "", err
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			return "", "", err
		}
		done := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(answer); err != nil {
			return "", "", err
		}
		<-done
		return pc.LocalDescription().SDP, "direct", nil
	}, func() { pc.Close() }
}

// sendLoop sends the IVF and OGG over and over until stop is closed.
func sendLoop(tb testing.TB, p *testenv.Publisher, ivf, ogg string, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, send := range []func(){
		func() { testenv.SendVP8(tb, p.Video, ivf, time.Hour) },
		func() { testenv.SendOpus(tb, p.Audio, ogg, time.Hour) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				send()
			}
		}()
	}
	return &wg
}

// fanoutRow is one N of the fan-out benchmark.
type fanoutRow struct {
	n            int
	cpu, clients float64 // server and this process, share of one core
	pps          float64
	p50, p99     time.Duration
	measured     int
}

// BenchmarkLiveFanout measures the live forwarding path on loopback: one
// publisher (VP8 about 1.5 Mbps + Opus) through a siteinspect server
// process to N Go WHEP viewers, N = 0, 1, 10, 50. For each N it reports the
// server process's CPU (share of one core, and per viewer over N = 0, which
// is ingest and recording alone), the RTP packets it forwards per second,
// and the latency from the publisher's send to a viewer's read (p50/p99,
// matched by sequence number). Side by side, the same publisher connected
// straight to one pion peer in this process is the baseline; the server's
// added latency is the difference.
//
// It runs twice: with the publisher paced as browsers pace (2.5 × the
// bitrate in 5 ms slices, pion's pacing interceptor), and unpaced (every
// packet of a frame at once, a keyframe being dozens of packets). Unpaced,
// a keyframe's last packet waits while its earlier packets go to all N
// viewers, so the p99 there is the fan-out time of one keyframe.
// Targets: 50 viewers < 60 % of one core, added p99 < 10 ms. The viewers
// (bare pion receivers) and the publisher share the 2 cores with the server.
func BenchmarkLiveFanout(b *testing.B) {
	if testing.Short() {
		b.Skip("streams for about three minutes; not in -short")
	}
	dir := b.TempDir()
	ivf := filepath.Join(dir, "bench.ivf")
	testenv.FFmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "20", "-c:v", "libvpx", "-b:v", "1500k",
		"-minrate", "1500k", "-maxrate", "1500k", "-deadline", "realtime", "-cpu-used", "8", "-g", "60", ivf)
	ogg := testenv.MustRTCMedia(b).OGG
	fi, _ := os.Stat(ivf)
	bitrate := float64(fi.Size()*8) / 20 / 1e6

	srv := startServer(b, "--jobs", "0", "--webrtc-loopback")
	_, insp, caseID := liveCase(b, srv)
	w := os.Stderr
	var last fanoutRow
	var lastDirect time.Duration
	for _, paced := range []bool{true, false} {
		mode := "paced like a browser (2.5 × bitrate, 5 ms)"
		if !paced {
			mode = "unpaced (whole frames at once)"
		}
		d50, d99, dn, rows := fanout(b, srv, insp, caseID, ivf, ogg, paced, bitrate)
		fmt.Fprintf(w, "\nlive fan-out on loopback, publisher %s: VP8 %.2f Mbps + Opus; server CPU from /proc (share of one core)\n", mode, bitrate)
		fmt.Fprintf(w, "direct publisher → one pion peer (no server): latency p50 %.2f ms, p99 %.2f ms (%d packets)\n", ms(d50), ms(d99), dn)
		fmt.Fprintf(w, "%8s %10s %12s %14s %9s %9s %13s %11s\n", "viewers", "server CPU", "CPU/viewer", "packets out/s", "p50 ms", "p99 ms", "added p99 ms", "client CPU")
		for _, r := range rows {
			per, added := "-", "-"
			if r.n > 0 {
				per = fmt.Sprintf("%.2f %%", (r.cpu-rows[0].cpu)/float64(r.n)*100)
				added = fmt.Sprintf("%.2f", ms(r.p99-d99))
			}
			fmt.Fprintf(w, "%8d %9.1f%% %12s %14.0f %9.2f %9.2f %13s %10.1f%%\n", r.n, r.cpu*100, per, r.pps, ms(r.p50), ms(r.p99), added, r.clients*100)
		}
		if paced {
			last, lastDirect = rows[len(rows)-1], d99
		}
	}
	fmt.Fprintf(w, "targets (paced publisher): 50 viewers < 60%% of one core: %.1f%% (%s); added p99 < 10 ms: %.2f ms (%s)\n",
		last.cpu*100, verdict(last.cpu < 0.6), ms(last.p99-lastDirect), verdict(last.p99-lastDirect < 10*time.Millisecond))
	b.ReportMetric(last.cpu*100, "cpu%@50")
	b.ReportMetric(ms(last.p99-lastDirect), "added-p99-ms@50")
}

// fanout measures one publisher mode: the direct baseline, then a fresh
// live session with N = 0, 1, 10, 50 viewers.
func fanout(b *testing.B, srv *proc, insp *client, caseID, ivf, ogg string, paced bool, bitrate float64) (d50, d99 time.Duration, dn int, rows []fanoutRow) {
	const settle, window = 3 * time.Second, 6 * time.Second
	publisherAPI := func(clock *sendClock) *webrtc.API {
		extra := []interceptor.Factory{stampFactory{clock}}
		if paced {
			pacer := pacing.NewInterceptor(pacing.InitialRate(int(2.5*bitrate*1e6)), pacing.Interval(5*time.Millisecond))
			extra = append(extra, pacer)
		}
		return testenv.ClientAPI(b, testenv.CodecVP8, extra...)
	}

	// Baseline: straight to one peer, no server.
	clock := &sendClock{}
	lat := &latencies{clock: clock}
	signal, closeDirect := directPeer(b, lat.record)
	direct := testenv.PublishWith(b, publisherAPI(clock), testenv.CodecVP8, signal)
	stop := make(chan struct{})
	wg := sendLoop(b, direct, ivf, ogg, stop)
	time.Sleep(settle)
	lat.start()
	time.Sleep(window)
	d50, d99, dn = lat.stop()
	close(stop)
	wg.Wait()
	direct.PC.Close()
	closeDirect()

	var ls liveSession
	insp.mustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
	defer insp.mustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, nil)
	clock = &sendClock{}
	lat = &latencies{clock: clock}
	pub := testenv.PublishWith(b, publisherAPI(clock), testenv.CodecVP8, whip(b, srv.URL, ls))
	stop = make(chan struct{})
	wg = sendLoop(b, pub, ivf, ogg, stop)
	defer func() { close(stop); wg.Wait(); pub.PC.Close() }()

	pid := srv.cmd.Process.Pid
	bare := testenv.BareAPI(b)
	for _, n := range []int{0, 1, 10, 50} {
		viewers := make([]*testenv.Viewer, n)
		for i := range viewers {
			viewers[i] = testenv.ViewWith(b, bare, whep(b, srv.URL, ls.ID, insp.token), lat.record)
		}
		time.Sleep(settle) // connected, keyframe, steady
		var before int64
		for _, v := range viewers {
			before += v.VideoPackets.Load() + v.AudioPackets.Load()
		}
		cpu0, own0, t0 := procCPU(pid), procCPU(os.Getpid()), time.Now()
		lat.start()
		time.Sleep(window)
		p50, p99, measured := lat.stop()
		cpu1, own1, el := procCPU(pid), procCPU(os.Getpid()), time.Since(t0).Seconds()
		var after int64
		for _, v := range viewers {
			after += v.VideoPackets.Load() + v.AudioPackets.Load()
		}
		rows = append(rows, fanoutRow{n: n, cpu: (cpu1 - cpu0) / el, clients: (own1 - own0) / el, pps: float64(after-before) / el,
			p50: p50, p99: p99, measured: measured})
		for _, v := range viewers {
			v.PC.Close()
		}
		time.Sleep(time.Second)
	}
	return d50, d99, dn, rows
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
