package testenv

import (
	"fmt"
	"image"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A numbered clip carries each frame's own number in binary: bit k is a
// white square at x = 8+30k, y = 100 (24 px, on a 320×240 picture) drawn
// only on frames where the bit is set. It lets a test read back which frame
// a still came from, however it was scaled.
const (
	numberBits = 10
	clipW      = 320
	clipH      = 240
)

// NumberedClip writes a seconds-long 29.97 fps (30000/1001) numbered clip
// to path: H.264 with B-frames and a 48-frame GOP for .mp4 (so a seek must
// decode from an earlier keyframe), VP8 with millisecond timestamps for
// .webm.
func NumberedClip(tb testing.TB, path string, seconds int) string {
	tb.Helper()
	return NumberedClipGOP(tb, path, seconds, 48)
}

// NumberedClipGOP is NumberedClip with a keyframe every gop frames (for
// .mp4; VP8 places its own). Frame numbers past 1023 wrap: a test reads
// them modulo 1024.
func NumberedClipGOP(tb testing.TB, path string, seconds, gop int) string {
	tb.Helper()
	boxes := make([]string, numberBits)
	for k := range boxes {
		boxes[k] = fmt.Sprintf("drawbox=x=%d:y=100:w=24:h=24:color=white:t=fill:enable='eq(mod(floor(n/%d),2),1)'", 8+k*30, 1<<k)
	}
	src := fmt.Sprintf("color=black:s=%dx%d:r=30000/1001:d=%d,%s", clipW, clipH, seconds, strings.Join(boxes, ","))
	codec := []string{"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-sc_threshold", "0"}
	if filepath.Ext(path) == ".webm" {
		codec = []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"}
	}
	FFmpeg(tb, append(append([]string{"-f", "lavfi", "-i", src, "-g", strconv.Itoa(gop), "-pix_fmt", "yuv420p"}, codec...), path)...)
	return path
}

// FrameNumber reads the number NumberedClip drew on a still of it, at any
// size with the clip's aspect ratio.
func FrameNumber(img image.Image) int64 {
	b := img.Bounds()
	var n int64
	for k := range numberBits {
		x := b.Min.X + (8+k*30+12)*b.Dx()/clipW
		y := b.Min.Y + 112*b.Dy()/clipH
		r, g, bl, _ := img.At(x, y).RGBA()
		if (r+g+bl)/3 > 0x8000 {
			n |= 1 << k
		}
	}
	return n
}
