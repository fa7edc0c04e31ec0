package storage

import (
	"siteinspect/domain"
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
		wantKind domain.Kind
		wantType string
	}{
		{"mp4 isom", ftyp("isom", "isom", "avc1"), domain.KindVideo, "video/mp4"},
		{"mp4 from a phone", ftyp("mp42", "isom"), domain.KindVideo, "video/mp4"},
		{"iphone mov", ftyp("qt  ", "qt  "), domain.KindVideo, "video/quicktime"},
		{"m4v", ftyp("M4V ", "M4V "), domain.KindVideo, "video/x-m4v"},
		{"mp4 with the moov next", append(ftyp("isom", "isom")[:20], "\x00\x00\x01\x00moov"...), domain.KindVideo, "video/mp4"},
		{"webm", ebml("webm"), domain.KindVideo, "video/webm"},
		{"matroska", ebml("matroska"), domain.KindVideo, "video/x-matroska"},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}, domain.KindImage, "image/jpeg"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), domain.KindImage, "image/png"},
		{"heic", ftyp("heic", "mif1", "heic"), domain.KindImage, "image/heic"},
		{"pdf", []byte("%PDF-1.7\n%âãÏÓ"), domain.KindPDF, "application/pdf"},
		{"pdf after junk", append([]byte(strings.Repeat("x", 500)), "%PDF-1.4"...), domain.KindPDF, "application/pdf"},
		{"text renamed mp4", []byte("hello, this is not a video at all\n"), "", ""},
		{"html", []byte("<!doctype html><html>"), "", ""},
		{"avif is not accepted", ftyp("avif", "avif"), "", ""},
		{"ebml without doctype", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x80}, "", ""},
		{"zip", []byte("PK\x03\x04"), "", ""},
		{"empty", nil, "", ""},
		// Without a leading 'ftyp' nothing is ISO-BMFF any more: a forged
		// atom name at offset 4 is four bytes of text.
		{"old quicktime without ftyp", []byte("\x00\x00\x00\x08wide\x00\x00\x00\x00mdat"), "", ""},
		{"text with moov at offset 4", []byte("#EXTmoov\n#EXT-X-VERSION:3\n"), "", ""},
		{"hls playlist", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n"), "", ""},
		{"playlist after a real ftyp", append(ftyp("isom", "isom")[:20], "#EXTM3U\n#EXTINF:10,\n/etc/passwd\n"...), "", ""},
		{"playlist behind a jpeg magic", append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "\n#EXTM3U\n"...), "", ""},
		{"text after ftyp", append(ftyp("isom", "isom")[:20], "\x00\x00\x00\x10hi\nthere"...), "", ""},
		{"ftyp too short", []byte("\x00\x00\x00\x0cftypisom\x00\x00\x00\x00\x00\x00"), "", ""},
		{"ftyp size not brands", []byte("\x00\x00\x00\x13ftypisom\x00\x00\x02\x00isomavc1\x00\x00"), "", ""},
		{"ftyp larger than the file", []byte("\x00\x00\x01\x00ftypisom\x00\x00\x02\x00isom"), "", ""},
		{"ftyp absurdly large", append([]byte("\x00\x01\x00\x00ftypisom\x00\x00\x02\x00"), make([]byte, 70000)...), "", ""},
		{"binary compatible brand", append([]byte("\x00\x00\x00\x14ftypisom\x00\x00\x02\x00\x00\x01\x02\x03"), make([]byte, 16)...), "", ""},
		{"unknown major brand", ftyp("abcd", "isom"), "", ""},
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
