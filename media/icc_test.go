package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"siteinspect/internal/testenv"
)

// iccOf is the ICC profile embedded in the image at path, by exiftool
// (empty when there is none).
func iccOf(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := exec.Command("exiftool", "-b", "-ICC_Profile", path).Output()
	if err != nil {
		tb.Fatalf("exiftool -ICC_Profile %s: %v", path, err)
	}
	return b
}

// TestImagePreviewKeepsColourProfile: a phone photo's colour profile
// (Display P3 on iPhones, whose red and green reach beyond sRGB's) stays
// in its preview and thumbnail, byte for byte, from a JPEG, a HEIC
// (through heif-convert) and a PNG (an iPhone's screenshot), so a browser
// shows the colours the phone took instead of reading P3 values as sRGB's
// (duller reds and greens).
func TestImagePreviewKeepsColourProfile(t *testing.T) {
	mustTools(t, "ffmpeg", "exiftool", "heif-enc", "heif-convert")
	dir := t.TempDir()
	profile := filepath.Join(dir, "p3.icc")
	want := testenv.DisplayP3Profile()
	if err := os.WriteFile(profile, want, 0o644); err != nil {
		t.Fatal(err)
	}
	jpeg := mustFFmpeg(t, filepath.Join(dir, "photo.jpg"), redBlueImage...)
	mustExif(t, jpeg, "-ICC_Profile<="+profile)
	if got := iccOf(t, jpeg); !bytes.Equal(got, want) {
		t.Fatalf("the source JPEG holds %d bytes of profile, want the %d written", len(got), len(want))
	}
	heic := filepath.Join(dir, "photo.heic")
	if b, err := exec.Command("heif-enc", "-q", "60", jpeg, "-o", heic).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v\n%s", err, b)
	}
	if got := iccOf(t, heic); !bytes.Equal(got, want) {
		t.Fatalf("the source HEIC holds %d bytes of profile, want the %d written", len(got), len(want))
	}
	png := mustFFmpeg(t, filepath.Join(dir, "screenshot.png"), redBlueImage...)
	mustExif(t, png, "-ICC_Profile<="+profile)
	plain := mustFFmpeg(t, filepath.Join(dir, "plain.jpg"), redBlueImage...)
	for _, tc := range []struct {
		name, in string
		want     []byte
	}{{"jpeg", jpeg, want}, {"heic", heic, want}, {"png", png, want}, {"untagged jpeg", plain, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			preview, thumb := filepath.Join(out, "preview.jpg"), filepath.Join(out, "thumb.jpg")
			if err := (Runner{}).ImagePreview(context.Background(), tc.in, preview, thumb); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{preview, thumb} {
				if got := iccOf(t, p); !bytes.Equal(got, tc.want) {
					t.Errorf("%s: %d bytes of colour profile, want %d (the source's)", filepath.Base(p), len(got), len(tc.want))
				}
			}
		})
	}
}
