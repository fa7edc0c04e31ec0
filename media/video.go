package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Info is what probing learned; zero values mean unknown.
type Info struct {
	// DurationMS is the playing time in milliseconds.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Width and Height are the displayed size in pixels, after rotation.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Rotation is how far a player turns the stored picture, degrees clockwise:
	// 0, 90, 180 or 270 (the display matrix of a video, the EXIF orientation of a photo).
	Rotation int `json:"rotation,omitempty"`
	// VideoCodec and AudioCodec are ffprobe codec names (h264, hevc, vp8, aac,
	// pcm_s16le…) of the first stream of each kind; "" when there is none.
	VideoCodec string `json:"video_codec,omitempty"`
	AudioCodec string `json:"audio_codec,omitempty"`
	// Container is mp4, mov, webm, mkv, avi…; jpeg, png, heic for images; pdf.
	Container string `json:"container,omitempty"`
	// FPS is the average frame rate.
	FPS float64 `json:"fps,omitempty"`
	// BitRate is the overall bit rate in bits per second.
	BitRate int64 `json:"bit_rate,omitempty"`
	// CapturedAt is when the camera recorded it (creation_time, EXIF DateTimeOriginal).
	CapturedAt *time.Time `json:"captured_at,omitempty"`
	// Latitude and Longitude are the capture position in decimal degrees (WGS 84).
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	// Pages is a PDF's page count.
	Pages int `json:"pages,omitempty"`
	// PixelFormat is the video's ffmpeg pixel format (yuv420p, yuv420p10le…): browsers
	// decode 8-bit 4:2:0 H.264 only, so a 10-bit or 4:2:2 stream needs a proxy.
	PixelFormat string `json:"pixel_format,omitempty"`
	// Unindexed says the file names no duration (a browser's MediaRecorder
	// writes WebM so): DurationMS was found by reading it through, and
	// players cannot seek in it, so it gets a proxy.
	Unindexed bool `json:"unindexed,omitempty"`
	// HDR is the video's HDR transfer, "hlg" or "pq" (hdr.go), or "" for
	// SDR: what is made from an HDR video is brought to SDR.
	HDR string `json:"hdr,omitempty"`
}

// hdr is i.HDR, or "" when there is no Info.
func (i *Info) hdr() string {
	if i == nil {
		return ""
	}
	return i.HDR
}

// durationMS is i.DurationMS, or 0 when there is no Info.
func (i *Info) durationMS() int64 {
	if i == nil {
		return 0
	}
	return i.DurationMS
}

// ffprobe's JSON, the parts we read.
type probeOutput struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		PixFmt       string            `json:"pix_fmt"`
		ColorTrc     string            `json:"color_transfer"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		RFrameRate   string            `json:"r_frame_rate"`
		Duration     string            `json:"duration"`
		Tags         map[string]string `json:"tags"`
		Disposition  struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
		SideDataList []struct {
			SideDataType string  `json:"side_data_type"`
			Rotation     float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		Duration   string            `json:"duration"`
		BitRate    string            `json:"bit_rate"`
		Tags       map[string]string `json:"tags"`
	} `json:"format"`
}

// ProbeVideo runs ffprobe on path. A file ffprobe cannot read, or one with neither a
// video nor an audio stream, is *Unprocessable.
func (r Runner) ProbeVideo(ctx context.Context, path string) (*Info, error) {
	in, err := videoInput(ctx, path)
	if err != nil {
		return nil, err // *Unprocessable as it is, like ffprobe's refusals below
	}
	out, err := r.run(ctx, "ffprobe", append([]string{"-v", "error", "-print_format", "json",
		"-show_format", "-show_streams"}, in.probeArgs()...)...)
	if err != nil {
		if ce, ok := err.(*cmdError); ok && !ce.Signaled && !isTimeout(err) {
			// The reason is shown to users: keep our file paths out of it.
			why := strings.TrimPrefix(lastLines(ce.Stderr, 1), in.url+": ")
			return nil, unprocessable("the file is not a video that can be read (%s)", why)
		}
		return nil, fmt.Errorf("probe video: %w", err)
	}
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("probe video: parse ffprobe output: %w", err)
	}
	info := &Info{}
	var workFPS float64
	if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil && d > 0 {
		info.DurationMS = int64(math.Round(d * 1000))
	}
	info.BitRate, _ = strconv.ParseInt(p.Format.BitRate, 10, 64)
	for _, s := range p.Streams {
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0 && info.VideoCodec == "":
			info.VideoCodec = s.CodecName
			info.PixelFormat = s.PixFmt
			info.HDR = hdrKind(s.ColorTrc)
			info.Width, info.Height = s.Width, s.Height
			info.FPS = parseRate(s.AvgFrameRate)
			if info.FPS == 0 {
				info.FPS = parseRate(s.RFrameRate)
			}
			// A variable-rate stream may reach its base rate: the work is
			// weighed by the higher rate.
			workFPS = max(info.FPS, parseRate(s.RFrameRate))
			info.Rotation = streamRotation(s.Tags["rotate"], s.SideDataList)
			if info.Rotation == 90 || info.Rotation == 270 {
				info.Width, info.Height = info.Height, info.Width
			}
			if info.DurationMS == 0 {
				if d, err := strconv.ParseFloat(s.Duration, 64); err == nil && d > 0 {
					info.DurationMS = int64(math.Round(d * 1000))
				}
			}
		case s.CodecType == "audio" && info.AudioCodec == "":
			info.AudioCodec = s.CodecName
		}
	}
	if info.VideoCodec == "" && info.AudioCodec == "" {
		return nil, unprocessable("the file has no video or audio track")
	}
	if info.FPS > 240 {
		info.FPS = 0 // a time base (WebM's 1000/1), not a frame rate
	}
	if err := checkVideoSize(info); err != nil {
		return nil, err
	}
	if info.DurationMS == 0 {
		d, err := r.scanDuration(ctx, in)
		if err != nil {
			return nil, err
		}
		info.DurationMS, info.Unindexed = d, true
	}
	if err := checkVideoWork(info, workFPS, r.videoWork()); err != nil {
		return nil, err
	}
	info.Container = container(p.Format.FormatName, p.Format.Tags["major_brand"], info)
	tags := p.Format.Tags
	info.CapturedAt = videoCaptureTime(tags)
	for _, k := range []string{"com.apple.quicktime.location.ISO6709", "location", "location-eng"} {
		if lat, lon, ok := parseISO6709(tags[k]); ok {
			info.Latitude, info.Longitude = &lat, &lon
			break
		}
	}
	return info, nil
}

// Limits on what a video may ask of the pipeline, checked on what ffprobe
// reads from the header, before anything is decoded.
const (
	// MaxVideoPixels is the largest frame accepted: DCI 8K (8192×4320).
	MaxVideoPixels = 8192 * 4320
	// DefaultVideoWork bounds the pixels the pipeline decodes and, for a
	// proxy, encodes: width × height × frame rate × duration. 10^12 is four
	// and a half hours of 1080p or an hour of 4K at 30 fps; a tiny file
	// claiming ten hours would otherwise be decoded for the filmstrip and
	// transcoded into a proxy. Runner.VideoWork sets another bound (serve
	// --video-work-gpx).
	DefaultVideoWork = 1e12
	// assumedFPS stands in for a frame rate ffprobe does not know.
	assumedFPS = 30
)

// Codes at the start of an *Unprocessable reason (status_reason of the
// evidence) when a video exceeds the limits above (docs/ERRORS.md).
const (
	CodeVideoTooLarge = "video_too_large"
	CodeVideoTooLong  = "video_too_long"
)

// checkVideoSize refuses a frame larger than MaxVideoPixels.
func checkVideoSize(info *Info) error {
	if info.VideoCodec != "" && int64(info.Width)*int64(info.Height) > MaxVideoPixels {
		return unprocessable("%s: the video's frames are %d×%d pixels; at most %d pixels (8192×4320) are accepted",
			CodeVideoTooLarge, info.Width, info.Height, MaxVideoPixels)
	}
	return nil
}

// checkVideoWork refuses a video whose size, frame rate and duration ask
// more than limit pixels to be decoded. fps is the higher of the stream's
// average and base rates; one over 240 (a time base, not a rate) or
// unknown counts as assumedFPS.
func checkVideoWork(info *Info, fps, limit float64) error {
	if info.VideoCodec == "" {
		return nil
	}
	if fps <= 0 || fps > 240 {
		fps = max(info.FPS, assumedFPS)
	}
	work := float64(info.Width) * float64(info.Height) * fps * float64(info.DurationMS) / 1000
	if work > limit {
		// What the limit is in the videos a phone makes.
		hours := func(w, h float64) float64 { return limit / (w * h * 30 * 3600) }
		return unprocessable("%s: %s of %d×%d at %g frames a second is more than the server decodes for one file (%.0f×10^9 pixels; at most %g×10^9: about %.2g hours of 1080p or %.2g hours of 4K at 30 fps)",
			CodeVideoTooLong, time.Duration(info.DurationMS)*time.Millisecond, info.Width, info.Height, fps, work/1e9, limit/1e9,
			hours(1920, 1080), hours(3840, 2160))
	}
	return nil
}

// scanDuration reads a file through once, demuxing only, for the time of
// its last packet: the length of a file whose header does not say it.
func (r Runner) scanDuration(ctx context.Context, in *input) (int64, error) {
	args := append([]string{"-nostdin", "-v", "error"}, in.ffmpegArgs()...)
	out, err := r.run(ctx, "ffmpeg", append(args, "-map", "0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-")...)
	if err != nil {
		return 0, fmt.Errorf("read the video through for its length: %w", err)
	}
	var us int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "out_time_us="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > us {
				us = n
			}
		}
	}
	if us <= 0 {
		return 0, unprocessable("the video has no frames to play")
	}
	return (us + 500) / 1000, nil
}

// streamRotation returns the clockwise rotation a player applies, from the display
// matrix (ffprobe reports it counter-clockwise) or, failing that, the legacy rotate tag.
func streamRotation(tag string, sides []struct {
	SideDataType string  `json:"side_data_type"`
	Rotation     float64 `json:"rotation"`
}) int {
	deg := 0.0
	found := false
	for _, sd := range sides {
		if sd.SideDataType == "Display Matrix" {
			deg, found = -sd.Rotation, true
			break
		}
	}
	if !found {
		v, err := strconv.ParseFloat(tag, 64)
		if err != nil {
			return 0
		}
		deg = v
	}
	r := int(math.Round(deg/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}

// container names the file format the way Playable needs it: mp4, mov, webm, mkv, avi…
func container(formatName, brand string, info *Info) string {
	switch {
	case strings.HasPrefix(formatName, "mov,mp4"):
		if strings.TrimSpace(brand) == "qt" {
			return "mov"
		}
		return "mp4"
	case strings.HasPrefix(formatName, "matroska"):
		// ffprobe does not report the EBML DocType; WebM is Matroska limited to these codecs.
		if inSet(info.VideoCodec, "", "vp8", "vp9", "av1") && inSet(info.AudioCodec, "", "opus", "vorbis") {
			return "webm"
		}
		return "mkv"
	}
	name, _, _ := strings.Cut(formatName, ",")
	return name
}

// Playable reports whether browsers play the file as it is: H.264 (8-bit 4:2:0), VP8,
// VP9 or AV1 video with AAC, Opus or MP3 audio (or none) in MP4 or WebM.
func Playable(info *Info) bool {
	if info == nil || info.VideoCodec == "" || info.Unindexed {
		return false
	}
	if !inSet(info.Container, "mp4", "webm") {
		return false
	}
	if !inSet(info.VideoCodec, "h264", "vp8", "vp9", "av1") || !inSet(info.AudioCodec, "", "aac", "opus", "mp3") {
		return false
	}
	if info.VideoCodec == "h264" && !inSet(info.PixelFormat, "", "yuv420p", "yuvj420p") {
		return false
	}
	return true
}

func inSet(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// parseRate parses ffprobe's "30000/1001".
func parseRate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		v, _ := strconv.ParseFloat(s, 64)
		return v
	}
	num, err1 := strconv.ParseFloat(n, 64)
	den, err2 := strconv.ParseFloat(d, 64)
	if err1 != nil || err2 != nil || den == 0 {
		return 0
	}
	return math.Round(num/den*1000) / 1000
}

// videoCaptureTime prefers Apple's creationdate (it carries the local offset) over the
// container's creation_time (UTC). A zero time (1904 or 1970 epochs) means unset.
func videoCaptureTime(tags map[string]string) *time.Time {
	for _, k := range []string{"com.apple.quicktime.creationdate", "creation_time"} {
		v := tags[k]
		if v == "" {
			continue
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05"} {
			t, err := time.Parse(layout, v)
			if err == nil && t.Year() > 1970 {
				return &t
			}
		}
	}
	return nil
}

// parseISO6709 parses the point of an ISO 6709 string such as "+39.0842+117.2009/" or
// "+39.0842+117.2009+012.345/" (degrees), or its DDMM.MM / DDMMSS.SS forms.
func parseISO6709(s string) (lat, lon float64, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, 0, false
	}
	// Split into signed fields: latitude, longitude, optional altitude.
	var fields []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || s[i] == '+' || s[i] == '-' || s[i] == '/' || s[i] == 'C' {
			fields = append(fields, s[start:i])
			if i == len(s) || s[i] == '/' || s[i] == 'C' {
				break
			}
			start = i
		}
	}
	if len(fields) < 2 {
		return 0, 0, false
	}
	lat, ok1 := sexagesimal(fields[0], 2)
	lon, ok2 := sexagesimal(fields[1], 3)
	if !ok1 || !ok2 || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return 0, 0, false
	}
	return lat, lon, true
}

// sexagesimal reads ±D[D]D[MM[SS]][.fff] where degDigits is 2 for latitude, 3 for longitude.
func sexagesimal(f string, degDigits int) (float64, bool) {
	if len(f) < 2 {
		return 0, false
	}
	sign := 1.0
	if f[0] == '-' {
		sign = -1
	}
	body := f[1:]
	intPart, _, _ := strings.Cut(body, ".")
	v, err := strconv.ParseFloat(body, 64)
	if err != nil {
		return 0, false
	}
	switch len(intPart) {
	case degDigits:
		// degrees
	case degDigits + 2:
		deg := math.Floor(v / 100)
		v = deg + (v-deg*100)/60
	case degDigits + 4:
		deg := math.Floor(v / 10000)
		min := math.Floor((v - deg*10000) / 100)
		v = deg + min/60 + (v-deg*10000-min*100)/3600
	default:
		return 0, false
	}
	return sign * v, true
}

func isTimeout(err error) bool { return errors.Is(err, errTimeout) }
