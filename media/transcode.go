package media

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Filmstrip describes a sprite of video thumbnails laid out left to right, top to
// bottom: tile i (0-based) shows the first frame at or after i*IntervalMS (in a
// video of two minutes or more, possibly the first keyframe, at most 2 s and a
// quarter of the interval later), at column i%Columns, row i/Columns, each
// TileWidth×TileHeight pixels.
type Filmstrip struct {
	IntervalMS int64 `json:"interval_ms"`
	Columns    int   `json:"columns"`
	Rows       int   `json:"rows"`
	TileWidth  int   `json:"tile_width"`
	TileHeight int   `json:"tile_height"`
	Count      int   `json:"count"`
}

// Filmstrip and poster sizing.
const (
	posterMaxSide   = 1280
	filmstripTileW  = 160
	filmstripMaxN   = 100
	filmstripCols   = 10
	filmstripMinGap = 2000 // ms
	proxyMaxShort   = 1080
	proxyMaxLong    = 1920
)

// Poster writes a JPEG of one frame (long side ≤ 1280 px, rotation applied) taken at
// 10% of the duration, or 1 s into a clip of unknown length. Seeking happens before
// decoding (-ss before -i), so only the frames from the nearest keyframe are decoded.
func (r Runner) Poster(ctx context.Context, in, out string, info *Info) error {
	if info != nil && info.VideoCodec == "" && info.AudioCodec != "" {
		return unprocessable("the file has no video track to take a poster from")
	}
	src, err := videoInput(ctx, in)
	if err != nil {
		return fmt.Errorf("poster: %w", err)
	}
	at := 1.0
	if info != nil && info.DurationMS > 0 {
		at = float64(info.DurationMS) / 1000 / 10
	}
	hdr := info.hdr()
	err = r.poster(ctx, src, out, at, hdr)
	if err != nil && at > 0 && ctx.Err() == nil {
		// Seeking past the last frame of an oddly timed file yields no frame: try the start.
		err = r.poster(ctx, src, out, 0, hdr)
	}
	if err != nil {
		return fmt.Errorf("poster: %w", err)
	}
	return nil
}

func (r Runner) poster(ctx context.Context, in *input, out string, at float64, hdr string) error {
	return r.ffmpegTo(ctx, func(tmp ...string) []string {
		args := append([]string{"-ss", strconv.FormatFloat(at, 'f', 3, 64)}, in.ffmpegArgs()...)
		return append(args, "-map", "0:v:0", "-frames:v", "1", "-vf", sdrAfter(fitFilter(posterMaxSide), hdr),
			"-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", tmp[0])
	}, out)
}

// Filmstrip writes a JPEG sprite of thumbnails 160 px wide, one every IntervalMS
// (2 s, or longer so that there are at most 100), in rows of 10, decoding the video
// once: select the first frame at or after each multiple of the interval, scale, tile.
// A video of keyframeStripMinMS or more whose keyframes each tile can take
// (keyframesFit) has only its keyframes decoded.
func (r Runner) Filmstrip(ctx context.Context, in, out string, info *Info) (*Filmstrip, error) {
	if info == nil || info.DurationMS <= 0 || info.Width <= 0 || info.Height <= 0 {
		return nil, fmt.Errorf("filmstrip: need the duration and size from ProbeVideo")
	}
	src, err := videoInput(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("filmstrip: %w", err)
	}
	fs := filmstripLayout(info)
	sel := fmt.Sprintf("setpts=PTS-STARTPTS,select='gte(t\\,selected_n*%s)',scale=%d:%d",
		strconv.FormatFloat(float64(fs.IntervalMS)/1000, 'f', 3, 64), fs.TileWidth, fs.TileHeight)
	sel = sdrAfter(sel, info.hdr()) + fmt.Sprintf(",setsar=1,tile=%dx%d", fs.Columns, fs.Rows)
	var decode []string
	if info.DurationMS >= keyframeStripMinMS {
		if keys, err := r.keyframeTimes(ctx, src); err == nil && keyframesFit(keys, fs) {
			decode = []string{"-skip_frame", "nokey"}
		}
	}
	// The tile is written at the end, so its output time says nothing of
	// the pass's progress: limited by the video's length alone.
	err = r.ffmpegWithin(ctx, r.passLimits(info.DurationMS, false), func(tmp ...string) []string {
		return append(append(decode, src.ffmpegArgs()...), "-map", "0:v:0", "-an", "-sn", "-dn",
			"-vf", sel, "-fps_mode", "passthrough", "-frames:v", "1",
			"-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "-update", "1", tmp[0])
	}, out)
	if err != nil {
		return nil, fmt.Errorf("filmstrip: %w", err)
	}
	return fs, nil
}

// filmstripLayout chooses the interval and grid from the probed duration and size.
func filmstripLayout(info *Info) *Filmstrip {
	interval := int64(filmstripMinGap)
	if need := (info.DurationMS + filmstripMaxN - 1) / filmstripMaxN; need > interval {
		interval = (need + 999) / 1000 * 1000 // whole seconds read better in the UI
	}
	// The last frame starts one frame before the end; count the multiples it reaches.
	last := info.DurationMS - 1
	if info.FPS > 0 {
		last = info.DurationMS - int64(math.Ceil(1000/info.FPS))
	}
	count := 1
	if last > 0 {
		count = int(last/interval) + 1
	}
	count = min(count, filmstripMaxN)
	cols := min(count, filmstripCols)
	th := int(math.Round(float64(filmstripTileW)*float64(info.Height)/float64(info.Width)/2)) * 2
	return &Filmstrip{
		IntervalMS: interval,
		Columns:    cols,
		Rows:       (count + cols - 1) / cols,
		TileWidth:  filmstripTileW,
		TileHeight: max(th, 2),
		Count:      count,
	}
}

// Proxy writes an H.264/AAC MP4 that every browser plays: at most 1080p (short side
// ≤ 1080, long side ≤ 1920), 8-bit 4:2:0, rotation applied (ffmpeg's autorotate, so a
// 90° clip comes out portrait with no display matrix), moov atom first (+faststart).
func (r Runner) Proxy(ctx context.Context, in, out string, info *Info) error {
	src, err := videoInput(ctx, in)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	vf := "scale=trunc(iw/2)*2:trunc(ih/2)*2"
	if info != nil && info.Width > 0 && info.Height > 0 {
		w, h := proxySize(info.Width, info.Height)
		vf = fmt.Sprintf("scale=%d:%d", w, h)
	}
	vf = sdrAfter(vf, info.hdr())
	err = r.ffmpegWithin(ctx, r.passLimits(info.durationMS(), true), func(tmp ...string) []string {
		args := append(src.ffmpegArgs(), "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn",
			"-vf", vf+",setsar=1")
		return append(append(args, proxyRate(info)...), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
			"-pix_fmt", "yuv420p", "-profile:v", "high",
			"-c:a", "aac", "-b:a", "128k", "-ac", "2",
			"-map_metadata", "0", "-movflags", "+faststart", "-f", "mp4", tmp[0])
	}, out)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}

// proxyMaxFPS is the highest frame rate a proxy keeps: a faster source
// (a phone's slow motion) loses frames beyond it, which a preview does not
// need, and the encoder's level stays one every phone decodes.
const proxyMaxFPS = 60

// proxyRate is how the proxy keeps the source's frames in time.
//
// A browser's MediaRecorder writes WebM with no frame rate and timestamps
// in milliseconds, which ffmpeg takes for 1000 frames a second. MP4 output
// is constant-rate by default, so a 4 s phone recording of 52 frames came
// out as 3,587 (a 1000 fps proxy at level 6.0, which phones refuse, after
// 11 s of encoding instead of 0.8). The proxy keeps the source's frames
// (-fps_mode vfr), and up to proxyMaxFPS with their exact times (the
// source's time base), so that a mark made at a moment of a take is on the
// same frame in the proxy; -r tells the encoder the rate to plan for (the
// source's average, or proxyMaxFPS when ffprobe does not know it). A
// faster source (slow motion) is brought down to proxyMaxFPS.
func proxyRate(info *Info) []string {
	if info != nil && info.FPS > proxyMaxFPS {
		return []string{"-fps_mode", "vfr", "-r", strconv.Itoa(proxyMaxFPS)}
	}
	rate := strconv.Itoa(proxyMaxFPS)
	if info != nil && info.FPS > 0 {
		rate = strconv.FormatFloat(info.FPS, 'g', -1, 64)
	}
	return []string{"-fps_mode", "vfr", "-r", rate, "-enc_time_base:v", "-1"}
}

// proxySize scales w×h down to fit 1080p either way round, keeping both even.
func proxySize(w, h int) (int, int) {
	short, long := min(w, h), max(w, h)
	f := math.Min(1, math.Min(float64(proxyMaxShort)/float64(short), float64(proxyMaxLong)/float64(long)))
	even := func(v int) int { return max(2, int(math.Round(float64(v)*f/2))*2) }
	return even(w), even(h)
}

// fitFilter scales the (already rotated) frame so its long side is at most max px,
// never upscaling.
func fitFilter(side int) string {
	return fmt.Sprintf("scale='if(gte(iw,ih),min(%[1]d,iw),-2)':'if(gte(iw,ih),-2,min(%[1]d,ih))'", side)
}

// ffmpegTo runs ffmpeg writing each output to a temporary file next to it and renames
// them into place on success, so an output never holds half a file; on failure the
// temporaries are removed. args gets the temporary names in the order of outs.
func (r Runner) ffmpegTo(ctx context.Context, args func(tmp ...string) []string, outs ...string) error {
	return r.ffmpegWithin(ctx, r.limits(), args, outs...)
}

// ffmpegWithin is ffmpegTo under lim; a watched ffmpeg (lim.idle) prints
// its progress for the watch.
func (r Runner) ffmpegWithin(ctx context.Context, lim limits, args func(tmp ...string) []string, outs ...string) error {
	tmps := make([]string, len(outs))
	for i, out := range outs {
		tmps[i] = arg(out) + ".part"
	}
	defer func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}()
	full := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}
	if lim.idle > 0 {
		full = append(full, "-progress", "pipe:1")
	}
	full = append(full, args(tmps...)...)
	if _, err := r.runWithin(ctx, lim, "ffmpeg", full...); err != nil {
		return err
	}
	for _, t := range tmps {
		if st, err := os.Stat(t); err != nil || st.Size() == 0 {
			return fmt.Errorf("ffmpeg wrote no %s", filepath.Base(t))
		}
	}
	for i, t := range tmps {
		if err := os.Rename(t, outs[i]); err != nil {
			return err
		}
	}
	return nil
}

// A long video's filmstrip decodes only keyframes when there is one close
// enough after each tile's time: a pass that decodes every frame costs
// what decoding the video costs (about 0.3 CPU-s a second of 1080p HEVC
// and 0.8 of 4K on this machine's cores, BENCHMARKS.md), held between the
// video becoming playable and ready, and ahead of the next upload's proxy.
const (
	// keyframeStripMinMS is the shortest video that is considered: a
	// shorter one decodes in little time, and its tiles are 2 s apart.
	keyframeStripMinMS = 120_000
	// keyframeStripSlackMS bounds how late a tile's keyframe may be after
	// its time: at most this, and at most a quarter of the interval.
	keyframeStripSlackMS = 2000
)

// keyframeTimes lists the presentation times (ms, from the first frame's)
// of the first video stream's keyframes, in order, reading packets only.
func (r Runner) keyframeTimes(ctx context.Context, in *input) ([]int64, error) {
	out, err := r.run(ctx, "ffprobe", append([]string{"-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"}, in.probeArgs()...)...)
	if err != nil {
		return nil, err
	}
	var keys []int64
	first := int64(math.MaxInt64)
	for _, line := range strings.Split(string(out), "\n") {
		ts, flags, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		sec, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return nil, fmt.Errorf("keyframes: packet time %q", ts)
		}
		ms := int64(math.Round(sec * 1000))
		first = min(first, ms)
		if strings.HasPrefix(flags, "K") {
			keys = append(keys, ms)
		}
	}
	for i := range keys {
		keys[i] -= first
	}
	slices.Sort(keys)
	return keys, nil
}

// keyframesFit says whether every tile of fs has a keyframe at or after its
// time and within keyframeStripSlackMS and a quarter of the interval of it,
// so that a strip of keyframes alone is the strip of all frames to within
// that: the first keyframe at or after each multiple of the interval is
// what the filter selects when only keyframes are decoded.
func keyframesFit(keys []int64, fs *Filmstrip) bool {
	slack := min(keyframeStripSlackMS, fs.IntervalMS/4)
	for i := range int64(fs.Count) {
		at := i * fs.IntervalMS
		j, _ := slices.BinarySearch(keys, at)
		if j == len(keys) || keys[j]-at > slack {
			return false
		}
	}
	return true
}
