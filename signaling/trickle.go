package signaling

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// trickle applies a WHIP PATCH body (RFC 9725 §4.3.1): an RFC 8840
// trickle-ice-sdpfrag (grammar in RFC 8840 §9.2) carrying a=ice-ufrag,
// a=ice-pwd, a=mid and a=candidate lines, and possibly
// a=end-of-candidates. New credentials mean an ICE restart (RFC 9725
// §4.3.3), which is refused with ErrICERestart.
func (s *session) trickle(resourceID, frag string) error {
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p == nil || p.id != resourceID {
		return ErrNoPublisher
	}
	return applyTrickle(p.pc, frag)
}

// trickleViewer applies a WHEP PATCH to the viewer resourceID.
func (s *session) trickleViewer(resourceID, frag string) error {
	s.mu.Lock()
	v := s.viewers[resourceID]
	s.mu.Unlock()
	if v == nil {
		return ErrNoViewer
	}
	return applyTrickle(v.pc, frag)
}

// applyTrickle adds a fragment's candidates to pc.
func applyTrickle(pc *webrtc.PeerConnection, frag string) error {
	remote := pc.RemoteDescription()
	if remote == nil {
		return ErrNoPublisher
	}
	var mid, ufrag, pwd string
	var cands []webrtc.ICECandidateInit
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || len(key) != 1 {
			return fmt.Errorf("%w: fragment line %q", ErrBadSDP, line)
		}
		if key != "a" {
			continue // m=, c= etc. only delimit media sections
		}
		name, value, _ := strings.Cut(val, ":")
		switch name {
		case "ice-ufrag":
			ufrag = value
		case "ice-pwd":
			pwd = value
		case "mid":
			mid = value
		case "candidate":
			m := mid
			cands = append(cands, webrtc.ICECandidateInit{Candidate: "candidate:" + value, SDPMid: &m})
		case "end-of-candidates":
			// pion needs no signal: it keeps checking the pairs it has.
		}
	}
	if (ufrag != "" && !strings.Contains(remote.SDP, "a=ice-ufrag:"+ufrag+"\r\n") && !strings.Contains(remote.SDP, "a=ice-ufrag:"+ufrag+"\n")) ||
		(pwd != "" && !strings.Contains(remote.SDP, "a=ice-pwd:"+pwd)) {
		return ErrICERestart
	}
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
	}
	return nil
}
