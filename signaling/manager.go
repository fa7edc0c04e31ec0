// Package signaling runs live inspections: it ingests an applicant's camera
// over WHIP (RFC 9725), forwards it to inspectors over WHEP, passes an
// inspector's voice back to the phone, takes snapshots, and records the
// camera into one file per session on local disk.
//
// The package knows nothing of HTTP: the server package maps requests onto
// Manager's methods and the sentinel errors onto status codes.
package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Errors returned by Manager. The HTTP layer maps them onto status codes.
var (
	// ErrBadSDP means an offer or a trickle fragment could not be parsed or
	// applied (HTTP 400).
	ErrBadSDP = errors.New("signaling: malformed SDP")
	// ErrNoMedia means an offer has no audio or video media section (no
	// m= line at all, or only a data channel): there is nothing to
	// publish or to receive (HTTP 400). It is an ErrBadSDP too.
	ErrNoMedia = fmt.Errorf("%w: the offer has no audio or video media section", ErrBadSDP)
	// ErrNoSession means no live session has that id (HTTP 404).
	ErrNoSession = errors.New("signaling: no such live session")
	// ErrNoPublisher means the session has never had a publisher, so there
	// is nothing to watch yet (HTTP 409), or the resource id does not name
	// the current publisher (HTTP 404). Snapshot returns it when no
	// publisher is connected or it sends no video (HTTP 409).
	ErrNoPublisher = errors.New("signaling: no publisher")
	// ErrNoViewer means the resource id does not name a viewer of the
	// session (HTTP 404).
	ErrNoViewer = errors.New("signaling: no such viewer")
	// ErrViewersFull means the session has Config.MaxViewers viewers
	// already (HTTP 429).
	ErrViewersFull = errors.New("signaling: the session has as many viewers as it takes")
	// ErrInvalidID means a session id is not a safe path element (HTTP 400).
	ErrInvalidID = errors.New("signaling: invalid session id")
	// ErrNoCodec means the offer carries no video or audio codec we accept
	// (VP8, H.264 packetization-mode=1, Opus) (HTTP 400 or 415).
	ErrNoCodec = errors.New("signaling: no supported codec offered")
	// ErrICERestart means a trickle fragment asked for an ICE restart
	// (new ice-ufrag/ice-pwd), which this server does not support yet;
	// RFC 9725 §4.3 lets the client fall back to a new POST.
	ErrICERestart = errors.New("signaling: ICE restart not supported")
	// ErrClosed means the Manager has been closed.
	ErrClosed = errors.New("signaling: manager closed")
)

// Config configures a Manager.
type Config struct {
	// IncludeLoopback gathers 127.0.0.1 candidates. Only tests want it: a
	// real client never reaches the server over loopback, and the extra
	// candidate costs a connectivity check per client.
	IncludeLoopback bool
	// NAT1To1IPs are the public addresses advertised instead of the host's
	// own when the server sits behind a 1:1 NAT (a cloud VM's elastic IP).
	NAT1To1IPs []string
	// UDPMuxPort, when positive, serves every PeerConnection from this one
	// UDP port (ICE UDP mux), so a firewall needs a single rule. Zero gives
	// each connection its own ephemeral port.
	UDPMuxPort int
	// ICETCPPort, when positive, also serves ICE over TCP (RFC 6544,
	// passive candidates) from this one TCP port, for phones on networks
	// that block UDP. TCP is the fallback: media over it stalls on every
	// lost segment, so clients still prefer the UDP candidates. Zero
	// offers UDP only.
	ICETCPPort int
	// ICEServers are the STUN/TURN servers advertised to clients (the HTTP
	// layer puts them in Link headers, RFC 9725 §4.6) and used by the server
	// itself for gathering.
	ICEServers []webrtc.ICEServer
	// ICEDisconnectedTimeout and ICEFailedTimeout bound how long a vanished
	// peer (phone locked, network gone) keeps its connection; shorter
	// values finalize a dropped publisher's segment sooner but end
	// connections that only stalled. Zero keeps pion's defaults (5 s, 25 s).
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// RecordDir holds recordings while sessions run: RecordDir/{session}/.
	RecordDir string
	// MaxSegment, when positive, ends a recording segment and starts the
	// next at the first keyframe after a segment has run this long, so
	// that each finished segment can be stored (OnSegment) while the
	// publisher stays connected: a crash then loses at most the segment
	// being written. Zero makes one segment per publisher connection.
	MaxSegment time.Duration
	// MaxIngestKbps, when positive, bounds what a session's publisher
	// (and any that reconnects after it) may bring in, audio and video
	// together, in kilobits a second with ingestBurst to spare: packets past it are neither forwarded nor
	// recorded, so a client that floods the server cannot fill the case's
	// evidence. Zero takes everything.
	MaxIngestKbps int
	// MaxViewers, when positive, is the most viewers a session has at
	// once, those still connecting included: each is a peer connection
	// and a share of a core, so one officer's login cannot open them
	// without end. Zero takes any number.
	MaxViewers int
	// Logger receives connection and recording events; nil discards them.
	Logger *slog.Logger
}

// Manager holds the live sessions of this process. It is safe for
// concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API // publishers
	// viewAPI is the viewers' stack: only the interceptors a sending
	// peer needs (viewerInterceptors).
	viewAPI *webrtc.API
	mux     ice.UDPMux // owns its socket: Close frees the port (TestUDPMux)
	tcp     ice.TCPMux
	mu      sync.Mutex
	sess    map[string]*session
	done    bool

	// stats holds each new PeerConnection's RTP statistics (pion's stats
	// interceptor) by PeerConnection id until the session code claims it.
	statsMu sync.Mutex
	stats   map[string]stats.Getter

	onSegment atomic.Pointer[func(sessionID string, seg Segment)]

	// Tests only: queueLen, when positive, replaces the viewers' send
	// queue lengths; wrapWrite, when set, wraps each new viewer track's
	// write (to stall one viewer).
	queueLen  int
	wrapWrite func(kind webrtc.RTPCodecType, write func(*rtp.Packet) error) func(*rtp.Packet) error
}

// OnSegment sets fn to be called with each recording segment as it is
// finished (a publisher replaced, gone, unpublished or ended), on the
// goroutine that finished it and before End joins it: the file stays in
// place until fn returns. Several replicas use it to store each segment at
// once, so that another replica can take the session over if this one
// dies. Set it before the first Publish.
func (m *Manager) OnSegment(fn func(sessionID string, seg Segment)) {
	m.onSegment.Store(&fn)
}

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// NewManager validates cfg and prepares the WebRTC stack shared by all
// sessions. Call Close to release the UDP mux port and finish recordings.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.RecordDir == "" {
		return nil, errors.New("signaling: Config.RecordDir is required")
	}
	if err := os.MkdirAll(cfg.RecordDir, 0o750); err != nil {
		return nil, fmt.Errorf("signaling: record dir: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: log, sess: map[string]*session{}, stats: map[string]stats.Getter{}}

	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	reg, err := m.interceptors(me)
	if err != nil {
		return nil, err
	}

	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	if cfg.ICEDisconnectedTimeout > 0 || cfg.ICEFailedTimeout > 0 {
		d, f := cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout
		if d <= 0 {
			d = 5 * time.Second
		}
		if f <= 0 {
			f = 25 * time.Second
		}
		se.SetICETimeouts(d, f, 2*time.Second)
	}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.UDPMuxPort > 0 {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{Port: cfg.UDPMuxPort})
		if err != nil {
			return nil, fmt.Errorf("signaling: UDP mux port %d: %w", cfg.UDPMuxPort, err)
		}
		m.mux = webrtc.NewICEUDPMux(nil, udp)
		se.SetICEUDPMux(m.mux)
		se.SetNetworkTypes(networks)
	}
	if cfg.ICETCPPort > 0 {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.ICETCPPort))
		if err != nil {
			if m.mux != nil {
				m.mux.Close()
			}
			return nil, fmt.Errorf("signaling: ICE TCP port %d: %w", cfg.ICETCPPort, err)
		}
		// The mux owns the listener and closes it. Its read buffer counts
		// packets per connection; TCP flow control pushes back beyond it.
		m.tcp = webrtc.NewICETCPMux(nil, ln, 64)
		se.SetICETCPMux(m.tcp)
		se.SetNetworkTypes(append(networks, webrtc.NetworkTypeTCP4))
	}
	m.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	vme := &webrtc.MediaEngine{}
	if err := registerCodecs(vme); err != nil {
		return nil, err
	}
	vreg, err := m.viewerInterceptors(vme)
	if err != nil {
		return nil, err
	}
	m.viewAPI = webrtc.NewAPI(webrtc.WithMediaEngine(vme), webrtc.WithInterceptorRegistry(vreg), webrtc.WithSettingEngine(se))
	return m, nil
}

// interceptors builds pion's default interceptor set: NACK (generator
// towards the publisher, responder for viewers), RTCP sender/receiver
// reports, simulcast header extensions, stream statistics and TWCC.
// Keyframe requests are ours: throttled PLIs on demand rather than
// interval PLIs. The statistics interceptor is our own instance so that
// Status can read what pion's GetStats leaves out: the outbound-rtp and
// remote-inbound-rtp (receiver report) figures of the viewers' streams.
func (m *Manager) interceptors(me *webrtc.MediaEngine) (*interceptor.Registry, error) {
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, reg); err != nil {
		return nil, fmt.Errorf("signaling: interceptors: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("signaling: interceptors: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("signaling: interceptors: %w", err)
	}
	if err := m.addStats(reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(me, reg); err != nil {
		return nil, fmt.Errorf("signaling: interceptors: %w", err)
	}
	return reg, nil
}

// viewerInterceptors builds the viewers' interceptor set, which runs on
// every packet to every viewer: our NACK responder (loss recovery from
// its ring of sent packets, RFC 4585 §6.2.1; nack.go), RTCP sender and receiver
// reports (the viewer lines audio and video up by our sender reports;
// the officer's microphone gets receiver reports), and the statistics
// Status reads. Not the NACK generator and the TWCC feedback sender:
// they act on received media only (a viewer sends us at most its
// microphone's Opus, which negotiates neither) yet each runs a 100 ms
// ticker goroutine per connection; nor the simulcast header extensions,
// which only a publisher sends.
func (m *Manager) viewerInterceptors(me *webrtc.MediaEngine) (*interceptor.Registry, error) {
	reg := &interceptor.Registry{}
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	reg.Add(nackResponderFactory{})
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("signaling: viewer interceptors: %w", err)
	}
	if err := m.addStats(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// addStats adds a statistics interceptor whose getters takeStats hands out.
func (m *Manager) addStats(reg *interceptor.Registry) error {
	st, err := stats.NewInterceptor()
	if err != nil {
		return fmt.Errorf("signaling: stats interceptor: %w", err)
	}
	st.OnNewPeerConnection(func(id string, g stats.Getter) {
		m.statsMu.Lock()
		m.stats[id] = g
		m.statsMu.Unlock()
	})
	reg.Add(st)
	return nil
}

// takeStats returns the statistics of PeerConnection id and forgets them
// here: the peer that owns the connection keeps them from now on.
func (m *Manager) takeStats(id string) stats.Getter {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	g := m.stats[id]
	delete(m.stats, id)
	return g
}

// session returns the live session id, creating it when create is set.
func (m *Manager) session(id string, create bool) (*session, error) {
	if !sessionIDPattern.MatchString(id) {
		return nil, ErrInvalidID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil, ErrClosed
	}
	s := m.sess[id]
	if s == nil {
		if !create {
			return nil, ErrNoSession
		}
		s = newSession(m, id)
		m.sess[id] = s
	}
	return s, nil
}

// Publish answers a WHIP offer (RFC 9725 §4.2): the publisher's camera
// becomes the session's media. The session is created on its first
// Publish. A second Publish on the same session replaces the first
// publisher (a reconnect: the HTTP layer has checked that it carries the
// same token); its recording continues as the next segment. resourceID
// names the publisher in the WHIP resource URL (the Location header).
func (m *Manager) Publish(ctx context.Context, sessionID, offerSDP string) (answerSDP, resourceID string, err error) {
	// The offer is checked (after the id) before the session is made, so
	// a refused offer leaves nothing behind.
	if !sessionIDPattern.MatchString(sessionID) {
		return "", "", ErrInvalidID
	}
	info, err := parseOffer(offerSDP)
	if err != nil {
		return "", "", err
	}
	s, err := m.session(sessionID, true)
	if err != nil {
		return "", "", err
	}
	return s.publish(ctx, offerSDP, info)
}

// Trickle applies an RFC 8840 trickle-ice-sdpfrag (a WHIP PATCH,
// RFC 9725 §4.3) to the publisher resourceID.
func (m *Manager) Trickle(sessionID, resourceID, sdpfrag string) error {
	s, err := m.session(sessionID, false)
	if err != nil {
		return err
	}
	return s.trickle(resourceID, sdpfrag)
}

// TrickleViewer applies a trickle-ice-sdpfrag (a WHEP PATCH) to the
// viewer resourceID.
func (m *Manager) TrickleViewer(sessionID, resourceID, sdpfrag string) error {
	s, err := m.session(sessionID, false)
	if err != nil {
		return err
	}
	return s.trickleViewer(resourceID, sdpfrag)
}

// Unpublish ends the publisher resourceID (a WHIP DELETE, RFC 9725 §4.2)
// and finalizes its recording segment. The session stays open for a
// reconnect until End.
func (m *Manager) Unpublish(sessionID, resourceID string) error {
	s, err := m.session(sessionID, false)
	if err != nil {
		return err
	}
	return s.unpublish(resourceID)
}

// View answers a WHEP offer: the viewer receives the session's video and
// audio from now on, across publisher reconnects. It returns
// ErrNoPublisher until the session has had a publisher.
func (m *Manager) View(ctx context.Context, sessionID, offerSDP string) (answerSDP, resourceID string, err error) {
	s, err := m.session(sessionID, false)
	if err != nil {
		return "", "", err
	}
	return s.view(ctx, offerSDP)
}

// StopViewing closes the viewer resourceID (a WHEP DELETE).
func (m *Manager) StopViewing(sessionID, resourceID string) error {
	s, err := m.session(sessionID, false)
	if err != nil {
		return err
	}
	return s.stopViewing(resourceID)
}

// End closes the session's publisher and viewers, finalizes the recording
// and forgets the session. The Recording is nil when nothing was recorded
// (no keyframe ever arrived).
func (m *Manager) End(sessionID string) (*Recording, error) {
	if !sessionIDPattern.MatchString(sessionID) {
		return nil, ErrInvalidID
	}
	m.mu.Lock()
	s := m.sess[sessionID]
	delete(m.sess, sessionID)
	m.mu.Unlock()
	if s == nil {
		return nil, ErrNoSession
	}
	return s.end()
}

// Close ends every session (finalizing its recording; the files stay in
// RecordDir for the caller to pick up) and releases the UDP and TCP ports.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil
	}
	m.done = true
	all := m.sess
	m.sess = map[string]*session{}
	m.mu.Unlock()
	var errs []error
	for _, s := range all {
		if _, err := s.end(); err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", s.id, err))
		}
	}
	if m.mux != nil {
		errs = append(errs, m.mux.Close())
	}
	if m.tcp != nil {
		errs = append(errs, m.tcp.Close())
	}
	return errors.Join(errs...)
}
