package media

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// inputHeadLen is how many leading bytes inputFormat reads.
const inputHeadLen = 16

// An input is a file handed to ffmpeg or ffprobe with its demuxer named and
// its protocols limited, so that ffmpeg never probes for a format itself.
// Probing is what lets a text file renamed .mp4 be read as an HLS or concat
// playlist that makes ffmpeg open other files or URLs; storage.Sniff
// already refuses such uploads, and this is the second lock.
type input struct {
	// demuxer is ffmpeg's -f name: mov for every ISO-BMFF file (MP4, MOV,
	// M4V, 3GP), matroska for WebM and Matroska, image2 for one JPEG or PNG.
	demuxer string
	// decoder forces the image decoder (image2 would guess it from the
	// file name's extension).
	decoder string
	// url is the path with an explicit file: protocol, so a path holding
	// ':' or starting with '-' is read as nothing but a file name.
	url string
}

// videoInput names the demuxer for the video at path from its first bytes:
// an ISO-BMFF 'ftyp' box at offset 4 or an EBML header. Anything else is
// *Unprocessable before any tool runs.
func videoInput(path string) (*input, error) {
	in, err := sniffInput(path)
	if err != nil {
		return nil, err
	}
	if in.demuxer == "image2" {
		return nil, unprocessable("the file is an image, not a video")
	}
	return in, nil
}

// imageInput is videoInput for a JPEG or PNG.
func imageInput(path string) (*input, error) {
	in, err := sniffInput(path)
	if err != nil {
		return nil, err
	}
	if in.demuxer != "image2" {
		return nil, unprocessable("the file is not a JPEG or PNG image")
	}
	return in, nil
}

// sniffInput reads the first bytes of path and fills in the demuxer.
func sniffInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, inputHeadLen)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	in := &input{url: "file:" + path}
	switch {
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		in.demuxer = "mov"
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		in.demuxer = "matroska"
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		in.demuxer, in.decoder = "image2", "mjpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		in.demuxer, in.decoder = "image2", "png"
	default:
		return nil, unprocessable("the file is not a video or image of a known format")
	}
	return in, nil
}

// probeArgs are the input options and the input for ffprobe.
func (in *input) probeArgs() []string {
	return []string{"-protocol_whitelist", "file,pipe", "-f", in.demuxer, in.url}
}

// ffmpegArgs are the input options and "-i input" for ffmpeg; its other
// input options (-ss, -noautorotate) may go before them.
func (in *input) ffmpegArgs() []string {
	a := []string{"-protocol_whitelist", "file,pipe", "-f", in.demuxer}
	if in.demuxer == "image2" {
		a = append(a, "-pattern_type", "none", "-c:v", in.decoder)
	}
	return append(a, "-i", in.url)
}
