package media

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// inputHeadLen is how many leading bytes sniffInput reads.
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
	// url is a local path with an explicit file: protocol, so a path
	// holding ':' or starting with '-' is read as nothing but a file name;
	// or an http(s) URL as given (an object store's presigned GET).
	url string
	// protocols is ffmpeg's -protocol_whitelist: file,pipe for a local
	// file; for a URL only what HTTP needs, so not the file protocol.
	protocols string
}

// videoInput names the demuxer for the video at path (a local path or an
// http(s) URL) from its first bytes: an ISO-BMFF 'ftyp' box at offset 4 or
// an EBML header. Anything else is *Unprocessable before any tool runs.
func videoInput(ctx context.Context, path string) (*input, error) {
	in, err := sniffInput(ctx, path)
	if err != nil {
		return nil, err
	}
	if in.demuxer == "image2" {
		return nil, unprocessable("the file is an image, not a video")
	}
	return in, nil
}

// imageInput is videoInput for a JPEG or PNG.
func imageInput(ctx context.Context, path string) (*input, error) {
	in, err := sniffInput(ctx, path)
	if err != nil {
		return nil, err
	}
	if in.demuxer != "image2" {
		return nil, unprocessable("the file is not a JPEG or PNG image")
	}
	return in, nil
}

// isURL reports whether path is an http(s) URL rather than a file name.
func isURL(path string) bool {
	return strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://")
}

// sniffInput reads the first bytes of path and fills in the demuxer.
func sniffInput(ctx context.Context, path string) (*input, error) {
	head, err := readHead(ctx, path)
	if err != nil {
		return nil, err
	}
	in := &input{url: "file:" + path, protocols: "file,pipe"}
	if isURL(path) {
		in.url, in.protocols = path, "http,https,tcp,tls"
	}
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

// readHead returns up to inputHeadLen leading bytes of a file or URL.
func readHead(ctx context.Context, path string) ([]byte, error) {
	var r io.ReadCloser
	if isURL(path) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, fmt.Errorf("read the start of the video: %w", err)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", inputHeadLen-1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("read the start of the video: %w", err)
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			resp.Body.Close()
			return nil, fmt.Errorf("read the start of the video: HTTP %s", resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		r = f
	}
	defer r.Close()
	head := make([]byte, inputHeadLen)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read the start of the input: %w", err)
	}
	return head[:n], nil
}

// probeArgs are the input options and the input for ffprobe.
func (in *input) probeArgs() []string {
	return []string{"-protocol_whitelist", in.protocols, "-f", in.demuxer, in.url}
}

// ffmpegArgs are the input options and "-i input" for ffmpeg; its other
// input options (-ss, -noautorotate) may go before them.
func (in *input) ffmpegArgs() []string {
	a := []string{"-protocol_whitelist", in.protocols, "-f", in.demuxer}
	if in.demuxer == "image2" {
		a = append(a, "-pattern_type", "none", "-c:v", in.decoder)
	}
	return append(a, "-i", in.url)
}
