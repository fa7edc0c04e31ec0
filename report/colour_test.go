package report

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"siteinspect/internal/testenv"
)

// withICC returns the JPEG b with icc in APP2 segments right after its
// SOI, in chunks of at most chunk bytes, as cameras and ffmpeg write it.
func withICC(b, icc []byte, chunk int) []byte {
	n := (len(icc) + chunk - 1) / chunk
	out := append([]byte{}, b[:2]...)
	for k := range n {
		part := icc[k*chunk : min(len(icc), (k+1)*chunk)]
		seg := append([]byte("ICC_PROFILE\x00"), byte(k+1), byte(n))
		seg = append(seg, part...)
		out = append(out, 0xFF, 0xE2)
		out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
		out = append(out, seg...)
	}
	return append(out, b[2:]...)
}

// TestDisplayP3PhotoToSRGB: a photo tagged Display P3 is embedded with
// its colours brought to sRGB (a P3 (200,100,50) is sRGB (215,93,31)), so
// the report prints it as the phone took it; an untagged photo, one
// tagged with another profile and one whose profile lacks a chunk keep
// their values.
func TestDisplayP3PhotoToSRGB(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 200, 100, 50, 255
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	p3 := testenv.DisplayP3Profile()
	other := bytes.Clone(p3)
	// Another RGB profile: the red colorant moved (as Adobe RGB's is).
	for k := range int(binary.BigEndian.Uint32(other[128:])) {
		if e := other[132+12*k:]; string(e[:4]) == "rXYZ" {
			binary.BigEndian.PutUint32(other[binary.BigEndian.Uint32(e[4:])+8:], uint32(39957)) // 0.6097
		}
	}
	if got := jpegICC(withICC(plain.Bytes(), p3, 100)); !bytes.Equal(got, p3) || !isDisplayP3(got) {
		t.Fatalf("a profile in %d chunks: read back %d bytes (Display P3: %t), want the %d written", (len(p3)+99)/100, len(got), isDisplayP3(got), len(p3))
	}
	// The first of a profile's chunks cut out: SOI, then the rest.
	chunked := withICC(plain.Bytes(), p3, 100)
	first := 2 + 2 + int(binary.BigEndian.Uint16(chunked[4:]))
	missing := append(append([]byte{}, chunked[:2]...), chunked[first:]...)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		file []byte
		want [3]int
	}{
		{"display p3, one chunk", withICC(plain.Bytes(), p3, 65000), [3]int{215, 93, 31}},
		{"display p3, in chunks", chunked, [3]int{215, 93, 31}},
		{"untagged", plain.Bytes(), [3]int{200, 100, 50}},
		{"another profile", withICC(plain.Bytes(), other, 65000), [3]int{200, 100, 50}},
		{"a chunk missing", missing, [3]int{200, 100, 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".jpg")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			out, w, h, err := renderAnnotation(&Annotation{Image: path})
			if err != nil {
				t.Fatal(err)
			}
			got, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil || w != 64 || h != 48 {
				t.Fatalf("rendered %dx%d, %v; want a 64x48 JPEG", w, h, err)
			}
			c := color.RGBAModel.Convert(got.At(48, 36)).(color.RGBA)
			for i, v := range []uint8{c.R, c.G, c.B} {
				if d := int(v) - tc.want[i]; d < -4 || d > 4 {
					t.Errorf("the photo's colour: got %d,%d,%d, want %v (±4)", c.R, c.G, c.B, tc.want)
					break
				}
			}
		})
	}
}
