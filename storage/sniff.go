package storage

import (
	"bytes"
	"encoding/binary"
	"siteinspect/domain"
)

// SniffLen is how many leading bytes Sniff wants to see; fewer only when
// the whole file is shorter.
const SniffLen = 4096

// playlistMagic starts an M3U/HLS playlist (RFC 8216 §4.3.1.1). A playlist
// names other files and URLs for a demuxer to open, so one is never
// evidence, whatever else its first bytes look like.
var playlistMagic = []byte("#EXTM3U")

// Sniff reads a file's real type from its first bytes, whatever its name or
// declared type says. It returns ok=false for anything that is not a video,
// an image or a PDF siteinspect accepts.
func Sniff(head []byte) (kind domain.Kind, contentType string, ok bool) {
	if bytes.Contains(head, playlistMagic) {
		return "", "", false
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return domain.KindImage, "image/jpeg", true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return domain.KindImage, "image/png", true
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return sniffEBML(head)
	}
	// PDF readers accept the header anywhere in the first 1024 bytes
	// (ISO 32000-1 annex H.3 note); scanners and some generators put junk
	// before it.
	if i := bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-")); i >= 0 {
		return domain.KindPDF, "application/pdf", true
	}
	return sniffISOBMFF(head)
}

// maxFtypSize bounds the 'ftyp' box: real ones hold a handful of brands
// (20-40 bytes); a longer one is something else dressed up as MP4.
const maxFtypSize = 256

// sniffISOBMFF recognises MP4, MOV and HEIC by their leading box, which
// must be a well-formed 'ftyp' box (ISO/IEC 14496-12 §4.3) at offset 0
// whose major brand we know. QuickTime files that start with another atom
// (pre-2001 'wide'/'mdat'/'moov') are refused: four bytes at offset 4 are
// too easy to forge in a text file, and phones have written 'ftyp' since.
func sniffISOBMFF(head []byte) (domain.Kind, string, bool) {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return "", "", false
	}
	size := int(binary.BigEndian.Uint32(head[0:4]))
	// major brand + minor version + whole compatible brands, all inside
	// what we were given.
	if size < 16 || size > maxFtypSize || (size-16)%4 != 0 || size > len(head) {
		return "", "", false
	}
	for _, b := range head[8:12] {
		if !fourCCByte(b) {
			return "", "", false
		}
	}
	for _, b := range head[16:size] {
		if !fourCCByte(b) {
			return "", "", false
		}
	}
	// The box after 'ftyp', when we can see its header, must look like a
	// box: a printable type. Text after a forged 'ftyp' does not. Zeros
	// (space a recorder reserved and has not filled) are let through.
	if len(head) >= size+8 && !bytes.Equal(head[size:size+8], make([]byte, 8)) {
		for _, b := range head[size+4 : size+8] {
			if !fourCCByte(b) {
				return "", "", false
			}
		}
	}
	switch string(head[8:12]) {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
		// HEIF still images and sequences from phones; AVIF ("avif") is not
		// accepted yet.
		return domain.KindImage, "image/heic", true
	case "qt  ":
		return domain.KindVideo, "video/quicktime", true
	case "M4V ", "M4VH", "M4VP":
		return domain.KindVideo, "video/x-m4v", true
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "dash", "mmp4", "MSNV", "3gp4", "3gp5", "3gp6", "3g2a", "f4v ", "XAVC", "av01", "hvc1", "hev1":
		return domain.KindVideo, "video/mp4", true
	}
	return "", "", false
}

// fourCCByte reports whether b may appear in a brand or box type: printable
// ASCII (ISO/IEC 14496-12 §4.2 four-character codes; '©' types only occur
// inside 'udta', never at the top level).
func fourCCByte(b byte) bool { return b >= 0x20 && b <= 0x7e }

// sniffEBML tells WebM from Matroska by the EBML header's DocType element
// (RFC 8794 §11.2.5, ID 0x4282).
func sniffEBML(head []byte) (domain.Kind, string, bool) {
	if i := bytes.Index(head[:min(len(head), 64)], []byte{0x42, 0x82}); i >= 0 && i+3 < len(head) {
		n := int(head[i+2] & 0x7F) // one-byte size: 0x80|len
		if head[i+2]&0x80 != 0 && i+3+n <= len(head) {
			switch string(head[i+3 : i+3+n]) {
			case "webm":
				return domain.KindVideo, "video/webm", true
			case "matroska":
				return domain.KindVideo, "video/x-matroska", true
			}
		}
	}
	return "", "", false
}
