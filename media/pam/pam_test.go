package pam

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	const rgbaHead = "P7\nWIDTH 2\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n"
	tests := []struct {
		name string
		file string
		want image.Image
	}{
		{"opaque RGBA", rgbaHead + "\x01\x02\x03\xff\xfe\xfd\xfc\xff",
			&image.RGBA{Pix: []byte{1, 2, 3, 255, 254, 253, 252, 255}, Stride: 8, Rect: image.Rect(0, 0, 2, 1)}},
		{"with alpha", rgbaHead + "\x01\x02\x03\x80\xfe\xfd\xfc\xff",
			&image.NRGBA{Pix: []byte{1, 2, 3, 128, 254, 253, 252, 255}, Stride: 8, Rect: image.Rect(0, 0, 2, 1)}},
		{"RGB, a comment", "P7\n# ffmpeg\nWIDTH 1\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n\x0a\x0b\x0c\x0d\x0e\x0f",
			&image.RGBA{Pix: []byte{10, 11, 12, 255, 13, 14, 15, 255}, Stride: 4, Rect: image.Rect(0, 0, 1, 2)}},
	}
	for _, tt := range tests {
		got, format, err := image.Decode(strings.NewReader(tt.file))
		if err != nil || format != "pam" {
			t.Errorf("%s: got %q, %v; want pam", tt.name, format, err)
			continue
		}
		switch g := got.(type) {
		case *image.RGBA:
			w, ok := tt.want.(*image.RGBA)
			if !ok || !bytes.Equal(g.Pix, w.Pix) || g.Rect != w.Rect || g.Stride != w.Stride {
				t.Errorf("%s: got RGBA %v %v, want %#v", tt.name, g.Rect, g.Pix, tt.want)
			}
		case *image.NRGBA:
			w, ok := tt.want.(*image.NRGBA)
			if !ok || !bytes.Equal(g.Pix, w.Pix) || g.Rect != w.Rect {
				t.Errorf("%s: got NRGBA %v %v, want %#v", tt.name, g.Rect, g.Pix, tt.want)
			}
		default:
			t.Errorf("%s: got %T, want %T", tt.name, got, tt.want)
		}
	}
	c, _, err := image.DecodeConfig(strings.NewReader(rgbaHead))
	if err != nil || c.Width != 2 || c.Height != 1 || c.ColorModel != color.NRGBAModel {
		t.Errorf("config: got %+v, %v; want 2x1 NRGBA", c, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, file := range map[string]string{
		"16 bits":   "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 4\nMAXVAL 65535\nENDHDR\n" + strings.Repeat("\xff", 8),
		"grey":      "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\x00",
		"too big":   "P7\nWIDTH 100000\nHEIGHT 100000\nDEPTH 4\nMAXVAL 255\nENDHDR\n",
		"no size":   "P7\nDEPTH 4\nMAXVAL 255\nENDHDR\n",
		"truncated": "P7\nWIDTH 2\nHEIGHT 2\nDEPTH 4\nMAXVAL 255\nENDHDR\n\x00\x00\x00\xff",
		"no end":    "P7\nWIDTH 2\nHEIGHT 2\n",
	} {
		if img, err := Decode(strings.NewReader(file)); err == nil {
			t.Errorf("%s: got a %T, want an error", name, img)
		}
	}
}
