package storage

import (
	"bytes"
	"siteinspect/domain"
	"testing"
)

// FuzzSniff feeds the sniffer arbitrary first bytes. Beyond not panicking
// it must be deterministic, give a kind and a type together or neither,
// give only the pairs siteinspect serves, and take nothing for video that
// ffmpeg could read as something else: a video has an EBML header or a
// well-formed leading 'ftyp' box, and never holds a playlist.
func FuzzSniff(f *testing.F) {
	for _, seed := range [][]byte{
		[]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1\x00\x00\x00\x08free"),
		[]byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  \x00\x00\x00\x08wide"),
		[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
		{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'},
		{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'},
		[]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		[]byte("%PDF-1.7\n"),
		[]byte("#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n"),
		[]byte("\x00\x00\x00\x08wide#EXTM3U\n"),
		[]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1#EXTM3U\n"),
	} {
		f.Add(seed)
	}
	types := map[domain.Kind]map[string]bool{
		domain.KindVideo: {"video/mp4": true, "video/quicktime": true, "video/x-m4v": true, "video/webm": true, "video/x-matroska": true},
		domain.KindImage: {"image/jpeg": true, "image/png": true, "image/heic": true},
		domain.KindPDF:   {"application/pdf": true},
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		kind, ct, ok := Sniff(head)
		kind2, ct2, ok2 := Sniff(bytes.Clone(head))
		if kind != kind2 || ct != ct2 || ok != ok2 {
			t.Fatalf("Sniff twice: got (%q, %q, %v) then (%q, %q, %v), want the same", kind, ct, ok, kind2, ct2, ok2)
		}
		if ok != (kind != "") || ok != (ct != "") {
			t.Fatalf("got (%q, %q, %v), want a kind and a type exactly when ok", kind, ct, ok)
		}
		if ok && !types[kind][ct] {
			t.Fatalf("got kind %q with type %q, want one of %v", kind, ct, types[kind])
		}
		if ok && bytes.Contains(head, []byte("#EXTM3U")) {
			t.Fatalf("got (%q, %q) for bytes holding a playlist, want a refusal", kind, ct)
		}
		if kind == domain.KindVideo {
			ebml := bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3})
			ftyp := len(head) >= 16 && string(head[4:8]) == "ftyp" && int(head[3])|int(head[2])<<8|int(head[1])<<16|int(head[0])<<24 <= len(head)
			if !ebml && !ftyp {
				t.Fatalf("got video %q from % x, want an EBML header or a whole leading ftyp box", ct, head[:min(len(head), 16)])
			}
		}
	})
}
