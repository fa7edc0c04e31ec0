package media

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
			if err := r.Frames(context.Background(), clip, fps, outs); err != nil {
				t.Fatalf("Frames: %v", err)
			}
			for _, f := range outs[:len(nums)] {
				if f.Err != nil {
					t.Errorf("frame %d: %v", f.Frame, f.Err)
				} else if got := readFrameNumber(t, f.Out); got != f.Frame {
					t.Errorf("frame %d: shows frame %d", f.Frame, got)
				}
			}
			for _, f := range outs[len(nums):] {
				if _, err := os.Stat(f.Out); f.Err == nil || !os.IsNotExist(err) {
					t.Errorf("frame %d: got error %v, stat %v; want an error and no file", f.Frame, f.Err, err)
				}
			}
			// Passes: 0–97, then 298–400 (past passGap); Frame retries 400 alone.
			if runs != 3 {
				t.Errorf("ffmpeg runs: got %d, want 3", runs)
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
		})
	}
}
