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

// hlgToSDR converts HLG to BT.709 directly: HLG is relative to the
// display, its reference white lands on SDR white and colours SDR can show
// come out as filmed; the highlights above it are clipped. It costs about
// 1.6× an SDR proxy's CPU (9.1–9.6 against 5.8 CPU-s for 5 s of 1080p30).
const hlgToSDR = "zscale=tin=arib-std-b67:pin=bt2020:min=bt2020nc:t=bt709:p=bt709:m=bt709:r=tv,format=yuv420p"

// pqToSDR converts PQ, whose values are absolute luminance up to 10,000
// cd/m², through linear light: SDR white at 100 cd/m², BT.2020 primaries to
// BT.709, tone mapping that keeps what SDR can show and rolls off only the
// highlights above it (mobius), then BT.709's transfer and matrix. It costs
// about 2.8× an SDR proxy's CPU (16.1 CPU-s for 5 s of 1080p30).
const pqToSDR = "zscale=tin=smpte2084:pin=bt2020:min=bt2020nc:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p"

// sdrAfter is filter followed by the conversion to SDR for an hdr video
// (hdrKind), else filter. Placed after a select or a scale, the
// conversion's work is done only on the frames kept, at the size kept.
func sdrAfter(filter, hdr string) string {
	chain := map[string]string{hdrHLG: hlgToSDR, hdrPQ: pqToSDR}[hdr]
	switch {
	case chain == "":
		return filter
	case filter == "":
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
