package media

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestHDRToSDR: an HLG video (what an iPhone records by default) or a PQ
// one (HDR10) of colour bars, placed in HDR as ITU-R BT.2408 places SDR
// (its white at HDR reference white, 203 cd/m²), gives a proxy, a poster
// and report frames whose colours are the bars' own, within what 4:2:0
// and the tone mapping's roll-off take (decoded as SDR they came out dim
// and washed out: mid-grey 125–127 for 190, every bar off by 60 or more).
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
	// The same bars with BT.2020 primaries and an HDR transfer, 10-bit HEVC as a
	// phone stores them, but lossless: what is measured is the conversion (x265
	// at its fastest put PQ cyan's red 40–50 off on its own).
	hdr := mustFFmpeg(t, filepath.Join(dir, kind+".mov"), join(bars, []string{"-t", "2",
		"-vf", "zscale=t=" + trc + ":p=bt2020:m=bt2020nc:r=tv:tin=bt709:pin=bt709:min=bt709:npl=203,format=yuv420p10le",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:lossless=1", "-tag:v", "hvc1",
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

// TestHDRKeepsItsSteps: sixteen grey stripes from black to the signal's top
// (10-bit codes 64 to 940, as a phone stores them) come out of the poster
// and a report frame as BT.2408 levels them: the stripe nearest an 18 %
// grey card (signal 38 %) as SDR's 18 % grey, the one nearest reference
// white (HLG 75 %, PQ 58 %) near SDR white but under it, and every stripe
// brighter than the one before up to HLG's peak and PQ's 1,000 cd/m² (75 %),
// under SDR's white. Converted straight to BT.709, every HLG stripe from
// 67 % up came out the same white and grey came out at 0.6.
func TestHDRKeepsItsSteps(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	for _, tc := range []struct {
		kind, trc string
		white     int // the stripe nearest reference white
		top       int // the last stripe that must be brighter than the one before
	}{{"hlg", "arib-std-b67", 11, 15}, {"pq", "smpte2084", 9, 11}} {
		t.Run(tc.kind, func(t *testing.T) {
			in := mustFFmpeg(t, filepath.Join(dir, tc.kind+".mov"), "-f", "lavfi", "-i", "nullsrc=size=640x64:rate=30",
				"-t", "1", "-vf", "format=yuv420p10le,geq=lum='64+876*trunc(X/40)/15':cb=512:cr=512",
				"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:lossless=1", "-tag:v", "hvc1",
				"-color_primaries", "bt2020", "-color_trc", tc.trc, "-colorspace", "bt2020nc")
			ctx := context.Background()
			r := Runner{}
			info, err := r.ProbeVideo(ctx, in)
			if err != nil || info.HDR != tc.kind {
				t.Fatalf("probe: %+v, %v; want HDR %q", info, err, tc.kind)
			}
			poster, frame := filepath.Join(dir, tc.kind+"-poster.jpg"), filepath.Join(dir, tc.kind+"-frame.pam")
			if err := r.Poster(ctx, in, poster, info); err != nil {
				t.Fatal(err)
			}
			frames := []FrameOut{{Frame: 3, Out: frame}}
			if err := r.Frames(ctx, in, 30, 0, frames); err != nil || frames[0].Err != nil {
				t.Fatalf("frames: %v %v", err, frames[0].Err)
			}
			for _, made := range []string{poster, frame} {
				var level [16]float64
				for i := range level {
					level[i] = float64(mustPixel(t, made, 40*i+20, 32)[1]) / 255
				}
				got := fmt.Sprintf("%s: %.2f", filepath.Base(made), level)
				if g := level[6]; g < 0.36 || g > 0.50 { // signal 40 %
					t.Errorf("%s; 18 %% grey's stripe at %.2f, want 0.36–0.50", got, g)
				}
				if w := level[tc.white]; w < 0.80 || w > 0.96 {
					t.Errorf("%s; reference white's stripe at %.2f, want 0.80–0.96", got, w)
				}
				for i := 1; i <= tc.top; i++ {
					if level[i] <= level[i-1] {
						t.Errorf("%s; stripe %d no brighter than stripe %d", got, i, i-1)
					}
				}
				if level[tc.top] > 0.99 {
					t.Errorf("%s; stripe %d at SDR white, want under it", got, tc.top)
				}
			}
		})
	}
}
