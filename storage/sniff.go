package storage

import (
	"bytes"
	"encoding/binary"
)

// SniffLen is how many leading bytes Sniff wants to see; fewer only when
// the whole file is shorter.
const SniffLen = 4096

// Sniff reads a file's real type from its first bytes, whatever its name or
// declared type says. It returns ok=false for anything that is not a video,
// an image or a PDF siteinspect accepts.
func Sniff(head []byte) (kind Kind, contentType string, ok bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return KindImage, "image/jpeg", true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return KindImage, "image/png", true
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return sniffEBML(head)
	}
	// PDF readers accept the header anywhere in the first 1024 bytes
	// (ISO 32000-1 annex H.3 note); scanners and some generators put junk
	// before it.
	if i := bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-")); i >= 0 {
		return KindPDF, "application/pdf", true
	}
	return sniffISOBMFF(head)
}

// sniffISOBMFF recognises MP4, MOV and HEIC by their leading box: an
// 'ftyp' box with a major or compatible brand we know (ISO/IEC 14496-12
// §4.3), or a QuickTime file that starts with another top-level atom.
func sniffISOBMFF(head []byte) (Kind, string, bool) {
	if len(head) < 12 {
		return "", "", false
	}
	boxType := string(head[4:8])
	switch boxType {
	case "ftyp":
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		// Old QuickTime files may start without 'ftyp'.
		return KindVideo, "video/quicktime", true
	default:
		return "", "", false
	}
	if binary.BigEndian.Uint32(head[0:4]) < 16 {
		return "", "", false
	}
	switch string(head[8:12]) {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
		// HEIF still images and sequences from phones; AVIF ("avif") is not
		// accepted yet.
		return KindImage, "image/heic", true
	}
	switch string(head[8:12]) {
	case "qt  ":
		return KindVideo, "video/quicktime", true
	case "M4V ", "M4VH", "M4VP":
		return KindVideo, "video/x-m4v", true
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "dash", "mmp4", "MSNV", "3gp4", "3gp5", "3gp6", "3g2a", "f4v ", "XAVC", "av01", "hvc1", "hev1":
		return KindVideo, "video/mp4", true
	}
	return "", "", false
}

// sniffEBML tells WebM from Matroska by the EBML header's DocType element
// (RFC 8794 §11.2.5, ID 0x4282).
func sniffEBML(head []byte) (Kind, string, bool) {
	if i := bytes.Index(head[:min(len(head), 64)], []byte{0x42, 0x82}); i >= 0 && i+3 < len(head) {
		n := int(head[i+2] & 0x7F) // one-byte size: 0x80|len
		if head[i+2]&0x80 != 0 && i+3+n <= len(head) {
			switch string(head[i+3 : i+3+n]) {
			case "webm":
				return KindVideo, "video/webm", true
			case "matroska":
				return KindVideo, "video/x-matroska", true
			}
		}
	}
	return "", "", false
}
