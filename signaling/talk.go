package signaling

import (
	"fmt"
	"log/slog"

	"github.com/pion/webrtc/v4"
)

// Two-way audio: an inspector talks to the phone. Each viewer whose WHEP
// offer sends audio has its microphone read; the session's talk
// forwarder passes on the packets of one viewer at a time, the talker,
// to every publisher whose WHIP offer asked to receive audio (sendrecv).
// The forwarder rewrites sequence numbers and timestamps when the talker
// changes, so the phone hears one continuous stream with pauses.

// SetTalker makes the viewer viewerResourceID the one whose microphone
// the publisher hears; "" stops talking. It returns ErrNoSession, or
// ErrNoViewer when the session has no such viewer. A talker that stops
// viewing stops talking.
func (m *Manager) SetTalker(sessionID, viewerResourceID string) error {
	s, err := m.session(sessionID, false)
	if err != nil {
		return err
	}
	return s.setTalker(viewerResourceID)
}

func (s *session) setTalker(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" && s.viewers[id] == nil {
		return ErrNoViewer
	}
	s.talker = id
	if s.talk != nil {
		s.talk.setSource(id)
	}
	return nil
}

// attachTalkback makes the publisher's sendrecv audio transceiver send
// track: the answer then carries sendrecv on that same m-line, as
// RFC 9725 publishers that want the inspector's voice expect.
func attachTalkback(api *webrtc.API, log *slog.Logger, tr *webrtc.RTPTransceiver, track webrtc.TrackLocal) error {
	sender, err := api.NewRTPSender(track, tr.Receiver().Transport())
	if err != nil {
		return fmt.Errorf("signaling: talkback sender: %w", err)
	}
	if err := tr.SetSender(sender, track); err != nil {
		_ = sender.Stop()
		return fmt.Errorf("signaling: talkback sender: %w", err)
	}
	// Read so that the interceptors see it: NACKs answered, receiver
	// reports taken into the statistics.
	go readRTCP(log, sender.ReadRTCP, nil)
	return nil
}

// readMicrophone forwards a viewer's incoming audio to the publisher
// while that viewer is the talker; pion runs it on its own goroutine
// until the connection ends.
func (v *viewer) readMicrophone(talk *forwarder, t *webrtc.TrackRemote) {
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if talk != nil && t.Kind() == webrtc.RTPCodecTypeAudio {
			talk.write(v.id, pkt)
		}
	}
}
