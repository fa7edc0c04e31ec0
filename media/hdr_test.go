package media

import (
	"context"
	"path/filepath"
	"testing"
)

// TestHDRToSDR: an HLG video (what an iPhone records by default) or a PQ
// one (HDR10) of colour bars gives a proxy, a poster and report frames
// whose colours are the bars' own, within what 4:2:0 and the tone
// mapping's roll-off take (decoded as SDR they came out dim and washed
// out: mid-grey 125–127 for 190, every bar off by 60 or more).
func TestHDRToSDR(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	bars := []string{"-f", "lavfi", "-i", "smptebars=size=320x180:rate=30"}
	sdr := mustFFmpeg(t, filepath.Join(dir, "bars.png"), join(bars, []string{"-frames:v", "1"})...)
	for _, tc := range []struct{ kind, trc string }{{"hlg", "arib-std-b67"}, {"pq", "smpte2084"}} {
		t.Run(tc.kind, func(t *testing.T) { checkHDRToSDR(t, dir, bars, sdr, tc.kind, tc.trc) })
	}
}

func checkHDRToSDR(t *testing.T, dir string, bars []string, sdr, kind, trc string) {
	// The same bars with BT.2020 primaries and an HDR transfer, 10-bit HEVC, as a phone stores them.
	hdr := mustFFmpeg(t, filepath.Join(dir, kind+".mov"), join(bars, []string{"-t", "2",
		"-vf", "zscale=t=" + trc + ":p=bt2020:m=bt2020nc:r=tv:tin=bt709:pin=bt709:min=bt709:npl=100,format=yuv420p10le",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1",
		"-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc"})...)
	ctx := context.Background()
	r := Runner{}
	info, err := r.ProbeVideo(ctx, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if info.HDR != kind {
		t.Fatalf("probe: got %+v, want HDR %q", info, kind)
	}
	proxy, poster, frame := filepath.Join(dir, kind+"-proxy.mp4"), filepath.Join(dir, kind+"-poster.jpg"), filepath.Join(dir, kind+"-frame.pam")
	if err := r.Proxy(ctx, hdr, proxy, info); err != nil {
		t.Fatal(err)
	}
	if err := r.Poster(ctx, hdr, poster, info); err != nil {
		t.Fatal(err)
	}
	frames := []FrameOut{{Frame: 3, Out: frame}}
	if err := r.Frames(ctx, hdr, 30, 0, frames); err != nil || frames[0].Err != nil {
		t.Fatalf("frames: %v %v", err, frames[0].Err)
	}
	// The seven bars of the top part: grey, yellow, cyan, green, magenta, red, blue.
	for _, made := range []string{proxy, poster, frame} {
		for i := range 7 {
			x := 320*i/7 + 22
			want, got := mustPixel(t, sdr, x, 40), mustPixel(t, made, x, 40)
			for c := range 3 {
				if d := int(got[c]) - int(want[c]); d < -48 || d > 48 {
					t.Errorf("%s, bar %d: got %v, want about %v (the SDR bars)", filepath.Base(made), i, got, want)
					break
				}
			}
		}
	}
}
