package media

import (
	"fmt"
	"math"
	"strconv"
	"testing"
)

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseISO6709(t *testing.T) {
	tests := []struct {
		in       string
		lat, lon float64
		ok       bool
	}{
		{"+39.0842+117.2009/", 39.0842, 117.2009, true},
		{"+39.0842+117.2009+012.345/", 39.0842, 117.2009, true},
		{"-33.8688+151.2093-004.2/", -33.8688, 151.2093, true},
		{"+3905.052+11712.054/", 39.0842, 117.2009, true},        // DDMM.MMM
		{"+390503.12-1171203.24/", 39.084200, -117.200900, true}, // DDMMSS.SS
		{"+39.0842+117.2009CRSWGS_84/", 39.0842, 117.2009, true},
		{"+99.0000+117.2009/", 0, 0, false},
		{"garbage", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		lat, lon, ok := parseISO6709(tt.in)
		if ok != tt.ok || math.Abs(lat-tt.lat) > 1e-4 || math.Abs(lon-tt.lon) > 1e-4 {
			t.Errorf("parseISO6709(%q): got %v %v %v, want %v %v %v", tt.in, lat, lon, ok, tt.lat, tt.lon, tt.ok)
		}
	}
}

func TestPlayable(t *testing.T) {
	tests := []struct {
		info Info
		want bool
	}{
		{Info{Container: "mp4", VideoCodec: "h264", AudioCodec: "aac", PixelFormat: "yuv420p"}, true},
		{Info{Container: "mp4", VideoCodec: "h264", AudioCodec: "mp3"}, true},
		{Info{Container: "mp4", VideoCodec: "av1", AudioCodec: "opus"}, true},
		{Info{Container: "webm", VideoCodec: "vp9"}, true},
		{Info{Container: "mp4", VideoCodec: "hevc", AudioCodec: "aac"}, false},
		{Info{Container: "mov", VideoCodec: "h264", AudioCodec: "aac"}, false},
		{Info{Container: "mkv", VideoCodec: "h264", AudioCodec: "aac"}, false},
		{Info{Container: "avi", VideoCodec: "h264"}, false},
		{Info{Container: "mp4", VideoCodec: "prores", AudioCodec: "pcm_s16le"}, false},
		{Info{Container: "mp4", VideoCodec: "h264", AudioCodec: "pcm_s16le"}, false},
		{Info{Container: "mp4", VideoCodec: "mpeg2video"}, false},
		{Info{Container: "mp4", VideoCodec: "h264", PixelFormat: "yuv420p10le"}, false},
		{Info{Container: "mp4", AudioCodec: "aac"}, false},
	}
	for _, tt := range tests {
		if got := Playable(&tt.info); got != tt.want {
			t.Errorf("Playable(%+v): got %v, want %v", tt.info, got, tt.want)
		}
	}
	if Playable(nil) {
		t.Errorf("Playable(nil): got true, want false")
	}
}

func TestFilmstripLayout(t *testing.T) {
	tests := []struct {
		dur  int64
		fps  float64
		w, h int
		want Filmstrip
	}{
		{5000, 30, 320, 180, Filmstrip{2000, 3, 1, 160, 90, 3}},
		{60000, 30, 1920, 1080, Filmstrip{2000, 10, 3, 160, 90, 30}},
		{3600_000, 30, 1080, 1920, Filmstrip{36000, 10, 10, 160, 284, 100}},
		{500, 30, 640, 480, Filmstrip{2000, 1, 1, 160, 120, 1}},
	}
	for _, tt := range tests {
		got := filmstripLayout(&Info{DurationMS: tt.dur, FPS: tt.fps, Width: tt.w, Height: tt.h})
		if fmt.Sprint(*got) != fmt.Sprint(tt.want) {
			t.Errorf("layout(%d ms, %dx%d): got %+v, want %+v", tt.dur, tt.w, tt.h, *got, tt.want)
		}
	}
}

func TestProxySize(t *testing.T) {
	for _, tt := range []struct{ w, h, ww, wh int }{
		{3840, 2160, 1920, 1080}, {2160, 3840, 1080, 1920}, {1920, 1080, 1920, 1080},
		{320, 180, 320, 180}, {1440, 1080, 1440, 1080}, {4000, 3000, 1440, 1080}, {321, 181, 322, 182},
	} {
		if w, h := proxySize(tt.w, tt.h); w != tt.ww || h != tt.wh {
			t.Errorf("proxySize(%d, %d): got %dx%d, want %dx%d", tt.w, tt.h, w, h, tt.ww, tt.wh)
		}
	}
}
