package signaling

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// viewer is one WHEP connection.
type viewer struct {
	id      string
	pc      *webrtc.PeerConnection
	once    sync.Once
	quality qualityMeter
	// ssrcs are the viewer's outgoing streams, video first when it has one.
	ssrcs []uint32
	// outs are the viewer's send queues and the forwarders feeding them.
	outs []viewerOut
}

// viewerOut is one of a viewer's tracks: its queue and the forwarder
// that fills it.
type viewerOut struct {
	f *forwarder
	q *sendQueue
}

// close stops the viewer's queues and closes its connection; it is
// idempotent.
func (v *viewer) close() {
	v.once.Do(func() {
		// Closed before removed: forwarder.add skips a closed queue, so
		// one added concurrently cannot stay behind.
		for _, o := range v.outs {
			o.q.close()
			o.f.remove(o.q)
		}
		if v.pc != nil {
			_ = v.pc.Close()
		}
	})
}

func (s *session) view(ctx context.Context, offer string) (string, string, error) {
	s.mu.Lock()
	var fwds []*forwarder
	for _, f := range []*forwarder{s.video, s.audio} {
		if f != nil {
			fwds = append(fwds, f)
		}
	}
	talk := s.talk
	if len(fwds) == 0 {
		s.mu.Unlock()
		return "", "", ErrNoPublisher
	}
	if limit := s.m.cfg.MaxViewers; limit > 0 && len(s.viewers)+s.joining >= limit {
		s.mu.Unlock()
		return "", "", ErrViewersFull
	}
	s.joining++
	s.mu.Unlock()
	joined := false
	defer func() {
		if !joined {
			s.mu.Lock()
			s.joining--
			s.mu.Unlock()
		}
	}()
	if _, err := parseOffer(offer); err != nil && !isNoCodec(err) {
		return "", "", err
	}
	v := &viewer{id: newResourceID()}
	_, answer, err := s.newPeerConnectionWith(ctx, s.m.viewAPI, offer, func(pc *webrtc.PeerConnection, st stats.Getter) error {
		v.pc = pc
		v.quality.start(st, time.Now())
		// Only an offer whose audio is sendrecv brings a track: the
		// officer's microphone, passed on while they are the talker.
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.readMicrophone(talk, t) })
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			s.m.log.Debug("viewer connection", "session", s.id, "viewer", v.id, "state", st)
			switch st {
			case webrtc.PeerConnectionStateConnected:
				s.requestKeyframe() // so the picture starts now, not at the next natural keyframe
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				go s.removeViewer(v)
			}
		})
		for _, f := range fwds {
			t, err := f.newTrack()
			if err != nil {
				return fmt.Errorf("signaling: %s track: %w", f.kind, err)
			}
			sender, err := pc.AddTrack(t)
			if err != nil {
				return fmt.Errorf("signaling: add %s track: %w", t.Kind(), err)
			}
			if enc := sender.GetParameters().Encodings; len(enc) > 0 {
				v.ssrcs = append(v.ssrcs, uint32(enc[0].SSRC))
			}
			v.outs = append(v.outs, viewerOut{f: f, q: s.m.newViewerQueue(f, t, s.requestKeyframe)})
			go s.readViewerRTCP(sender)
		}
		return nil
	})
	if err != nil {
		v.close()
		return "", "", err
	}
	s.mu.Lock()
	s.joining--
	joined = true
	if s.ended {
		s.mu.Unlock()
		v.close()
		return "", "", ErrNoSession
	}
	s.viewers[v.id] = v
	s.mu.Unlock()
	// The queues start filling once the answer is ready; pion drops what
	// a track is given before the connection is up.
	for _, o := range v.outs {
		go o.q.run()
		o.f.add(o.q)
	}
	return answer, v.id, nil
}

// newViewerQueue returns a send queue from f to one viewer's track t,
// asking for a keyframe (needKeyframe) when its video overflows.
func (m *Manager) newViewerQueue(f *forwarder, t *webrtc.TrackLocalStaticRTP, needKeyframe func()) *sendQueue {
	n, key := audioQueueLen, keyframeStart(f.codec.MimeType)
	if key != nil {
		n = videoQueueLen
	}
	if m.queueLen > 0 {
		n = m.queueLen
	}
	write := t.WriteRTP
	if m.wrapWrite != nil {
		write = m.wrapWrite(t.Kind(), write)
	}
	return newSendQueue(n, write, key, needKeyframe)
}

func isNoCodec(err error) bool { return err == ErrNoCodec }

// readViewerRTCP reads a viewer's RTCP so the interceptors see it (NACKs
// are answered from the responder's buffer) and passes picture loss on to
// the publisher. It ends when the connection closes.
func (s *session) readViewerRTCP(sender *webrtc.RTPSender) {
	readRTCP(s.m.log, sender.ReadRTCP, func(pkts []rtcp.Packet) {
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe()
			}
		}
	})
}

func (s *session) removeViewer(v *viewer) {
	s.mu.Lock()
	if s.viewers[v.id] == v {
		delete(s.viewers, v.id)
		if s.talker == v.id {
			s.talker = ""
			if s.talk != nil {
				s.talk.setSource("")
			}
		}
	}
	s.mu.Unlock()
	v.close()
}

func (s *session) stopViewing(resourceID string) error {
	s.mu.Lock()
	v := s.viewers[resourceID]
	s.mu.Unlock()
	if v == nil {
		return ErrNoViewer
	}
	s.removeViewer(v)
	return nil
}
