package media

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// Frame writes frame number frame (0-based, counted at fps) of the video in as a PNG
// at out, turned the way a player shows it (ffmpeg applies the rotation). It is
// frame-exact for constant-frame-rate video. With -ss before -i, ffmpeg (2.1 and
// later) seeks to the keyframe before that time, decodes from there and drops every
// frame whose timestamp is before it, so the first frame out is the first one that
// starts at or after -ss. Seeking to the middle of the frame, (frame+0.5)/fps, would
// therefore give the next one; the seek goes half a frame *before* the frame's start,
// (frame-0.5)/fps, so rounding of timestamps in a 29.97 fps (30000/1001) or
// millisecond timeline cannot land on a neighbour. This costs up to one GOP of
// decoding, not the whole clip. A frame past the end of the video is an error.
func (r Runner) Frame(ctx context.Context, in, out string, frame int64, fps float64) error {
	hdr, err := r.pathHDR(ctx, in)
	if err != nil {
		return fmt.Errorf("frame %d of %s: %w", frame, in, err)
	}
	return r.frame(ctx, in, out, frame, fps, hdr)
}

// frame is Frame for a video known to be HDR or not.
func (r Runner) frame(ctx context.Context, in, out string, frame int64, fps float64, hdr string) error {
	if frame < 0 {
		return fmt.Errorf("frame %d: negative", frame)
	}
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) {
		return fmt.Errorf("frame %d: bad frame rate %v", frame, fps)
	}
	src, err := videoInput(ctx, in)
	if err != nil {
		return fmt.Errorf("frame %d of %s: %w", frame, in, err)
	}
	var seek []string
	if frame > 0 {
		at := (float64(frame) - 0.5) / fps
		seek = []string{"-ss", strconv.FormatFloat(at, 'f', 6, 64)}
	}
	err = r.ffmpegTo(ctx, func(tmp ...string) []string {
		return append(append(seek, src.ffmpegArgs()...),
			"-map", "0:v:0", "-frames:v", "1", "-vf", sdrAfter("null", hdr),
			// The temporary name ends in .part, so the format is named, and
			// -update stops image2 from reading "%d" in it as a sequence pattern.
			"-f", "image2", "-update", "1", "-c:v", "png", tmp[0],
		)
	}, out)
	if err != nil {
		return fmt.Errorf("frame %d of %s: %w", frame, in, err)
	}
	return nil
}
