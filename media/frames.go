package media

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxFramesPerPass bounds the frames one ffmpeg run of Frames picks out: the
// select expression is evaluated for every decoded frame and grows with
// the frames asked for.
const maxFramesPerPass = 200

// passGap is the longest run of frames, between two frames asked for, that
// one pass decodes through; past it a new pass seeks instead. Starting
// ffmpeg and seeking (decoding from the keyframe before) costs about as
// much as decoding this many 720p frames, so a long video with few
// annotations is not decoded whole.
const passGap = 150

// FrameOut is one frame Frames is asked for: frame number Frame (0-based,
// counted at the video's frame rate) goes to the image file at Out (PAM,
// or PNG when it was retried with Frame: read it with image.Decode and
// package media/pam imported). Err is set when that frame could not be
// made.
type FrameOut struct {
	Frame int64
	Out   string
	Err   error
}

// Frames writes several frames of the video in, each exactly the frame
// Frame would write, decoding the stretch of video that holds them once
// instead of running one ffmpeg, and one seek with up to a GOP of
// decoding, per frame: a 60 s 720p phone video with 100 annotated frames
// takes one pass instead of 100 processes. Frames far apart (passGap) or
// many (maxFramesPerPass) are taken in several passes, one after another.
//
// Frame's rule is kept: frame n is the first frame that starts at or after
// (n-0.5)/fps. The pass seeks to just before the first frame wanted and a
// select filter keeps, for each n, the first decoded frame whose time lies in
// [(n-0.5)/fps, (n+0.5)/fps) (exactly one for constant-frame-rate video); a
// setpts filter renumbers the kept frames by their place in the list, which
// names their files (-frame_pts), so each file is known to be its frame even
// if another is missing. A frame the pass did not give (a variable-frame-rate
// gap, a frame past the end) is retried alone with Frame, whose error it then
// carries. Frames are written as PAM (netpbm's P7: a short header, then
// the RGBA bytes; package media/pam reads it): they are read once, by the
// report, and PNG cost more than the decoding — zlib at ffmpeg's default
// level, and even uncompressed, the encoder's and the reader's passes over
// every byte (by hand, 100 720p frames: 1.05 s of ffmpeg CPU as PNG at
// level 0, 0.59 s as PAM; Go reads a PAM frame as one copy).
// With maxWidth > 0, frames wider than that (after rotation) are scaled
// down to it, which keeps a hundred 4K frames from taking gigabytes of
// disk when their user would shrink them anyway; a frame retried with
// Frame comes at full size.
//
// The returned error is for the whole call (a bad frame rate, a cancelled
// ctx); per-frame failures are in each FrameOut's Err.
func (r Runner) Frames(ctx context.Context, in string, fps float64, maxWidth int, frames []FrameOut) error {
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) {
		return fmt.Errorf("frames of %s: bad frame rate %v", in, fps)
	}
	want := make([]*FrameOut, 0, len(frames))
	for i := range frames {
		f := &frames[i]
		f.Err = nil
		if f.Frame < 0 {
			f.Err = fmt.Errorf("frame %d: negative", f.Frame)
			continue
		}
		want = append(want, f)
	}
	slices.SortFunc(want, func(a, b *FrameOut) int { return cmp.Compare(a.Frame, b.Frame) })
	// Distinct frame numbers, in order; each pass takes a run of them.
	var nums []int64
	for _, f := range want {
		if len(nums) == 0 || nums[len(nums)-1] != f.Frame {
			nums = append(nums, f.Frame)
		}
	}
	if len(want) == 0 {
		return ctx.Err()
	}
	hdr, err := r.pathHDR(ctx, in)
	if err != nil {
		for _, f := range want {
			f.Err = fmt.Errorf("frame %d of %s: %w", f.Frame, in, err)
		}
		return ctx.Err()
	}
	made := map[int64]string{}
	for start, end := 0, 0; start < len(nums); start = end {
		end = start + 1
		for end < len(nums) && end-start < maxFramesPerPass && nums[end]-nums[end-1] <= passGap {
			end++
		}
		batch := nums[start:end]
		got, err := r.framesPass(ctx, in, fps, maxWidth, batch, filepath.Dir(want[0].Out), hdr)
		if ctx.Err() != nil {
			return fmt.Errorf("frames of %s: %w", in, ctx.Err())
		}
		var u *Unprocessable
		if errors.As(err, &u) {
			for _, f := range want {
				f.Err = fmt.Errorf("frame %d of %s: %w", f.Frame, in, err)
			}
			return nil
		}
		// Any other failure of the pass leaves its frames to the one-by-one path.
		for n, p := range got {
			made[n] = p
		}
	}
	// Hand each file to its FrameOut: the last of several asking for one
	// frame takes the file, the others get copies.
	for i, f := range want {
		p, ok := made[f.Frame]
		if !ok {
			f.Err = r.frame(ctx, in, f.Out, f.Frame, fps, hdr)
			continue
		}
		if i+1 < len(want) && want[i+1].Frame == f.Frame {
			f.Err = copyFile(p, f.Out)
			continue
		}
		if err := os.Rename(p, f.Out); err != nil {
			f.Err = fmt.Errorf("frame %d of %s: %w", f.Frame, in, err)
		}
		delete(made, f.Frame)
	}
	for _, p := range made {
		os.Remove(p)
	}
	return ctx.Err()
}

// framesPass runs one ffmpeg that writes the frames nums (sorted,
// distinct) of in to a scratch folder in dir, and returns the file of each
// frame it wrote.
func (r Runner) framesPass(ctx context.Context, in string, fps float64, maxWidth int, nums []int64, dir string, hdr string) (map[int64]string, error) {
	src, err := videoInput(ctx, in)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(dir, "frames-")
	if err != nil {
		return nil, err
	}
	if strings.Contains(scratch, "%") { // image2 would read it as a pattern
		os.RemoveAll(scratch)
		return nil, fmt.Errorf("folder name %q holds %%", scratch)
	}
	// Seek a whole frame before the first window: the input seek lands on a
	// keyframe and drops what precedes the seek time, and the windows below
	// are counted from it (ffmpeg restarts the timeline at the seek point).
	seek := math.Max(0, (float64(nums[0])-1.5)/fps)
	at := func(n int64, half float64) string {
		return strconv.FormatFloat((float64(n)+half)/fps-seek, 'f', 6, 64)
	}
	// inWindow is 1 when the frame's time is in one of the windows; index is
	// the place of the last window begun by then (-1 before the first).
	inWindow := make([]string, len(nums))
	begun := make([]string, len(nums))
	for i, n := range nums {
		inWindow[i] = "gte(t," + at(n, -0.5) + ")*lt(t," + at(n, 0.5) + ")"
		begun[i] = "gte(%[1]s," + at(n, -0.5) + ")"
	}
	index := func(t string) string { return fmt.Sprintf("("+sum(begun)+"-1)", t) }
	// ld(0) holds 1 + the index of the last window a frame was kept for, so
	// only the first frame of each window is kept; if() evaluates only the
	// branch taken, so the store follows the test.
	sel := "if((" + sum(inWindow) + ")*not(eq(ld(0)," + index("t") + "+1)),gt(st(0," + index("t") + "+1),0),0)"
	script := filepath.Join(scratch, "filter")
	filter := "select='" + sel + "',setpts='" + index("T") + "/TB'"
	if maxWidth > 0 {
		// Area averaging, as the report's own box filter would shrink it.
		filter += fmt.Sprintf(",scale=w='min(iw,%d)':h=-2:flags=area", maxWidth)
	}
	filter = sdrAfter(filter, hdr)
	if err := os.WriteFile(script, []byte(filter), 0o600); err != nil {
		os.RemoveAll(scratch)
		return nil, err
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}
	if seek > 0 {
		args = append(args, "-ss", strconv.FormatFloat(seek, 'f', 6, 64))
	}
	// Read no further than a second past the last window, so a window with
	// no frame in it (a gap) does not send the pass on to the end; the
	// second covers frames decoded out of order (B-frames need a later
	// frame first). A frame lost to it anyway is retried alone.
	args = append(args, "-t", strconv.FormatFloat((float64(nums[len(nums)-1])+0.5)/fps+1-seek, 'f', 6, 64))
	args = append(append(args, src.ffmpegArgs()...),
		"-map", "0:v:0", "-filter_script:v", script,
		// Every kept frame goes out once, named by its index (its pts in a
		// time base of 1 s); the run stops when all are out.
		"-fps_mode", "passthrough", "-enc_time_base", "1", "-frame_pts", "1",
		"-frames:v", strconv.Itoa(len(nums)),
		"-f", "image2", "-c:v", "pam", "-pix_fmt", "rgba", filepath.Join(arg(scratch), "%d.pam"))
	_, runErr := r.run(ctx, "ffmpeg", args...)
	got := map[int64]string{}
	for i, n := range nums {
		p := filepath.Join(scratch, strconv.Itoa(i)+".pam")
		if st, err := os.Stat(p); err == nil && st.Size() > 0 && runErr == nil {
			out := filepath.Join(dir, filepath.Base(scratch)+"-"+strconv.FormatInt(n, 10)+".pam")
			if os.Rename(p, out) == nil {
				got[n] = out
			}
		}
	}
	os.RemoveAll(scratch)
	if runErr != nil {
		return nil, fmt.Errorf("frames of %s: %w", in, runErr)
	}
	return got, nil
}

// sum adds terms as a balanced tree of parenthesised groups: ffmpeg's
// expression parser refuses a flat chain of about a hundred terms.
func sum(terms []string) string {
	const fan = 8
	if len(terms) <= fan {
		return strings.Join(terms, "+")
	}
	per := (len(terms) + fan - 1) / fan
	var groups []string
	for i := 0; i < len(terms); i += per {
		groups = append(groups, "("+sum(terms[i:min(i+per, len(terms))])+")")
	}
	return strings.Join(groups, "+")
}

// copyFile copies the file at from to to.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
