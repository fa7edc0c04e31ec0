package media

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// mustFFmpeg makes a test clip at dir/name from lavfi sources; args go between the
// inputs and the output.
func mustFFmpeg(tb testing.TB, out string, args ...string) string {
	tb.Helper()
	full := append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	full = append(full, out)
	if b, err := exec.Command("ffmpeg", full...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", full, err, b)
	}
	return out
}

// Test sources: a 320x180 frame whose left half is red and right half blue (so a
// rotation shows which way it went), and a tone.
var (
	redBlue = []string{"-f", "lavfi", "-i", "color=red:s=160x180:r=30,format=yuv420p[l];color=blue:s=160x180:r=30,format=yuv420p[r];[l][r]hstack"}
	tone    = []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"}
	clipLen = []string{"-t", "5"}
)

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestVideo(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	tests := []struct {
		name     string
		file     string
		args     []string
		rotate   string // set by a second, stream-copy pass: ffmpeg 5.1 reads rotate only there
		want     Info
		playable bool
	}{
		{name: "h264 mp4", file: "a.mp4", args: join(redBlue, tone, clipLen, h264, []string{"-c:a", "aac"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "h264", AudioCodec: "aac", Container: "mp4", FPS: 30}, playable: true},
		{name: "hevc mp4", file: "b.mp4", args: join(redBlue, tone, clipLen, []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "hevc", AudioCodec: "aac", Container: "mp4", FPS: 30}},
		{name: "mov with pcm audio", file: "c.mov", args: join(redBlue, tone, clipLen, h264, []string{"-c:a", "pcm_s16le"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "h264", AudioCodec: "pcm_s16le", Container: "mov", FPS: 30}},
		{name: "vp8 webm", file: "d.webm", args: join(redBlue, tone, clipLen, []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "vp8", AudioCodec: "opus", Container: "webm", FPS: 30}, playable: true},
		{name: "h264 in mkv", file: "e.mkv", args: join(redBlue, tone, clipLen, h264, []string{"-c:a", "aac"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "h264", AudioCodec: "aac", Container: "mkv", FPS: 30}},
		{name: "10-bit h264", file: "f.mp4", args: join(redBlue, clipLen, []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"}),
			want: Info{Width: 320, Height: 180, VideoCodec: "h264", Container: "mp4", FPS: 30}},
		// ffmpeg 5.1 stores the rotate tag negated; 270 gives the display matrix an
		// iPhone writes for a portrait clip (ffprobe "rotation": -90), i.e. turn 90° clockwise.
		{name: "rotated 90", file: "g.mp4", args: join(redBlue, tone, clipLen, h264, []string{"-c:a", "aac"}), rotate: "270",
			want: Info{Width: 180, Height: 320, Rotation: 90, VideoCodec: "h264", AudioCodec: "aac", Container: "mp4", FPS: 30}, playable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := mustFFmpeg(t, filepath.Join(dir, tt.file), tt.args...)
			if tt.rotate != "" {
				src := in
				in = mustFFmpeg(t, filepath.Join(dir, "rot-"+tt.file), "-i", src, "-c", "copy", "-metadata:s:v:0", "rotate="+tt.rotate)
			}
			ctx := context.Background()
			r := Runner{}
			info, err := r.ProbeVideo(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := *info
			if math.Abs(float64(got.DurationMS-5000)) > 100 {
				t.Errorf("got duration %d ms, want about 5000", got.DurationMS)
			}
			if got.BitRate <= 0 {
				t.Errorf("got bit rate %d, want > 0", got.BitRate)
			}
			got.DurationMS, got.BitRate, got.PixelFormat = 0, 0, ""
			if got != tt.want {
				t.Errorf("got info %+v, want %+v", got, tt.want)
			}
			if p := Playable(info); p != tt.playable {
				t.Errorf("got Playable %v, want %v", p, tt.playable)
			}

			poster := filepath.Join(dir, "poster.jpg")
			if err := r.Poster(ctx, in, poster, info); err != nil {
				t.Fatal(err)
			}
			if w, h := mustJPEGSize(t, poster); w != tt.want.Width || h != tt.want.Height {
				t.Errorf("got poster %dx%d, want %dx%d", w, h, tt.want.Width, tt.want.Height)
			}

			strip := filepath.Join(dir, "strip.jpg")
			fs, err := r.Filmstrip(ctx, in, strip, info)
			if err != nil {
				t.Fatal(err)
			}
			tileH := 160 * tt.want.Height / tt.want.Width
			want := Filmstrip{IntervalMS: 2000, Columns: 3, Rows: 1, TileWidth: 160, TileHeight: tileH, Count: 3}
			if *fs != want {
				t.Errorf("got filmstrip %+v, want %+v", *fs, want)
			}
			if w, h := mustJPEGSize(t, strip); w != 3*160 || h != tileH {
				t.Errorf("got sprite %dx%d, want %dx%d", w, h, 3*160, tileH)
			}
			if px := mustPixel(t, strip, 2*160+80, tileH/2); px == [3]byte{} {
				t.Errorf("got a black last tile, want the frame at 4 s")
			}

			if tt.playable && tt.rotate == "" {
				return
			}
			proxy := filepath.Join(dir, "proxy.mp4")
			if err := r.Proxy(ctx, in, proxy, info); err != nil {
				t.Fatal(err)
			}
			pinfo, err := r.ProbeVideo(ctx, proxy)
			if err != nil {
				t.Fatal(err)
			}
			wantAudio := "aac"
			if tt.want.AudioCodec == "" {
				wantAudio = ""
			}
			if pinfo.VideoCodec != "h264" || pinfo.AudioCodec != wantAudio || pinfo.Container != "mp4" ||
				pinfo.Width != tt.want.Width || pinfo.Height != tt.want.Height || pinfo.Rotation != 0 || !Playable(pinfo) {
				t.Errorf("got proxy %+v, want playable h264/%s mp4 %dx%d with no rotation", pinfo, wantAudio, tt.want.Width, tt.want.Height)
			}
			b, _ := os.ReadFile(proxy)
			if moov, mdat := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat")); moov < 0 || moov > mdat {
				t.Errorf("got moov at %d, mdat at %d, want moov first (+faststart)", moov, mdat)
			}
			// The left (red) edge of the source must be where the rotation puts it.
			top, bottom := mustPixel(t, poster, tt.want.Width/2, 5), mustPixel(t, poster, tt.want.Width/2, tt.want.Height-5)
			if tt.rotate != "" && !(isRed(top) && isBlue(bottom)) {
				t.Errorf("got poster top %v bottom %v, want red above blue (turned 90° clockwise)", top, bottom)
			}
			if ptop := mustPixel(t, proxy, tt.want.Width/2, 5); isRed(top) != isRed(ptop) {
				t.Errorf("got proxy top %v, poster top %v, want the same orientation", ptop, top)
			}
		})
	}
}

func TestVideoCaptureMetadata(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	in := mustFFmpeg(t, filepath.Join(t.TempDir(), "loc.mp4"), join(redBlue, []string{"-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
		"-metadata", "location=+39.0842+117.2009/", "-metadata", "creation_time=2026-05-01T08:30:00Z"})...)
	info, err := Runner{}.ProbeVideo(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if info.Latitude == nil || info.Longitude == nil || *info.Latitude != 39.0842 || *info.Longitude != 117.2009 {
		t.Errorf("got lat %v lon %v, want 39.0842, 117.2009", deref(info.Latitude), deref(info.Longitude))
	}
	want := time.Date(2026, 5, 1, 8, 30, 0, 0, time.UTC)
	if info.CapturedAt == nil || !info.CapturedAt.Equal(want) {
		t.Errorf("got captured_at %v, want %v", info.CapturedAt, want)
	}
}

func TestProbeVideoGarbageIsUnprocessable(t *testing.T) {
	mustTools(t, "ffprobe")
	in := mustWrite(t, "x.mp4", bytes.Repeat([]byte("not a video "), 1000))
	_, err := Runner{}.ProbeVideo(context.Background(), in)
	if _, ok := err.(*Unprocessable); !ok {
		t.Fatalf("got %v, want *Unprocessable", err)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func isRed(p [3]byte) bool  { return p[0] > 180 && p[1] < 80 && p[2] < 80 }
func isBlue(p [3]byte) bool { return p[2] > 180 && p[0] < 80 && p[1] < 80 }

// mustPixel decodes the first frame of any file ffmpeg reads and returns the RGB at x, y.
func mustPixel(tb testing.TB, path string, x, y int) [3]byte {
	tb.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-frames:v", "1",
		"-vf", "format=rgb24,crop=1:1:"+itoa(x)+":"+itoa(y), "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != 3 {
		tb.Fatalf("pixel %d,%d of %s: %v (%d bytes)", x, y, path, err, len(out))
	}
	return [3]byte{out[0], out[1], out[2]}
}

func mustJPEGSize(tb testing.TB, path string) (int, int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return cfg.Width, cfg.Height
}

// TestUnindexedWebM: a live WebM written to a pipe, as a browser's MediaRecorder
// writes it, names no duration; the probe reads it through for its length
// and asks for a proxy, because players cannot seek in it.
func TestUnindexedWebM(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	path := filepath.Join(dir, "recorded.webm")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-t", "3", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-live", "1", "-f", "webm", "pipe:1")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, stderr.Bytes())
	}
	f.Close()
	info, err := Runner{}.ProbeVideo(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Unindexed || info.DurationMS < 2900 || info.DurationMS > 3100 || Playable(info) {
		t.Errorf("got %+v (playable %v), want unindexed, about 3000 ms, not playable as it is", info, Playable(info))
	}
}

// TestProxyOfRecording: a browser's MediaRecorder writes WebM with
// millisecond timestamps and no frame rate, which ffprobe reads as 1000
// frames a second. The proxy keeps the recording's own frames (here 45, at
// about 15 a second with a capture's jitter) instead of repeating them up to
// 1000 a second, and the encoder's level stays one phones decode.
func TestProxyOfRecording(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	in := mustFFmpeg(t, filepath.Join(dir, "recorded.webm"), join(redBlue, tone, []string{"-t", "3",
		"-vf", "settb=1/1000,setpts='(N/15+random(0)*0.05)/TB'", "-fps_mode", "vfr", "-r", "1000",
		"-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-live", "1", "-f", "webm"})...)
	if rate, frames := mustVideoStream(t, in, "r_frame_rate"), mustVideoStream(t, in, "nb_read_frames"); rate != "1000/1" || frames != "45" {
		t.Fatalf("test recording: got %s frames at r_frame_rate %s, want 45 at 1000/1", frames, rate)
	}
	ctx := context.Background()
	r := Runner{}
	info, err := r.ProbeVideo(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	proxy := filepath.Join(dir, "proxy.mp4")
	start := time.Now()
	if err := r.Proxy(ctx, in, proxy, info); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	frames, level := mustVideoStream(t, proxy, "nb_read_frames"), mustVideoStream(t, proxy, "level")
	if frames != "45" {
		t.Errorf("proxy of 45 recorded frames: got %s frames (took %s)", frames, took)
	}
	// H.264 level 3.0 covers 320×180 up to 60 frames a second and more; the
	// 1000 fps reading gave 4.2.
	if n, err := strconv.Atoi(level); err != nil || n > 30 {
		t.Errorf("proxy's H.264 level: got %s, want ≤ 30 (3.0)", level)
	}
	// Each frame is as long as in the recording (to the millisecond), so a
	// moment of the take is the same frame in the proxy.
	src, got := frameGaps(t, in), frameGaps(t, proxy)
	if len(got) != len(src) {
		t.Fatalf("frame gaps: got %d in the proxy, %d in the recording", len(got), len(src))
	}
	for i := range src {
		if d := got[i] - src[i]; d < -1 || d > 1 {
			t.Fatalf("gap after frame %d: got %d ms in the proxy, %d in the recording", i, got[i], src[i])
		}
	}
}

// frameGaps is the time in ms from each video frame of path to the next,
// in presentation order.
func frameGaps(tb testing.TB, path string) []int {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	var ms []int
	for _, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64)
		if err != nil {
			tb.Fatalf("ffprobe %s: frame time %q", path, line)
		}
		ms = append(ms, int(math.Round(v*1000)))
	}
	var gaps []int
	for i := 1; i < len(ms); i++ {
		gaps = append(gaps, ms[i]-ms[i-1])
	}
	return gaps
}

// mustVideoStream is one field ffprobe reports for path's first video
// stream, frames counted.
func mustVideoStream(tb testing.TB, path, field string) string {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream="+field, "-of", "default=nw=1:nk=1", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// A video whose proxy takes longer than the Runner's Timeout still gets its
// proxy and filmstrip: a pass over a whole video is stopped for making no
// progress, or after passPace times the video's length, not at Timeout.
// Measured for the real case on this machine's two cores (2026-12-07, 10 s
// clips, the proxy's command as Proxy runs it): 1080p HLG HEVC took 10.8–11.5
// s and 19–20 CPU-s, 4K HLG 14.4 s and 27 CPU-s, 1080p SDR 4.5–5.3 s; so a
// 30-minute 1080p HLG walk-through, an iPhone's default recording, ran past
// serve's 30-minute --media-timeout in each of its three attempts.
func TestProxyOfLongVideo(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	in := mustFFmpeg(t, filepath.Join(dir, "walk.mov"), "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30",
		"-t", "24", "-c:v", "mpeg4", "-q:v", "3")
	ctx := context.Background()
	r := Runner{Timeout: 2 * time.Second}
	info, err := r.ProbeVideo(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Proxy(ctx, in, filepath.Join(dir, "proxy.mp4"), info); err != nil {
		t.Fatalf("proxy after %v: %v", time.Since(start), err)
	}
	took := time.Since(start)
	if got := mustVideoStream(t, filepath.Join(dir, "proxy.mp4"), "nb_read_frames"); got != "720" {
		t.Errorf("proxy: got %s frames, want 720", got)
	}
	if _, err := r.Filmstrip(ctx, in, filepath.Join(dir, "strip.jpg"), info); err != nil {
		t.Fatalf("filmstrip: %v", err)
	}
	if took < r.Timeout {
		t.Fatalf("the proxy took %v, under the timeout of %v: the clip is too short for the test to mean anything", took, r.Timeout)
	}
	t.Logf("proxy of 24 s of 720p: %v under a timeout of %v", took, r.Timeout)
}

// A long video's filmstrip decodes its keyframes alone when each tile has
// one soon after its time, and every frame when it has not; either way
// each tile shows the frame at its time, to within the slack.
func TestFilmstripOfLongVideo(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	ctx := context.Background()
	const fps = 30000.0 / 1001
	for _, tc := range []struct {
		name      string
		gop       int
		keyframes bool
	}{
		{"keyframe every 10 frames", 10, true},
		{"keyframe every 300 frames", 300, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testenv.NumberedClipGOP(t, filepath.Join(dir, fmt.Sprintf("walk-%d.mp4", tc.gop)), 130, tc.gop)
			var calls [][]string
			r := Runner{Trace: func(name string, args []string) { calls = append(calls, append([]string{name}, args...)) }}
			info, err := r.ProbeVideo(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			strip := filepath.Join(dir, fmt.Sprintf("strip-%d.jpg", tc.gop))
			fs, err := r.Filmstrip(ctx, in, strip, info)
			if err != nil {
				t.Fatal(err)
			}
			last := calls[len(calls)-1]
			if got := slices.Contains(last, "nokey"); got != tc.keyframes {
				t.Fatalf("keyframes alone: got %v, want %v: %q", got, tc.keyframes, last)
			}
			if fs.Count != 65 || fs.IntervalMS != 2000 {
				t.Fatalf("got %+v, want 65 tiles 2 s apart", *fs)
			}
			img := mustImage(t, strip)
			slack := int64(0)
			if tc.keyframes {
				slack = int64(math.Ceil(500 * fps / 1000)) // a quarter of the interval
			}
			for i := range int64(fs.Count) {
				col, row := int(i)%fs.Columns, int(i)/fs.Columns
				tile := img.(interface {
					SubImage(image.Rectangle) image.Image
				}).SubImage(image.Rect(col*fs.TileWidth, row*fs.TileHeight, (col+1)*fs.TileWidth, (row+1)*fs.TileHeight))
				want := int64(math.Ceil(float64(i*fs.IntervalMS) * fps / 1000))
				got := testenv.FrameNumber(tile)
				if late := (got - want%1024 + 1024) % 1024; late > slack {
					t.Errorf("tile %d: got frame %d (mod 1024), want %d to %d", i, got, want%1024, (want+slack)%1024)
				}
			}
		})
	}
}
