package signaling

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TestAnswerAgreesTransportCC publishes VP8 and H.264 from a pion client
// that offers transport-cc (as Chromium does) and checks the answer's
// video m-line: transport-cc feedback for the chosen codec and the
// transport-wide-cc header extension, so the browser's send-side bandwidth
// estimate gets the feedback the TWCC interceptor sends; and no goog-remb,
// which nothing here generates.
func TestAnswerAgreesTransportCC(t *testing.T) {
	m := mustManager(t)
	for name, video := range map[string]webrtc.RTPCodecParameters{"vp8": codecVP8, "h264": codecH264} {
		t.Run(name, func(t *testing.T) {
			pub := mustPublish(t, m, "cc-"+name, video)
			defer pub.pc.Close()
			var desc sdp.SessionDescription
			if err := desc.UnmarshalString(pub.answer); err != nil {
				t.Fatalf("parse the answer: %v", err)
			}
			var fb, ext []string
			for _, md := range desc.MediaDescriptions {
				if md.MediaName.Media != "video" {
					continue
				}
				for _, a := range md.Attributes {
					switch a.Key {
					case "rtcp-fb":
						fb = append(fb, a.Value)
					case "extmap":
						ext = append(ext, a.Value)
					}
				}
			}
			want := strconv.Itoa(int(video.PayloadType)) + " transport-cc"
			if !slices.Contains(fb, want) || slices.ContainsFunc(fb, func(v string) bool { return strings.Contains(v, "goog-remb") }) {
				t.Errorf("video rtcp-fb in the answer: got %q, want %q and no goog-remb", fb, want)
			}
			if !slices.ContainsFunc(ext, func(v string) bool { return strings.HasSuffix(v, "transport-wide-cc-extensions-01") }) {
				t.Errorf("video extmap in the answer: got %q, want the transport-wide-cc extension", ext)
			}
		})
	}
}
