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
}

func (v *viewer) close() {
	v.once.Do(func() { _ = v.pc.Close() })
}

func (s *session) view(ctx context.Context, offer string) (string, string, error) {
	s.mu.Lock()
	tracks := []*webrtc.TrackLocalStaticRTP{}
	for _, f := range []*forwarder{s.video, s.audio} {
		if f != nil {
			tracks = append(tracks, f.pick())
		}
	}
	talk := s.talk
	s.mu.Unlock()
	if len(tracks) == 0 {
		return "", "", ErrNoPublisher
	}
	if _, err := parseOffer(offer); err != nil && !isNoCodec(err) {
		return "", "", err
	}
	v := &viewer{id: newResourceID()}
	_, answer, err := s.newPeerConnection(ctx, offer, func(pc *webrtc.PeerConnection, st stats.Getter) error {
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
		for _, t := range tracks {
			sender, err := pc.AddTrack(t)
			if err != nil {
				return fmt.Errorf("signaling: add %s track: %w", t.Kind(), err)
			}
			if enc := sender.GetParameters().Encodings; len(enc) > 0 {
				v.ssrcs = append(v.ssrcs, uint32(enc[0].SSRC))
			}
			go s.readViewerRTCP(sender)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	s.mu.Lock()
	s.viewers[v.id] = v
	s.mu.Unlock()
	return answer, v.id, nil
}

func isNoCodec(err error) bool { return err == ErrNoCodec }

// readViewerRTCP reads a viewer's RTCP so the interceptors see it (NACKs
// are answered from the responder's buffer) and passes picture loss on to
// the publisher. It ends when the connection closes.
func (s *session) readViewerRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe()
			}
		}
	}
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
