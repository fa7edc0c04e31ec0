// Package pam decodes the PAM images (netpbm's P7, uncompressed) that
// media.Runner.Frames writes: RGB_ALPHA or RGB tuples of 8 bits. Importing
// it registers the format with package image, as image/png does, so
// image.Decode reads such a file as a plain copy of its pixels — no
// inflating, no filters — which is why frames are handed over this way.
package pam

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"strconv"
	"strings"
)

// maxPixels bounds the image a header may announce (an 8K frame is 33 M).
const maxPixels = 64 << 20

func init() {
	image.RegisterFormat("pam", "P7\n", Decode, DecodeConfig)
}

// header is what a PAM header says.
type header struct {
	w, h, depth int
}

// readHeader reads the header up to ENDHDR. Only MAXVAL 255 with DEPTH 3
// (RGB) or 4 (RGB_ALPHA) is accepted.
func readHeader(br *bufio.Reader) (header, error) {
	var h header
	maxval := 0
	first := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return h, fmt.Errorf("pam header: %w", err)
		}
		line = strings.TrimSpace(line)
		if first {
			if line != "P7" {
				return h, errors.New("pam: not a P7 file")
			}
			first = false
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "ENDHDR" {
			break
		}
		key, val, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(strings.TrimSpace(val))
		switch key {
		case "WIDTH":
			h.w = n
		case "HEIGHT":
			h.h = n
		case "DEPTH":
			h.depth = n
		case "MAXVAL":
			maxval = n
		}
	}
	if h.w <= 0 || h.h <= 0 || int64(h.w)*int64(h.h) > maxPixels {
		return h, fmt.Errorf("pam: bad size %dx%d", h.w, h.h)
	}
	if maxval != 255 || (h.depth != 3 && h.depth != 4) {
		return h, fmt.Errorf("pam: depth %d, maxval %d: want 8-bit RGB or RGB_ALPHA", h.depth, maxval)
	}
	return h, nil
}

// DecodeConfig reads the size of a PAM image.
func DecodeConfig(r io.Reader) (image.Config, error) {
	h, err := readHeader(bufio.NewReader(r))
	if err != nil {
		return image.Config{}, err
	}
	return image.Config{ColorModel: color.NRGBAModel, Width: h.w, Height: h.h}, nil
}

// Decode reads a PAM image: an *image.RGBA when every pixel is opaque (a
// video frame always is), else an *image.NRGBA (PAM's alpha is not
// premultiplied).
func Decode(r io.Reader) (image.Image, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, h.w, h.h)
	pix := make([]byte, 4*h.w*h.h)
	if h.depth == 4 {
		if _, err := io.ReadFull(br, pix); err != nil {
			return nil, fmt.Errorf("pam pixels: %w", err)
		}
	} else {
		row := make([]byte, 3*h.w)
		for y := range h.h {
			if _, err := io.ReadFull(br, row); err != nil {
				return nil, fmt.Errorf("pam pixels: %w", err)
			}
			out := pix[4*h.w*y:]
			for x := range h.w {
				out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = row[3*x], row[3*x+1], row[3*x+2], 0xff
			}
		}
	}
	for i := 3; i < len(pix); i += 4 {
		if pix[i] != 0xff {
			return &image.NRGBA{Pix: pix, Stride: 4 * h.w, Rect: rect}, nil
		}
	}
	// Opaque: the same bytes are the premultiplied form.
	return &image.RGBA{Pix: pix, Stride: 4 * h.w, Rect: rect}, nil
}
