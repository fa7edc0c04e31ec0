package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"siteinspect/live"
	"siteinspect/signaling"
)

// liveFlags configure live inspections (WebRTC).
type liveFlags struct {
	recordDir         string
	ice               string
	natIPs            string
	udpPort, tcpPort  int
	loopback          bool
	idle, tokenTTL    time.Duration
	idleStr, ttlStr   string
	disconnectedAfter string
	failedAfter       string
	replicaID         string
	internalURL       string
	segmentStr        string
	maxKbps           int
	maxViewers        int
	maxDurStr         string
	maxDur            time.Duration
}

func (lf *liveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.recordDir, "live-record-dir", "", "where live recordings are written while sessions run (default DATA/live)")
	fs.StringVar(&lf.ice, "ice-servers", "", "STUN/TURN servers for live clients, space-separated; TURN as turn:host:3478?transport=udp|user|password")
	fs.StringVar(&lf.natIPs, "nat-ips", "", "public addresses to advertise instead of the host's own (server behind a 1:1 NAT), comma-separated")
	fs.IntVar(&lf.udpPort, "webrtc-udp-port", 0, "serve all WebRTC media on this one UDP port (0: an ephemeral port per connection)")
	fs.IntVar(&lf.tcpPort, "webrtc-tcp-port", 0, "also accept ICE over TCP on this port, for firewalled networks (0: off)")
	fs.BoolVar(&lf.loopback, "webrtc-loopback", false, "offer loopback candidates (tests and single-machine demos only)")
	fs.StringVar(&lf.idleStr, "live-idle", "10m", "end a live session after this long without a publisher")
	fs.StringVar(&lf.ttlStr, "live-token-ttl", "2h", "how long a join link works before the applicant first publishes")
	fs.StringVar(&lf.disconnectedAfter, "webrtc-disconnected-timeout", "5s", "silence after which a peer counts as disconnected")
	fs.StringVar(&lf.failedAfter, "webrtc-failed-timeout", "25s", "silence after which a peer's connection fails and a publisher's recording segment is closed")
	fs.StringVar(&lf.segmentStr, "live-segment", "30s", "start a new recording segment at the first keyframe after this long, so that each is stored at once and a crashed replica loses at most the last (0: one segment per connection)")
	fs.StringVar(&lf.maxDurStr, "live-max-duration", "3h", "end a live session this long after the applicant first published, keeping its recording")
	fs.IntVar(&lf.maxKbps, "live-max-kbps", 6000, "the most a live session's publisher may bring in, kilobits a second: packets past it are neither forwarded nor recorded (0: no bound)")
	fs.IntVar(&lf.maxViewers, "live-max-viewers", 200, "the most viewers a live session has at once, each a WebRTC connection from an officer's page (0: no bound)")
	fs.StringVar(&lf.replicaID, "replica-id", "", "this replica's id among several sharing the database, the same after a restart (default: the host name and the --listen port; with port 0, the host name and a hash of --data)")
	fs.StringVar(&lf.internalURL, "internal-url", "", "where the other replicas reach this one, http://host:port (default: from --listen and the port it got; an unspecified host is the host name)")
}

// replica names this process among several: --replica-id and
// --internal-url, or their defaults from the listen address and the data
// folder.
func (lf *liveFlags) replica(listen string, addr net.Addr, data string) (live.Replica, error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	r := live.Replica{ID: lf.replicaID, InternalURL: lf.internalURL}
	lhost, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return r, fmt.Errorf("--listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	if r.ID == "" {
		if lport != "0" {
			r.ID = host + "-" + lport
		} else {
			// Port 0 differs at each start: the data folder is what
			// stays, and two replicas never share one.
			abs, _ := filepath.Abs(data)
			sum := sha256.Sum256([]byte(abs))
			r.ID = host + "-" + hex.EncodeToString(sum[:4])
		}
	}
	if r.InternalURL == "" {
		h := lhost
		if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
			h = host
		}
		r.InternalURL = "http://" + net.JoinHostPort(h, port)
	}
	u, err := url.Parse(r.InternalURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, fmt.Errorf("--internal-url %q: want http://host:port", r.InternalURL)
	}
	return r, nil
}

// parseICEServers reads --ice-servers.
func parseICEServers(s string) ([]webrtc.ICEServer, error) {
	var list []webrtc.ICEServer
	for _, f := range strings.Fields(s) {
		parts := strings.Split(f, "|")
		u := parts[0]
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return nil, fmt.Errorf("--ice-servers: %q is not a stun:, turn: or turns: URL", u)
		}
		srv := webrtc.ICEServer{URLs: []string{u}}
		switch len(parts) {
		case 1:
		case 3:
			srv.Username, srv.Credential = parts[1], parts[2]
		default:
			return nil, fmt.Errorf("--ice-servers: write TURN servers as url|user|password, not %q", f)
		}
		list = append(list, srv)
	}
	return list, nil
}

// open builds the signaling manager.
func (lf *liveFlags) open(data string, log *slog.Logger) (*signaling.Manager, signaling.Config, error) {
	// Each duration flag's error names the flag.
	duration := func(flag, v string) (time.Duration, error) {
		d, err := parseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("--%s: %w", flag, err)
		}
		return d, nil
	}
	var err1, err2, err3, err4, err5 error
	lf.idle, err1 = duration("live-idle", lf.idleStr)
	lf.tokenTTL, err2 = duration("live-token-ttl", lf.ttlStr)
	disc, err3 := duration("webrtc-disconnected-timeout", lf.disconnectedAfter)
	ice, err4 := parseICEServers(lf.ice)
	failed, err5 := duration("webrtc-failed-timeout", lf.failedAfter)
	segment, err6 := time.ParseDuration(lf.segmentStr)
	if err6 != nil || segment < 0 {
		err6 = fmt.Errorf("--live-segment: bad duration %q: want e.g. 30s, or 0", lf.segmentStr)
	}
	var err7, err8, err9 error
	lf.maxDur, err8 = duration("live-max-duration", lf.maxDurStr)
	if lf.maxKbps < 0 {
		err7 = fmt.Errorf("--live-max-kbps: %d: want a number of kilobits a second, or 0", lf.maxKbps)
	}
	if lf.maxViewers < 0 {
		err9 = fmt.Errorf("--live-max-viewers: %d: want a number of viewers, or 0", lf.maxViewers)
	}
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9} {
		if err != nil {
			return nil, signaling.Config{}, err
		}
	}
	dir := lf.recordDir
	if dir == "" {
		dir = filepath.Join(data, "live")
	}
	cfg := signaling.Config{
		IncludeLoopback: lf.loopback, UDPMuxPort: lf.udpPort, ICETCPPort: lf.tcpPort, ICEServers: ice,
		ICEDisconnectedTimeout: disc, ICEFailedTimeout: failed, RecordDir: dir, Logger: log.With("component", "live"),
		MaxSegment: segment, MaxIngestKbps: lf.maxKbps, MaxViewers: lf.maxViewers,
	}
	if lf.natIPs != "" {
		cfg.NAT1To1IPs = strings.Split(lf.natIPs, ",")
	}
	m, err := signaling.NewManager(cfg)
	if err != nil {
		return nil, cfg, err
	}
	return m, cfg, nil
}
