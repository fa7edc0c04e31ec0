package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// displayP3Profile returns an ICC v2 display profile with Display P3's
// primaries (D50-adapted) and a 2.2 gamma: what iPhones and many Android
// phones tag their photos with. Its bytes are made here, tag by tag (ICC.1:2001-04).
func displayP3Profile() []byte {
	s15 := func(v float64) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(int32(math.Round(v*65536))))
	}
	xyz := func(x, y, z float64) []byte {
		b := append([]byte("XYZ "), 0, 0, 0, 0)
		return append(append(append(b, s15(x)...), s15(y)...), s15(z)...)
	}
	desc := func(text string) []byte {
		b := append([]byte("desc"), 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(len(text)+1))
		b = append(append(b, text...), 0)
		b = append(b, make([]byte, 4+4+2+1+67)...) // no Unicode, no ScriptCode
		return b
	}
	curve := append([]byte("curv"), 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x33, 0, 0) // gamma 2.2 (u8Fixed8)
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc("Display P3 (siteinspect test)")},
		{"wtpt", xyz(0.9642, 1, 0.8249)},
		{"rXYZ", xyz(0.5151, 0.2412, -0.0011)},
		{"gXYZ", xyz(0.2920, 0.6922, 0.0419)},
		{"bXYZ", xyz(0.1571, 0.0666, 0.7841)},
		{"rTRC", curve}, {"gTRC", curve}, {"bTRC", curve},
	}
	table := binary.BigEndian.AppendUint32(nil, uint32(len(tags)))
	var body []byte
	at := 128 + 4 + 12*len(tags)
	for _, tg := range tags {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		table = append(table, tg.sig...)
		table = binary.BigEndian.AppendUint32(table, uint32(at+len(body)))
		table = binary.BigEndian.AppendUint32(table, uint32(len(tg.data)))
		body = append(body, tg.data...)
	}
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h[0:], uint32(128+len(table)+len(body)))
	binary.BigEndian.PutUint32(h[8:], 0x02100000)
	copy(h[12:], "mntrRGB XYZ ")
	for i, v := range []uint16{2026, 12, 7, 0, 0, 0} {
		binary.BigEndian.PutUint16(h[24+2*i:], v)
	}
	copy(h[36:], "acsp")
	copy(h[68:], xyz(0.9642, 1, 0.8249)[8:])
	return append(append(h, table...), body...)
}

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
// in its preview and thumbnail, byte for byte, from a JPEG and from a
// HEIC (through heif-convert), so a browser shows the colours the phone
// took instead of reading P3 values as sRGB's (duller reds and greens).
func TestImagePreviewKeepsColourProfile(t *testing.T) {
	mustTools(t, "ffmpeg", "exiftool", "heif-enc", "heif-convert")
	dir := t.TempDir()
	profile := filepath.Join(dir, "p3.icc")
	want := displayP3Profile()
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
	plain := mustFFmpeg(t, filepath.Join(dir, "plain.jpg"), redBlueImage...)
	for _, tc := range []struct {
		name, in string
		want     []byte
	}{{"jpeg", jpeg, want}, {"heic", heic, want}, {"untagged jpeg", plain, nil}} {
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
