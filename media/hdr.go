package media

import (
	"context"
	"strings"
)

// HDR video (an iPhone's default since the iPhone 12 records HLG, with
// Dolby Vision on top; many Android phones offer HDR10) is stored with a
// transfer function and primaries that a still or an 8-bit H.264 proxy
// does not carry. Decoded as if it were SDR, its pictures come out dim and washed
// out (mid-grey 125 instead of 190, a yellow of 124,118,47 instead of
// 192,190,0), which is not what the applicant filmed. Everything made from
// such a video (proxy, poster, filmstrip, the report's frames) is brought
// to SDR (BT.709) first.

// HDR transfer functions, as Info.HDR names them. Each conversion names its
// input's transfer, and BT.2020 primaries and matrix (what phones record
// HDR in), so that a file that tags only its transfer still converts.
const (
	hdrHLG = "hlg" // ARIB STD-B67: iPhones (with Dolby Vision on top), broadcast
	hdrPQ  = "pq"  // SMPTE ST 2084: HDR10, HDR10+, Dolby Vision
)

// hdrKind is the HDR transfer an ffprobe color_transfer names, or "" for SDR.
func hdrKind(transfer string) string {
	switch transfer {
	case "arib-std-b67":
		return hdrHLG
	case "smpte2084":
		return hdrPQ
	}
	return ""
}

// toSDR converts a video of the given HDR transfer (its ffprobe name) to
// BT.709 through linear light, the levels of ITU-R BT.2408 holding both
// ways: HDR reference white (diffuse white, a white wall or sheet of paper:
// HLG 75 %, PQ 58 %, 203 cd/m²) is linear 1.0 (npl=203), so an 18 % grey
// card (HLG and PQ 38 %, 26 cd/m²) comes out as SDR's 18 % grey (about
// 0.42); BT.2020's primaries become BT.709's; what lies above the middle
// of SDR's range is rolled off (mobius, knee at 0.5) instead of clipped,
// so reference white lands near 0.9 and the highlights above it (a window,
// the sky, a lit sign) keep their steps up to peak white; then BT.709's
// transfer and matrix. Before, HLG went straight to BT.709, its whole top
// third (from 100 cd/m² up, reference white among it) the same white, and
// both took SDR white for 100 cd/m²: every tone about twice as bright as
// filmed, an 18 % grey at 0.56–0.60 (TestHDRKeepsItsSteps). It costs about 1.5× what a straight conversion
// does (10–11 against 7 CPU-s for a 5 s 1080p30 proxy, an SDR one 4).
func toSDR(transfer string) string {
	return "zscale=tin=" + transfer + ":pin=bt2020:min=bt2020nc:t=linear:npl=203:p=bt709,format=gbrpf32le," +
		"tonemap=tonemap=mobius:param=0.5:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
}

// sdrAfter is filter followed by the conversion to SDR for an hdr video
// (hdrKind), else filter. Placed after a select or a scale, the
// conversion's work is done only on the frames kept, at the size kept.
func sdrAfter(filter, hdr string) string {
	var chain string
	switch hdr {
	case hdrHLG:
		chain = toSDR("arib-std-b67")
	case hdrPQ:
		chain = toSDR("smpte2084")
	default:
		return filter
	}
	if filter == "" {
		return chain
	}
	return filter + "," + chain
}

// pathHDR is the hdrKind of the first video stream of the file at path,
// for the callers that have no Info (the report's frames).
func (r Runner) pathHDR(ctx context.Context, path string) (string, error) {
	in, err := videoInput(ctx, path)
	if err != nil {
		return "", err
	}
	out, err := r.run(ctx, "ffprobe", append([]string{"-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=color_transfer", "-of", "default=nw=1:nk=1"}, in.probeArgs()...)...)
	if err != nil {
		return "", err
	}
	return hdrKind(strings.TrimSpace(string(out))), nil
}
