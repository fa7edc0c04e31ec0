package media

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"siteinspect/internal/testenv"
	_ "siteinspect/media/pam"
)

// TestFramesExact: Frames gives, in few ffmpeg runs, the frames Frame
// gives one by one: neighbours, the first and last, a frame asked for
// twice, frames far apart (separate passes); a frame past the end and a
// negative one fail alone, and no scratch files are left behind.
func TestFramesExact(t *testing.T) {
	mustTools(t, "ffmpeg")
	const fps = 30000.0 / 1001
	for _, name := range []string{"numbers.mp4", "numbers.webm"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			clip := mustNumberedClip(t, filepath.Join(t.TempDir(), name))
			var runs int
			r := Runner{Trace: func(string, []string) { runs++ }}
			nums := []int64{0, 1, 95, 96, 97, 96, 298, 299}
			var outs []FrameOut
			for i, n := range nums {
				outs = append(outs, FrameOut{Frame: n, Out: filepath.Join(dir, fmt.Sprintf("%d-f%d.png", i, n))})
			}
			outs = append(outs, FrameOut{Frame: 400, Out: filepath.Join(dir, "past.png")}, FrameOut{Frame: -1, Out: filepath.Join(dir, "negative.png")})
			if err := r.Frames(context.Background(), clip, fps, 0, outs); err != nil {
				t.Fatalf("Frames: %v", err)
			}
			for _, f := range outs[:len(nums)] {
				if f.Err != nil {
					t.Errorf("frame %d: %v", f.Frame, f.Err)
				} else if got := readAnyFrameNumber(t, f.Out); got != f.Frame {
					t.Errorf("frame %d: shows frame %d", f.Frame, got)
				}
			}
			for _, f := range outs[len(nums):] {
				if _, err := os.Stat(f.Out); f.Err == nil || !os.IsNotExist(err) {
					t.Errorf("frame %d: got error %v, stat %v; want an error and no file", f.Frame, f.Err, err)
				}
			}
			// The probe for HDR; passes: 0–97, then 298–400 (past passGap);
			// Frame retries 400 alone.
			if runs != 4 {
				t.Errorf("ffmpeg runs: got %d, want 4", runs)
			}
			var want []string
			for _, f := range outs[:len(nums)] {
				want = append(want, filepath.Base(f.Out))
			}
			entries, _ := os.ReadDir(dir)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("files left: got %v, want %v", got, want)
			}
			// Scaled down to a width, still the frame asked for.
			small := []FrameOut{{Frame: 96, Out: filepath.Join(t.TempDir(), "small.png")}}
			if err := r.Frames(context.Background(), clip, fps, 160, small); err != nil || small[0].Err != nil {
				t.Fatalf("Frames at 160 px: %v, %v", err, small[0].Err)
			}
			f, err := os.Open(small[0].Out)
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := image.Decode(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got != (image.Point{160, 120}) || testenv.FrameNumber(img) != 96 {
				t.Errorf("frame 96 at 160 px: got %v showing frame %d, want 160x120 showing 96", got, testenv.FrameNumber(img))
			}
		})
	}
}

// readAnyFrameNumber is readFrameNumber for a PAM or a PNG.
func readAnyFrameNumber(tb testing.TB, path string) int64 {
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
	if got, want := img.Bounds().Size(), (image.Point{320, 240}); got != want {
		tb.Fatalf("frame size: got %v, want %v", got, want)
	}
	return testenv.FrameNumber(img)
}
