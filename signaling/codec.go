package signaling

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The codecs we ingest, forward and record. Registering only these keeps
// every session recordable: VP8+Opus as WebM, H.264+Opus as Matroska.
var (
	codecVP8 = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        96,
	}
	codecH264 = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		},
		PayloadType: 102,
	}
	codecOpus = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
	// videoFeedback is what the answer's video m-line agrees to. Session
	// code pins the video codec with SetCodecPreferences and these
	// parameters, so they must carry transport-cc themselves: without it
	// the video m-line loses the TWCC feedback that the interceptor
	// (ConfigureTWCCSender) sends, and a browser's send-side bandwidth
	// estimate never leaves its start bitrate (draft-holmer-rmcat-
	// transport-wide-cc-extensions-01 §1). No goog-remb: nothing here
	// generates REMB, and offering it invites a browser to wait for it.
	videoFeedback = []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBTransportCC}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
)

func registerCodecs(me *webrtc.MediaEngine) error {
	for _, c := range []webrtc.RTPCodecParameters{codecVP8, codecH264} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("signaling: register %s: %w", c.MimeType, err)
		}
	}
	if err := me.RegisterCodec(codecOpus, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("signaling: register opus: %w", err)
	}
	return nil
}

// offerInfo is what Publish needs to know of an offer before pion sees it.
type offerInfo struct {
	video    *webrtc.RTPCodecParameters // the first codec we accept, in the offer's order; nil if none
	hasAudio bool                       // an audio m-line offers Opus
	// talkbackMid is the mid of that audio m-line when it is sendrecv:
	// the peer also wants to hear us (two-way audio). Empty otherwise.
	talkbackMid string
}

// CheckOffer refuses an offer Publish would refuse before negotiating:
// ErrBadSDP when it is not SDP, ErrNoMedia when it has no audio or video
// section, ErrNoCodec when it offers no codec we take. The HTTP layer
// calls it before doing anything for the offer.
func CheckOffer(offer string) error {
	_, err := parseOffer(offer)
	return err
}

// parseOffer checks that offer is SDP and picks the video codec the
// publisher prefers among those we accept. Negotiating exactly one video
// codec means the forwarding tracks and the recorder know it before the
// first packet arrives.
func parseOffer(offer string) (offerInfo, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return offerInfo{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	// An offer without audio or video (none at all, or a data channel
	// only) has nothing to publish or watch: refused before anything is
	// made for it.
	if !slices.ContainsFunc(d.MediaDescriptions, func(md *sdp.MediaDescription) bool {
		return md.MediaName.Media == "audio" || md.MediaName.Media == "video"
	}) {
		return offerInfo{}, ErrNoMedia
	}
	var info offerInfo
	for _, md := range d.MediaDescriptions {
		rtpmap, fmtp := map[string]string{}, map[string]string{}
		for _, a := range md.Attributes {
			pt, rest, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			switch a.Key {
			case "rtpmap":
				rtpmap[pt] = strings.ToLower(rest)
			case "fmtp":
				fmtp[pt] = rest
			}
		}
		for _, pt := range md.MediaName.Formats {
			name, _, _ := strings.Cut(rtpmap[pt], "/")
			switch {
			case md.MediaName.Media == "audio" && name == "opus" && !info.hasAudio:
				info.hasAudio = true
				if direction(md.Attributes, d.Attributes) == "sendrecv" {
					info.talkbackMid, _ = md.Attribute("mid")
				}
			case md.MediaName.Media == "video" && info.video == nil && name == "vp8":
				info.video = &codecVP8
			case md.MediaName.Media == "video" && info.video == nil && name == "h264" &&
				strings.Contains(fmtp[pt], "packetization-mode=1"):
				info.video = &codecH264
			}
		}
	}
	if info.video == nil && !info.hasAudio {
		return offerInfo{}, ErrNoCodec
	}
	return info, nil
}

// direction returns a media section's direction attribute, falling back
// to the session's and then to sendrecv (RFC 8866 §6.7).
func direction(media, session []sdp.Attribute) string {
	for _, attrs := range [][]sdp.Attribute{media, session} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
	}
	return "sendrecv"
}

// annexBNALs splits an H.264 Annex B access unit (what pion's H264
// depacketizer produces) into NAL units without start codes.
func annexBNALs(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = append(nals, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	return nals
}

// H.264 NAL unit types we look at (ITU-T H.264 Table 7-1).
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// avccFrame converts Annex B NAL units to the 4-byte length-prefixed form
// Matroska's V_MPEG4/ISO/AVC expects, dropping access unit delimiters.
func avccFrame(nals [][]byte) []byte {
	var out []byte
	for _, n := range nals {
		if len(n) == 0 || n[0]&0x1f == nalAUD {
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}

// avcDecoderConfig builds the AVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 §5.3.3.1) that Matroska stores as the track's CodecPrivate.
func avcDecoderConfig(sps, pps []byte) []byte {
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// opusHead is the Opus ID header (RFC 7845 §5.1) WebM stores as the audio
// track's CodecPrivate: version 1, 2 channels, pre-skip 0 (RTP Opus has none), 48 kHz.
func opusHead() []byte {
	b := []byte("OpusHead")
	b = append(b, 1, 2)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	return append(b, 0, 0, 0)
}

// vp8Size reads the frame size from a VP8 keyframe header (RFC 6386 §9.1).
func vp8Size(frame []byte) (w, h uint64, ok bool) {
	if len(frame) < 10 || frame[0]&1 != 0 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	w = uint64(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	h = uint64(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	return w, h, true
}

// h264Size reads the picture size from an SPS NAL unit (ITU-T H.264
// §7.3.2.1.1), assuming 4:2:0 for the cropping units. Profiles with
// scaling matrices are not parsed (ok is false).
func h264Size(sps []byte) (w, h uint64, ok bool) {
	if len(sps) < 4 {
		return 0, 0, false
	}
	// Remove emulation prevention bytes (00 00 03 → 00 00).
	rbsp := make([]byte, 0, len(sps))
	for i := 0; i < len(sps); i++ {
		if i >= 2 && sps[i] == 3 && sps[i-1] == 0 && sps[i-2] == 0 {
			continue
		}
		rbsp = append(rbsp, sps[i])
	}
	br := bitReader{b: rbsp[1:]}
	profile := br.u(8)
	br.u(16) // constraint flags, level
	br.ue()  // seq_parameter_set_id
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		if br.ue() == 3 {
			br.u(1)
		}
		br.ue()
		br.ue()
		br.u(1)
		if br.u(1) == 1 {
			return 0, 0, false
		}
	}
	br.ue() // log2_max_frame_num_minus4
	switch br.ue() {
	case 0:
		br.ue()
	case 1:
		br.u(1)
		br.se()
		br.se()
		for n := br.ue(); n > 0 && !br.bad; n-- {
			br.se()
		}
	}
	br.ue()
	br.u(1)
	wmbs, hmap := br.ue()+1, br.ue()+1
	frameMbsOnly := br.u(1)
	if frameMbsOnly == 0 {
		br.u(1)
	}
	br.u(1)
	var cl, cr, ct, cb uint64
	if br.u(1) == 1 {
		cl, cr, ct, cb = br.ue(), br.ue(), br.ue(), br.ue()
	}
	if br.bad {
		return 0, 0, false
	}
	w = wmbs*16 - 2*(cl+cr)
	h = (2-frameMbsOnly)*hmap*16 - 2*(2-frameMbsOnly)*(ct+cb)
	return w, h, true
}

// bitReader reads the big-endian bit fields and Exp-Golomb codes of an
// H.264 RBSP; reading past the end sets bad and yields zeros.
type bitReader struct {
	b   []byte
	pos int
	bad bool
}

func (r *bitReader) u(n int) uint64 {
	var v uint64
	for ; n > 0; n-- {
		if r.pos >= len(r.b)*8 {
			r.bad = true
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.u(1) == 0 && !r.bad {
		zeros++
		if zeros > 31 {
			r.bad = true
			return 0
		}
	}
	return 1<<zeros - 1 + r.u(zeros)
}

func (r *bitReader) se() int64 {
	v := r.ue()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
}

// annexBKeyframe writes an H.264 keyframe as a stand-alone Annex B
// stream a decoder can start from: the SPS and PPS, then the access
// unit's other NAL units (its own parameter sets and delimiters dropped).
func annexBKeyframe(sps, pps []byte, nals [][]byte) []byte {
	startCode := []byte{0, 0, 0, 1}
	out := slices.Concat(startCode, sps, startCode, pps)
	for _, n := range nals {
		if len(n) == 0 {
			continue
		}
		if t := n[0] & 0x1f; t == nalSPS || t == nalPPS || t == nalAUD {
			continue
		}
		out = append(append(out, startCode...), n...)
	}
	return out
}
