package media

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mustExif writes EXIF tags into path with exiftool.
func mustExif(tb testing.TB, path string, tags ...string) {
	tb.Helper()
	args := append([]string{"-q", "-overwrite_original"}, tags...)
	if b, err := exec.Command("exiftool", append(args, path)...).CombinedOutput(); err != nil {
		tb.Fatalf("exiftool %v: %v\n%s", tags, err, b)
	}
}

// redBlueImage is a 640x360 still, left half red and right half blue.
var redBlueImage = []string{"-f", "lavfi", "-i", "color=red:s=320x360,format=yuv444p[l];color=blue:s=320x360,format=yuv444p[r];[l][r]hstack", "-frames:v", "1"}

func TestImage(t *testing.T) {
	mustTools(t, "ffmpeg", "exiftool", "heif-enc", "heif-convert")
	gps := []string{"-GPSLatitude=39.0842", "-GPSLatitudeRef=N", "-GPSLongitude=117.2009", "-GPSLongitudeRef=E"}
	utc := time.Date(2026, 5, 1, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		name      string
		file      string
		exif      []string
		heic      bool
		zone      *time.Location
		w, h, rot int
		time      *time.Time
		gps       bool
		thumbW    int
		thumbH    int
		redOnTop  bool
	}{
		{name: "jpeg with orientation 6, gps and offset time", file: "a.jpg",
			exif: append([]string{"-Orientation#=6", "-DateTimeOriginal=2026:05:01 16:30:00", "-OffsetTimeOriginal=+08:00"}, gps...),
			w:    360, h: 640, rot: 90, time: &utc, gps: true, thumbW: 180, thumbH: 320, redOnTop: true},
		{name: "jpeg with naive time read in the office zone", file: "b.jpg",
			exif: []string{"-DateTimeOriginal=2026:05:01 16:30:00"}, zone: time.FixedZone("CST", 8*3600),
			w: 640, h: 360, time: &utc, thumbW: 320, thumbH: 180},
		{name: "png without metadata", file: "c.png", w: 640, h: 360, thumbW: 320, thumbH: 180},
		{name: "heic with exif orientation", file: "d.jpg", heic: true,
			exif: append([]string{"-Orientation#=6"}, gps...),
			w:    360, h: 640, rot: 90, gps: true, thumbW: 180, thumbH: 320, redOnTop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := mustFFmpeg(t, filepath.Join(dir, tt.file), redBlueImage...)
			if len(tt.exif) > 0 {
				mustExif(t, in, tt.exif...)
			}
			if tt.heic {
				heic := filepath.Join(dir, "d.heic")
				if b, err := exec.Command("heif-enc", "-q", "60", in, "-o", heic).CombinedOutput(); err != nil {
					t.Fatalf("heif-enc: %v\n%s", err, b)
				}
				in = heic
			}
			r := Runner{Zone: tt.zone}
			ctx := context.Background()
			info, err := r.ProbeImage(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tt.w || info.Height != tt.h || info.Rotation != tt.rot {
				t.Errorf("got %dx%d rotation %d, want %dx%d rotation %d", info.Width, info.Height, info.Rotation, tt.w, tt.h, tt.rot)
			}
			if (info.CapturedAt == nil) != (tt.time == nil) || (tt.time != nil && !info.CapturedAt.Equal(*tt.time)) {
				t.Errorf("got captured_at %v, want %v", info.CapturedAt, tt.time)
			}
			if tt.gps && (info.Latitude == nil || *info.Latitude != 39.0842 || *info.Longitude != 117.2009) {
				t.Errorf("got lat %v lon %v, want 39.0842, 117.2009", deref(info.Latitude), deref(info.Longitude))
			}
			if !tt.gps && info.Latitude != nil {
				t.Errorf("got lat %v, want none", *info.Latitude)
			}

			preview, thumb := filepath.Join(dir, "preview.jpg"), filepath.Join(dir, "thumb.jpg")
			if err := r.ImagePreview(ctx, in, preview, thumb); err != nil {
				t.Fatal(err)
			}
			if w, h := mustJPEGSize(t, preview); w != tt.w || h != tt.h {
				t.Errorf("got preview %dx%d, want %dx%d (upright, not upscaled)", w, h, tt.w, tt.h)
			}
			if w, h := mustJPEGSize(t, thumb); w != tt.thumbW || h != tt.thumbH {
				t.Errorf("got thumb %dx%d, want %dx%d", w, h, tt.thumbW, tt.thumbH)
			}
			top := mustPixel(t, preview, tt.w/2, 5)
			if isRed(top) != tt.redOnTop {
				t.Errorf("got preview top pixel %v, want red on top %v", top, tt.redOnTop)
			}
		})
	}
}

func TestImageGarbageIsUnprocessable(t *testing.T) {
	mustTools(t, "exiftool", "ffmpeg")
	in := mustWrite(t, "x.jpg", []byte("this is not an image at all"))
	var u *Unprocessable
	if _, err := (Runner{}).ProbeImage(context.Background(), in); !errors.As(err, &u) {
		t.Errorf("ProbeImage: got %v, want *Unprocessable", err)
	}
	dir := t.TempDir()
	err := Runner{}.ImagePreview(context.Background(), in, filepath.Join(dir, "p.jpg"), filepath.Join(dir, "t.jpg"))
	if !errors.As(err, &u) {
		t.Errorf("ImagePreview: got %v, want *Unprocessable", err)
	}
}
