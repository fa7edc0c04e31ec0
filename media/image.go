package media

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Image preview sizes (long side, px).
const (
	previewMaxSide = 2048
	thumbMaxSide   = 320
)

// MaxImagePixels is the largest photo accepted: 200 megapixels, the largest
// phone camera's. Checked on exiftool's reading of the header, before any
// decoder allocates the picture: a PNG of 16000×16000 flat pixels is under
// a megabyte and took ffmpeg a minute of both cores and 900 MB.
const MaxImagePixels = 200_000_000

// CodeImageTooLarge starts the *Unprocessable reason of a photo over
// MaxImagePixels (docs/ERRORS.md).
const CodeImageTooLarge = "image_too_large"

// exifFacts is exiftool's JSON (-n: numbers, signed GPS) for the tags we read.
type exifFacts struct {
	FileType           string
	ImageWidth         int
	ImageHeight        int
	Orientation        int
	Rotation           int // HEIF irot, applied by heif-convert
	DateTimeOriginal   string
	OffsetTimeOriginal string
	CreateDate         string
	OffsetTime         string
	GPSDateTime        string
	GPSLatitude        *float64
	GPSLongitude       *float64
	Error              string
}

// imageFacts runs exiftool on path. exiftool only parses metadata; it never decodes pixels.
func (r Runner) imageFacts(ctx context.Context, path string) (*exifFacts, error) {
	out, err := r.run(ctx, "exiftool", "-json", "-n", "-q", "-q",
		"-FileType", "-ImageWidth", "-ImageHeight", "-Orientation", "-Rotation",
		"-DateTimeOriginal", "-OffsetTimeOriginal", "-CreateDate", "-OffsetTime",
		"-Composite:GPSDateTime", "-Composite:GPSLatitude", "-Composite:GPSLongitude",
		arg(path))
	if err != nil {
		if ce, ok := err.(*cmdError); ok && !ce.Signaled && !isTimeout(err) {
			return nil, unprocessable("the file is not an image that can be read (%s)", lastLines(ce.Stderr, 1))
		}
		return nil, fmt.Errorf("exiftool: %w", err)
	}
	var facts []exifFacts
	if err := json.Unmarshal(out, &facts); err != nil || len(facts) != 1 {
		return nil, fmt.Errorf("exiftool: unexpected output %.200q", out)
	}
	f := &facts[0]
	if f.Error != "" || f.ImageWidth <= 0 || f.ImageHeight <= 0 {
		return nil, unprocessable("the file is not an image that can be read (%s)", strings.TrimSpace(f.FileType+" "+f.Error))
	}
	if int64(f.ImageWidth)*int64(f.ImageHeight) > MaxImagePixels {
		return nil, unprocessable("%s: the image is %d×%d pixels; at most %d megapixels are accepted",
			CodeImageTooLarge, f.ImageWidth, f.ImageHeight, MaxImagePixels/1_000_000)
	}
	return f, nil
}

// isHEIF reports whether ffmpeg 5.1 cannot decode the file and heif-convert must.
func (f *exifFacts) isHEIF() bool {
	return f.FileType == "HEIC" || f.FileType == "HEIF" || f.FileType == "AVIF"
}

// swapsAxes reports whether the displayed image is the stored one turned a quarter.
func (f *exifFacts) swapsAxes() bool {
	if f.isHEIF() && f.Rotation != 0 {
		return f.Rotation%180 == 90
	}
	return f.Orientation >= 5 && f.Orientation <= 8
}

// ProbeImage reads an image's displayed size (after EXIF orientation or HEIF rotation),
// its capture time and GPS position. Rotation reports the EXIF orientation's turn in
// degrees clockwise (0 for mirrored orientations other than 5/7). A file exiftool does
// not recognise as an image is *Unprocessable.
func (r Runner) ProbeImage(ctx context.Context, path string) (*Info, error) {
	f, err := r.imageFacts(ctx, path)
	if err != nil {
		return nil, err
	}
	info := &Info{Width: f.ImageWidth, Height: f.ImageHeight, Container: strings.ToLower(f.FileType)}
	if f.swapsAxes() {
		info.Width, info.Height = info.Height, info.Width
	}
	switch f.Orientation {
	case 3:
		info.Rotation = 180
	case 6, 7:
		info.Rotation = 90
	case 5, 8:
		info.Rotation = 270
	}
	info.CapturedAt = f.capturedAt(r.zone())
	if f.GPSLatitude != nil && f.GPSLongitude != nil && !(*f.GPSLatitude == 0 && *f.GPSLongitude == 0) {
		info.Latitude, info.Longitude = f.GPSLatitude, f.GPSLongitude
	}
	return info, nil
}

// capturedAt prefers the original time with its offset, then the GPS time (UTC), then
// the original or creation time read in zone.
func (f *exifFacts) capturedAt(zone *time.Location) *time.Time {
	const layout = "2006:01:02 15:04:05"
	parse := func(v, offset string, loc *time.Location) *time.Time {
		v = strings.TrimSpace(v)
		if len(v) < len(layout) {
			return nil
		}
		if offset != "" {
			if t, err := time.Parse(layout+"-07:00", v[:len(layout)]+offset); err == nil {
				return &t
			}
		}
		t, err := time.ParseInLocation(layout, v[:len(layout)], loc)
		if err != nil || t.Year() < 1971 {
			return nil
		}
		return &t
	}
	if t := parse(f.DateTimeOriginal, f.OffsetTimeOriginal, zone); t != nil && f.OffsetTimeOriginal != "" {
		return t
	}
	if t := parse(strings.TrimSuffix(f.GPSDateTime, "Z"), "", time.UTC); t != nil {
		return t
	}
	if t := parse(f.DateTimeOriginal, "", zone); t != nil {
		return t
	}
	return parse(f.CreateDate, f.OffsetTime, zone)
}

// orientFilter is the ffmpeg filter that displays an EXIF orientation upright.
func orientFilter(o int) string {
	switch o {
	case 2:
		return "hflip"
	case 3:
		return "hflip,vflip"
	case 4:
		return "vflip"
	case 5:
		return "transpose=cclock_flip"
	case 6:
		return "transpose=clock"
	case 7:
		return "transpose=clock_flip"
	case 8:
		return "transpose=cclock"
	}
	return "null"
}

// ImagePreview writes two JPEGs with the orientation applied: preview (long side
// ≤ 2048 px) and thumb (≤ 320 px), from one decode. HEIC/HEIF is first converted by
// heif-convert, which applies the HEIF rotation itself. Transparent areas of PNGs
// come out black.
func (r Runner) ImagePreview(ctx context.Context, in, preview, thumb string) error {
	f, err := r.imageFacts(ctx, in)
	if err != nil {
		return fmt.Errorf("image preview: %w", err)
	}
	src, orientation := in, f.Orientation
	if f.isHEIF() {
		dir, err := os.MkdirTemp(filepath.Dir(preview), ".heif-")
		if err != nil {
			return fmt.Errorf("image preview: %w", err)
		}
		defer os.RemoveAll(dir)
		if src, err = r.heifToJPEG(ctx, in, dir); err != nil {
			return fmt.Errorf("image preview: %w", err)
		}
		if f.Rotation != 0 {
			orientation = 1 // the HEIF transform wins over EXIF (MIAF); heif-convert applied it
		}
	}
	img, err := imageInput(ctx, src)
	if err != nil {
		return fmt.Errorf("image preview: %w", err)
	}
	graph := fmt.Sprintf("[0:v]%s,split=2[a][b];[a]%s[p];[b]%s[t]",
		orientFilter(orientation), fitFilter(previewMaxSide), fitFilter(thumbMaxSide))
	err = r.ffmpegTo(ctx, func(tmp ...string) []string {
		// ffmpeg 5.1 turns JPEGs by their EXIF rotation but ignores mirroring: do it all here.
		args := append([]string{"-noautorotate"}, img.ffmpegArgs()...)
		return append(args, "-filter_complex", graph,
			"-map", "[p]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", tmp[0],
			"-map", "[t]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "-update", "1", tmp[1])
	}, preview, thumb)
	if err != nil {
		if ce, ok := err.(*cmdError); ok && !isTimeout(err) {
			return unprocessable("the image cannot be decoded (%s)", lastLines(ce.Stderr, 1))
		}
		return fmt.Errorf("image preview: %w", err)
	}
	return nil
}

// heifToJPEG converts the primary image of a HEIF file into dir and returns its path.
func (r Runner) heifToJPEG(ctx context.Context, in, dir string) (string, error) {
	out := filepath.Join(dir, "image.jpg")
	if _, err := r.run(ctx, "heif-convert", "-q", "95", arg(in), out); err != nil {
		if _, ok := err.(*cmdError); ok && !isTimeout(err) {
			return "", unprocessable("the HEIF image cannot be decoded (%v)", err)
		}
		return "", err
	}
	// A file with several top-level images is written as image-1.jpg, image-2.jpg….
	found, _ := filepath.Glob(filepath.Join(dir, "image*.jpg"))
	sort.Strings(found)
	if len(found) == 0 {
		return "", unprocessable("the HEIF image holds no picture")
	}
	return found[0], nil
}
