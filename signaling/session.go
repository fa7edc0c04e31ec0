package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval is the least time between two keyframe requests to a
// publisher (see keyframeThrottle).
const keyframeInterval = 500 * time.Millisecond

// session is one live inspection: at most one publisher, any number of
// viewers, and the segments recorded so far.
type session struct {
	m   *Manager
	id  string
	dir string

	nextSeg atomic.Int32
	// storing counts rotated segments still being handed to OnSegment;
	// end waits for them before joining.
	storing sync.WaitGroup

	mu       sync.Mutex
	pub      *publisher
	video    *forwarder
	audio    *forwarder
	talk     *forwarder // a viewer's microphone to the publisher (two-way audio)
	talker   string     // the viewer whose microphone talk forwards; "" for none
	viewers  map[string]*viewer
	joining  int  // viewers whose offer is being answered, not yet in viewers
	ended    bool // end has run: an offer answered meanwhile joins nothing
	segments []*segment
	// closing holds replaced or dropped publishers whose segment is being
	// finalized, so the recording time counts it meanwhile.
	closing map[*publisher]struct{}
	ever    bool      // someone has published
	lastEnd time.Time // when the session last lost its publisher
	// budget bounds what the session's publishers bring in, one after
	// another (Config.MaxIngestKbps): a publisher that reconnects gets
	// no fresh burst. nil: no bound.
	budget *ingestBudget
}

func newSession(m *Manager, id string) *session {
	return &session{
		m: m, id: id, dir: filepath.Join(m.cfg.RecordDir, id),
		viewers: map[string]*viewer{}, closing: map[*publisher]struct{}{},
		budget: newIngestBudget(m.cfg.MaxIngestKbps, time.Now()),
	}
}

func newResourceID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newPeerConnection applies offer and returns the complete answer: WHIP
// and WHEP servers answer with all their candidates (RFC 9725 §4.3), so
// gathering finishes before we reply. setup runs between the remote and
// the local description (codec preferences, tracks).
func (s *session) newPeerConnection(ctx context.Context, offer string, setup func(*webrtc.PeerConnection, stats.Getter) error) (*webrtc.PeerConnection, string, error) {
	return s.newPeerConnectionWith(ctx, s.m.api, offer, setup)
}

// newPeerConnectionWith is newPeerConnection on api (the viewers' stack).
func (s *session) newPeerConnectionWith(ctx context.Context, api *webrtc.API, offer string, setup func(*webrtc.PeerConnection, stats.Getter) error) (*webrtc.PeerConnection, string, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: s.m.cfg.ICEServers})
	if err != nil {
		return nil, "", fmt.Errorf("signaling: new peer connection: %w", err)
	}
	st := s.m.takeStats(pc.ID())
	fail := func(err error) (*webrtc.PeerConnection, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	if err := setup(pc, st); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("signaling: set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return pc, pc.LocalDescription().SDP, nil
}

func (s *session) publish(ctx context.Context, offer string, info offerInfo) (string, string, error) {
	var err error
	s.mu.Lock()
	if s.talk == nil {
		s.talk, err = newForwarder(codecOpus.RTPCodecCapability, "audio", "siteinspect-talkback-"+s.id, true)
	}
	talk := s.talk
	s.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	p := &publisher{s: s, id: newResourceID(), info: info, segDone: make(chan struct{})}
	p.pli.interval = keyframeInterval
	p.rec = newRecorder(s.m.log.With("session", s.id), info.video, info.hasAudio, s.segmentPath, p.requestKeyframe)
	p.rec.maxSegment, p.rec.onRotate = s.m.cfg.MaxSegment, s.rotated
	pc, answer, err := s.newPeerConnection(ctx, offer, func(pc *webrtc.PeerConnection, st stats.Getter) error {
		p.pc = pc
		p.quality.start(st, time.Now())
		pc.OnTrack(p.onTrack)
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			s.m.log.Debug("publisher connection", "session", s.id, "publisher", p.id, "state", st)
			if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
				go s.dropPublisher(p)
			}
		})
		var video bool
		for _, tr := range pc.GetTransceivers() {
			if tr.Kind() == webrtc.RTPCodecTypeVideo && info.video != nil && !video {
				video = true
				if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{*info.video}); err != nil {
					return fmt.Errorf("%w: %v", ErrNoCodec, err)
				}
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio && info.talkbackMid != "" && tr.Mid() == info.talkbackMid && tr.Sender() == nil {
				if err := attachTalkback(s.m.api, s.m.log, tr, talk.track); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}

	s.mu.Lock()
	if s.ended {
		// Ended while the offer was answered: End has collected the
		// publishers and segments already.
		s.mu.Unlock()
		_ = pc.Close()
		return "", "", ErrNoSession
	}
	old := s.pub
	s.pub, s.ever = p, true
	if old != nil {
		s.closing[old] = struct{}{}
	}
	var stale []*viewer
	if info.video != nil && (s.video == nil || s.video.codec.MimeType != info.video.MimeType) {
		// A new video codec needs a new track; viewers bound to the old
		// one cannot switch and must View again.
		if s.video != nil {
			for _, v := range s.viewers {
				stale = append(stale, v)
			}
		}
		if s.video, err = newForwarder(info.video.RTPCodecCapability, "video", "siteinspect-"+s.id, false); err != nil {
			s.pub = old
			delete(s.closing, old)
			s.mu.Unlock()
			_ = pc.Close()
			return "", "", err
		}
	}
	if info.hasAudio && s.audio == nil {
		if s.audio, err = newForwarder(codecOpus.RTPCodecCapability, "audio", "siteinspect-"+s.id, false); err != nil {
			s.pub = old
			delete(s.closing, old)
			s.mu.Unlock()
			_ = pc.Close()
			return "", "", err
		}
	}
	for _, f := range []*forwarder{s.video, s.audio} {
		if f != nil {
			f.setSource(p.id)
		}
	}
	p.video, p.audio = s.video, s.audio
	s.mu.Unlock()

	for _, v := range stale {
		s.removeViewer(v)
	}
	if old != nil {
		s.m.log.Info("publisher replaced", "session", s.id, "old", old.id, "new", p.id)
		// Finalizing the old segment (and Manager.OnSegment storing it)
		// need not hold up the answer: End waits for it.
		go s.closePublisher(old)
	}
	return answer, p.id, nil
}

// segmentPath reserves the next segment number; the recorder calls it
// when its first keyframe arrives. It runs under the recorder's lock, so
// it must not take the session's: Status holds that one while it asks
// the recorders.
func (s *session) segmentPath(ext string) string {
	n := s.nextSeg.Add(1)
	_ = os.MkdirAll(s.dir, 0o750) // a failure shows when the recorder creates the file
	return segmentPath(s.dir, int(n), ext)
}

// dropPublisher forgets p if it is still current and closes it.
func (s *session) dropPublisher(p *publisher) {
	s.mu.Lock()
	s.detachLocked(p)
	s.mu.Unlock()
	s.closePublisher(p)
}

// detachLocked makes p no longer current (if it was) and, until
// closePublisher has kept its segment, a closing one.
func (s *session) detachLocked(p *publisher) {
	if s.pub == p {
		s.pub, s.lastEnd = nil, time.Now()
	}
	if !p.accounted {
		s.closing[p] = struct{}{}
	}
}

// closePublisher closes p and keeps its finished segment (once, however
// many callers race here).
// Manager.OnSegment's function runs on the finished segment before p stops counting
// as closing, and the callers that lost the race wait for it, so End
// joins only segments that it has seen.
func (s *session) closePublisher(p *publisher) {
	seg := p.close()
	s.mu.Lock()
	first := !p.accounted
	if first {
		s.segments = append(s.segments, p.rec.rotatedSegments()...)
		if seg != nil {
			s.segments = append(s.segments, seg)
		}
		p.accounted = true
	}
	s.mu.Unlock()
	if !first {
		<-p.segDone
		return
	}
	if seg != nil {
		s.onSegment(seg)
	}
	close(p.segDone)
	s.mu.Lock()
	delete(s.closing, p)
	s.mu.Unlock()
}

// onSegment hands a finished segment to Manager.OnSegment's function.
func (s *session) onSegment(seg *segment) {
	if fn := s.m.onSegment.Load(); fn != nil && *fn != nil {
		(*fn)(s.id, Segment{Path: seg.path, ContentType: seg.contentType, Start: seg.start, Duration: seg.duration})
	}
}

// rotated takes a segment a recorder finished by rotation (under the
// recorder's lock, so without blocking) and hands it to OnSegment on a
// goroutine that end waits for.
func (s *session) rotated(seg *segment) {
	s.storing.Add(1)
	go func() {
		defer s.storing.Done()
		s.onSegment(seg)
	}()
}

func (s *session) unpublish(resourceID string) error {
	s.mu.Lock()
	p := s.pub
	if p == nil || p.id != resourceID {
		s.mu.Unlock()
		return ErrNoPublisher
	}
	s.detachLocked(p)
	s.mu.Unlock()
	s.closePublisher(p)
	return nil
}

// requestKeyframe asks the current publisher for a keyframe.
func (s *session) requestKeyframe() {
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p != nil {
		p.requestKeyframe()
	}
}

// end closes everything and joins the segments into the recording.
func (s *session) end() (*Recording, error) {
	s.mu.Lock()
	s.ended = true
	p, viewers := s.pub, s.viewers
	s.viewers, s.talker = map[string]*viewer{}, ""
	if s.talk != nil {
		s.talk.setSource("")
	}
	if p != nil {
		s.detachLocked(p)
	}
	// Publishers replaced or dropped just before are still finishing
	// their segments on other goroutines; wait for them (close blocks
	// until the first call has finished) so that the join has them all.
	closing := make([]*publisher, 0, len(s.closing))
	for c := range s.closing {
		closing = append(closing, c)
	}
	s.mu.Unlock()
	for _, c := range closing {
		s.closePublisher(c)
	}
	for _, v := range viewers {
		v.close()
	}
	s.storing.Wait()
	s.mu.Lock()
	segs := s.segments
	s.segments = nil
	s.mu.Unlock()
	return joinSegments(s.dir, segs)
}

// publisher is one WHIP connection.
type publisher struct {
	s     *session
	id    string
	info  offerInfo
	pc    *webrtc.PeerConnection
	rec   *recorder
	video *forwarder
	audio *forwarder

	pli       keyframeThrottle
	videoSSRC atomic.Uint32
	audioSSRC atomic.Uint32
	pending   atomic.Bool // a keyframe was asked for before the video track arrived
	trailing  atomic.Bool // a throttled request is scheduled
	closing   atomic.Bool
	once      sync.Once
	quality   qualityMeter

	seg       *segment      // set by close
	accounted bool          // its segment is in session.segments (or it had none); guarded by session.mu
	segDone   chan struct{} // closed once the segment is accounted and Manager.OnSegment's function has run
}

// onTrack forwards and records one incoming track until the connection
// ends; pion runs it on its own goroutine.
func (p *publisher) onTrack(t *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	kind, fwd := t.Kind(), p.audio
	if kind == webrtc.RTPCodecTypeVideo {
		fwd = p.video
		p.videoSSRC.Store(uint32(t.SSRC()))
		if p.pending.Swap(false) {
			p.requestKeyframe()
		}
	} else {
		p.audioSSRC.Store(uint32(t.SSRC()))
	}
	go p.readRTCP(kind, receiver)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			// The peer went away (DTLS close, ICE failure) or we closed it.
			if !p.closing.Load() {
				go p.s.dropPublisher(p)
			}
			return
		}
		if ok, first := p.s.budget.take(len(pkt.Payload), time.Now()); !ok {
			if first {
				p.s.m.log.Warn("live session receives past the ingest bound: packets past it are dropped",
					"session", p.s.id, "publisher", p.id, "max_kbps", p.s.m.cfg.MaxIngestKbps)
			}
			continue
		}
		if fwd != nil {
			fwd.write(p.id, pkt)
		}
		p.rec.push(kind, pkt)
	}
}

// readRTCP passes the track's sender reports to the recorder, which
// lines audio and video up by them. It ends when the connection closes.
func (p *publisher) readRTCP(kind webrtc.RTPCodecType, receiver *webrtc.RTPReceiver) {
	readRTCP(p.s.m.log, receiver.ReadRTCP, func(pkts []rtcp.Packet) {
		for _, pkt := range pkts {
			if sr, ok := pkt.(*rtcp.SenderReport); ok {
				p.rec.senderReport(kind, sr.NTPTime, sr.RTPTime)
			}
		}
	})
}

// maxRTCPErrors is how many failed RTCP reads in a row end a reader.
const maxRTCPErrors = 100

// readRTCP reads one RTP sender's or receiver's RTCP until its
// connection closes, handing each compound packet to handle (nil: the
// interceptors' reading is all that is wanted). A packet that does not
// parse (the interceptors and ReadRTCP return its error) is skipped: one
// malformed report from a peer must not end the answers to its NACKs and
// PLIs, nor the recorder's sender reports. maxRTCPErrors failures in a
// row end it too, so that an error that does not go away cannot spin.
func readRTCP(log *slog.Logger, read func() ([]rtcp.Packet, interceptor.Attributes, error), handle func([]rtcp.Packet)) {
	for failed := 0; ; {
		pkts, _, err := read()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
			return
		}
		if err != nil {
			if failed++; failed == maxRTCPErrors {
				log.Warn("RTCP unreadable, no longer read", "err", err)
				return
			}
			log.Debug("RTCP packet skipped", "err", err)
			continue
		}
		failed = 0
		if handle != nil {
			handle(pkts)
		}
	}
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) for the video track, at
// most one per keyframeInterval; a request inside the interval is sent
// when it ends, so a viewer joining just after another still gets one.
func (p *publisher) requestKeyframe() {
	if p.closing.Load() {
		return
	}
	ssrc := p.videoSSRC.Load()
	if ssrc == 0 {
		p.pending.Store(true)
		return
	}
	if !p.pli.allow() {
		if p.trailing.CompareAndSwap(false, true) {
			time.AfterFunc(keyframeInterval, func() {
				p.trailing.Store(false)
				p.requestKeyframe()
			})
		}
		return
	}
	if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		p.s.m.log.Debug("keyframe request", "publisher", p.id, "err", err)
	}
}

// close ends the connection and finalizes the segment; it is idempotent
// and returns the segment (nil if nothing was recorded) on every call,
// once the first call has finished it.
func (p *publisher) close() *segment {
	p.once.Do(func() {
		p.closing.Store(true)
		if err := p.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.s.m.log.Debug("close publisher", "publisher", p.id, "err", err)
		}
		p.seg = p.rec.close()
	})
	return p.seg
}
