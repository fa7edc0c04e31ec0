package signaling

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"siteinspect/internal/testenv"
)

// fuzzOffer is a real WHIP offer from a pion publisher (VP8 and Opus, as a
// phone sends), made once per fuzzing process.
func fuzzOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := testenv.ClientAPI(tb, codecVP8).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			tb.Fatal(err)
		}
	}
	return testenv.Offer(tb, pc)
}

// FuzzParseOffer checks what a WHIP POST's offer goes through before
// anything is negotiated (parseOffer), then pion's own parse of the offers
// it lets through, as session.newPeerConnection does. Beyond not
// panicking: the verdict is deterministic, a chosen codec is one we
// registered and named in the offer, two-way audio implies audio, and an
// error is ErrBadSDP or ErrNoCodec.
func FuzzParseOffer(f *testing.F) {
	offer := fuzzOffer(f)
	f.Add(offer)
	f.Add(strings.ReplaceAll(offer, "\r\n", "\n"))
	f.Add(strings.Replace(offer, "VP8/90000", "H264/90000\r\na=fmtp:96 packetization-mode=1", 1))
	f.Add(strings.ReplaceAll(offer, "a=sendonly", "a=sendrecv"))
	f.Add("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	f.Add("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 AV1/90000\r\n")
	f.Add("")

	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		f.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me))
	mid := regexp.MustCompile(`(?m)^a=mid:(.*?)\r?$`)
	f.Fuzz(func(t *testing.T, offer string) {
		info, err := parseOffer(offer)
		info2, err2 := parseOffer(offer)
		if (err == nil) != (err2 == nil) || info != info2 {
			t.Fatalf("parseOffer twice: got (%+v, %v) then (%+v, %v), want the same", info, err, info2, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCodec) {
				t.Fatalf("got error %v, want ErrBadSDP or ErrNoCodec", err)
			}
			return
		}
		lower := strings.ToLower(offer)
		switch info.video {
		case nil:
		case &codecVP8:
			if !strings.Contains(lower, "vp8") {
				t.Fatalf("got VP8 from an offer that does not name it")
			}
		case &codecH264:
			if !strings.Contains(lower, "h264") || !strings.Contains(offer, "packetization-mode=1") {
				t.Fatalf("got H.264 from an offer without H264 in packetization mode 1")
			}
		default:
			t.Fatalf("got video codec %+v, want VP8, H.264 or none", *info.video)
		}
		if info.hasAudio != strings.Contains(lower, "opus") && info.hasAudio {
			t.Fatalf("got audio from an offer that does not name Opus")
		}
		if info.talkbackMid != "" {
			found := false
			for _, m := range mid.FindAllStringSubmatch(offer, -1) {
				found = found || m[1] == info.talkbackMid
			}
			if !info.hasAudio || !found {
				t.Fatalf("got talkback mid %q (audio %v), want an audio section's a=mid", info.talkbackMid, info.hasAudio)
			}
		}
		if info.video == nil && !info.hasAudio {
			t.Fatalf("got no codec at all without ErrNoCodec")
		}
		// The offer goes on to pion: it may refuse it, but must not panic.
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		_ = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer})
		if err := pc.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
}

// FuzzTrickle feeds WHIP/WHEP PATCH bodies (RFC 8840 trickle-ice-sdpfrag)
// to applyTrickle on a PeerConnection that holds a real offer. Beyond not
// panicking: every error is ErrBadSDP or ErrICERestart, and the verdict
// does not change when the session's own credentials are sent first
// (later lines win, and repeating the current credentials is no restart).
func FuzzTrickle(f *testing.F) {
	offer := fuzzOffer(f)
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	pwd := regexp.MustCompile(`a=ice-pwd:(\S+)`).FindStringSubmatch(offer)[1]
	creds := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\n"
	f.Add(creds + "m=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n")
	f.Add("a=ice-ufrag:" + ufrag + "x\r\na=ice-pwd:" + pwd + "\r\n")
	f.Add("a=mid:1\na=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\n")
	f.Add("a=candidate:garbage\r\n")
	f.Add("x\r\n")
	f.Add("")

	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		f.Fatal(err)
	}
	// No local description: candidates are added to the agent but no
	// connectivity check is ever sent to the addresses the fuzzer makes up.
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { pc.Close() })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		f.Fatal(err)
	}
	class := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, ErrICERestart):
			return "restart"
		case errors.Is(err, ErrBadSDP):
			return "bad"
		}
		return "other: " + err.Error()
	}
	hostName := regexp.MustCompile(`[a-zA-Z]\.[a-zA-Z]`)
	f.Fuzz(func(t *testing.T, frag string) {
		if strings.Contains(frag, ".local") || hostName.MatchString(frag) {
			// Host names make pion resolve them over the network (mDNS,
			// DNS): slow and not what this target is about.
			return
		}
		got := class(applyTrickle(pc, frag))
		if strings.HasPrefix(got, "other") {
			t.Fatalf("applyTrickle(%q): got %s, want nil, ErrBadSDP or ErrICERestart", frag, got)
		}
		if with := class(applyTrickle(pc, creds+frag)); with != got {
			t.Fatalf("applyTrickle with our credentials first: got %s, want %s as without", with, got)
		}
	})
}
