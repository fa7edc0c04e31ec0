package storage

import (
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat)), 'f', 't', 'y', 'p'}
		b = append(b, major...)
		b = append(b, 0, 0, 2, 0)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, make([]byte, 64)...)
	}
	ebml := func(doctype string) []byte {
		return append([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x80 | byte(len(doctype))}, doctype...)
	}
	tests := []struct {
		name     string
		head     []byte
		wantKind Kind
		wantType string
	}{
		{"mp4 isom", ftyp("isom", "isom", "avc1"), KindVideo, "video/mp4"},
		{"mp4 from a phone", ftyp("mp42", "isom"), KindVideo, "video/mp4"},
		{"iphone mov", ftyp("qt  ", "qt  "), KindVideo, "video/quicktime"},
		{"m4v", ftyp("M4V ", "M4V "), KindVideo, "video/x-m4v"},
		{"old quicktime", []byte("\x00\x00\x00\x08wide\x00\x00\x00\x00mdat"), KindVideo, "video/quicktime"},
		{"webm", ebml("webm"), KindVideo, "video/webm"},
		{"matroska", ebml("matroska"), KindVideo, "video/x-matroska"},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}, KindImage, "image/jpeg"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), KindImage, "image/png"},
		{"heic", ftyp("heic", "mif1", "heic"), KindImage, "image/heic"},
		{"pdf", []byte("%PDF-1.7\n%âãÏÓ"), KindPDF, "application/pdf"},
		{"pdf after junk", append([]byte(strings.Repeat("x", 500)), "%PDF-1.4"...), KindPDF, "application/pdf"},
		{"text renamed mp4", []byte("hello, this is not a video at all\n"), "", ""},
		{"html", []byte("<!doctype html><html>"), "", ""},
		{"avif is not accepted", ftyp("avif", "avif"), "", ""},
		{"ebml without doctype", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x80}, "", ""},
		{"zip", []byte("PK\x03\x04"), "", ""},
		{"empty", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, ct, ok := Sniff(tt.head)
			if ok != (tt.wantKind != "") || kind != tt.wantKind || ct != tt.wantType {
				t.Errorf("Sniff: got (%q, %q, %v), want (%q, %q)", kind, ct, ok, tt.wantKind, tt.wantType)
			}
		})
	}
}
