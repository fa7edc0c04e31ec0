package media

import (
	"context"
	"fmt"
	"image"
	_ "image/png" // mustImage reads PNG frames
	"os"
	"path/filepath"
	"siteinspect/internal/testenv"
	"testing"
)

// mustImage decodes the picture (PNG, JPEG) at path.
func mustImage(tb testing.TB, path string) image.Image {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// readFrameNumber decodes the number testenv.NumberedClip drew on the PNG at path.
func readFrameNumber(tb testing.TB, path string) int64 {
	tb.Helper()
	img := mustImage(tb, path)
	if got, want := img.Bounds().Size(), (image.Point{320, 240}); got != want {
		tb.Fatalf("frame size: got %v, want %v", got, want)
	}
	return testenv.FrameNumber(img)
}

func mustNumberedClip(tb testing.TB, path string) string { return testenv.NumberedClip(tb, path, 10) }

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
