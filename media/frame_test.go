package media

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Frame-number clip: bit k of the frame number n is a white square at
// x = 8+k*30, y = 100 on black, drawn only on frames where that bit is set.
const (
	numberBits = 10
	bitX0      = 8
	bitStep    = 30
	bitY       = 100
	bitSize    = 24
)

// mustNumberedClip makes a 10 s, 320x240, 29.97 fps (30000/1001) clip at path whose
// frames carry their own number in binary: H.264 with B-frames and a 48-frame GOP
// (so that seeking has to decode from an earlier keyframe) for .mp4, VP8 with its
// millisecond timestamps for .webm.
func mustNumberedClip(tb testing.TB, path string) string {
	tb.Helper()
	boxes := make([]string, numberBits)
	for k := range boxes {
		boxes[k] = fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=white:t=fill:enable='eq(mod(floor(n/%d),2),1)'",
			bitX0+k*bitStep, bitY, bitSize, bitSize, 1<<k)
	}
	src := "color=black:s=320x240:r=30000/1001:d=10," + strings.Join(boxes, ",")
	codec := []string{"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"}
	if filepath.Ext(path) == ".webm" {
		codec = []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"}
	}
	args := append([]string{"-f", "lavfi", "-i", src, "-g", "48", "-pix_fmt", "yuv420p"}, codec...)
	return mustFFmpeg(tb, path, args...)
}

// readFrameNumber decodes the number mustNumberedClip drew on the PNG at path.
func readFrameNumber(tb testing.TB, path string) int64 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	if got, want := img.Bounds().Size(), (image.Point{320, 240}); got != want {
		tb.Fatalf("frame size: got %v, want %v", got, want)
	}
	var n int64
	for k := range numberBits {
		r, g, b, _ := img.At(bitX0+k*bitStep+bitSize/2, bitY+bitSize/2).RGBA()
		if (r+g+b)/3 > 0x8000 {
			n |= 1 << k
		}
	}
	return n
}

func TestFrameExact(t *testing.T) {
	mustTools(t, "ffmpeg")
	const fps = 30000.0 / 1001
	var r Runner
	for _, name := range []string{"numbers.mp4", "numbers.webm"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			clip := mustNumberedClip(t, filepath.Join(dir, name))
			for _, n := range []int64{0, 1, 95, 96, 97, 150, 298, 299} {
				out := filepath.Join(dir, fmt.Sprintf("f%d.png", n))
				if err := r.Frame(context.Background(), clip, out, n, fps); err != nil {
					t.Fatalf("Frame(%d): %v", n, err)
				}
				if got := readFrameNumber(t, out); got != n {
					t.Errorf("Frame(%d) shows frame %d, want %d", n, got, n)
				}
				if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
					t.Errorf("Frame(%d) left %s.part behind", n, out)
				}
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	mustTools(t, "ffmpeg")
	dir := t.TempDir()
	clip := mustNumberedClip(t, filepath.Join(dir, "numbers.mp4"))
	var r Runner
	tests := []struct {
		name  string
		frame int64
		fps   float64
	}{
		{"negative frame", -1, 30},
		{"zero fps", 1, 0},
		{"past the end", 400, 30000.0 / 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "x.png")
			if err := r.Frame(context.Background(), clip, out, tt.frame, tt.fps); err == nil {
				t.Errorf("Frame(%d, %v): got nil error, want one", tt.frame, tt.fps)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("Frame(%d, %v) wrote %s, want no file", tt.frame, tt.fps, out)
			}
		})
	}
}
