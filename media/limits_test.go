package media

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVideoBombsRefused: a file of a few KB whose header claims ten hours of
// 1080p at 30 fps, or a frame larger than 8K, is refused by the probe with a
// stable code, before ffmpeg is asked to decode, scale or transcode it (the
// proxy of the first would duplicate its two frames into 1.08 million).
func TestVideoBombsRefused(t *testing.T) {
	mustTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	tests := []struct {
		name, code string
		args       []string
	}{
		{"ten hours claimed", CodeVideoTooLong, []string{"-f", "lavfi", "-i", "color=s=1920x1080:r=30",
			"-frames:v", "2", "-vf", "setpts=N*36000/TB", "-c:v", "mjpeg", "-f", "matroska"}},
		{"frame past 8K", CodeVideoTooLarge, []string{"-f", "lavfi", "-i", "color=s=8320x4400:r=1",
			"-frames:v", "1", "-c:v", "mjpeg", "-f", "matroska"}},
	}
	r := Runner{Timeout: time.Minute}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mustFFmpeg(t, filepath.Join(dir, string(rune('a'+i))+".mkv"), tc.args...)
			info, err := r.ProbeVideo(context.Background(), in)
			var un *Unprocessable
			if !errors.As(err, &un) {
				t.Fatalf("ProbeVideo accepted it (%+v, err %v); want *Unprocessable %s", info, err, tc.code)
			}
			if !strings.HasPrefix(un.Reason, tc.code+": ") {
				t.Fatalf("reason %q, want it to start with %q", un.Reason, tc.code+": ")
			}
		})
	}
}
