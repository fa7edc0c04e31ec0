package report

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	_ "image/png" // annotation images are PNG (pages, frames) or JPEG (photos)
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	_ "siteinspect/media/pam" // or PAM (frames extracted many at a time)
)

const (
	// maxImageWidth bounds an embedded picture: a frame at 1280 px printed 18 cm wide
	// is 180 dpi, sharper than the page needs and far smaller than a 4K frame.
	maxImageWidth = 1280
	// minCropWidth keeps a crop around a small PDF region wide enough to read the
	// text around it.
	minCropWidth = 400
	// cropMargin is the context kept around a PDF region, as a share of the page.
	cropMargin = 0.10
	// jpegQuality is the quality of embedded pictures.
	jpegQuality = 85
)

// MaxImageWidth is the widest picture a report embeds, in pixels: whoever
// extracts frames for a report need not make them wider.
const MaxImageWidth = maxImageWidth

// picture is an annotation image ready to embed: a JPEG and its size in pixels.
type picture struct {
	jpeg []byte
	w, h int
	err  error // why there is no picture; shown in the report in its place
}

// preparePictures renders every annotation image of d on all CPUs, keyed by
// checklist item and annotation index.
func preparePictures(d *Data) map[[2]int]*picture {
	type job struct {
		key [2]int
		a   *Annotation
	}
	var jobs []job
	for i := range d.Checklist {
		for j := range d.Checklist[i].Annotations {
			if a := &d.Checklist[i].Annotations[j]; a.Image != "" || a.Picture != "" {
				jobs = append(jobs, job{[2]int{i, j}, a})
			}
		}
	}
	out := make(map[[2]int]*picture, len(jobs))
	for _, j := range jobs {
		out[j.key] = &picture{}
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				p := out[j.key] // each worker writes only its own entry
				p.jpeg, p.w, p.h, p.err = cachedAnnotation(j.a)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return out
}

// cachedAnnotation is renderAnnotation through the file a.Picture: read
// from it when it is there, written to it (whole or not at all) when it was
// not. A picture that cannot be kept is still embedded.
func cachedAnnotation(a *Annotation) ([]byte, int, int, error) {
	if a.Picture == "" {
		return renderAnnotation(a)
	}
	if b, err := os.ReadFile(a.Picture); err == nil {
		if c, err := jpeg.DecodeConfig(bytes.NewReader(b)); err == nil {
			return b, c.Width, c.Height, nil
		}
	}
	if a.Image == "" {
		return nil, 0, 0, fmt.Errorf("no picture at %s and no image to draw it from", a.Picture)
	}
	b, w, h, err := renderAnnotation(a)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := os.MkdirAll(filepath.Dir(a.Picture), 0o755); err == nil {
		if f, err := os.CreateTemp(filepath.Dir(a.Picture), filepath.Base(a.Picture)+".part-*"); err == nil {
			_, werr := f.Write(b)
			if cerr := f.Close(); werr == nil && cerr == nil && os.Rename(f.Name(), a.Picture) == nil {
				return b, w, h, nil
			}
			os.Remove(f.Name())
		}
	}
	return b, w, h, nil
}

// renderAnnotation loads a.Image, crops a PDF page to the region, scales to at most
// maxImageWidth, brings a Display P3 photo to sRGB (colour.go), draws a.Shape and
// encodes the result as JPEG.
func renderAnnotation(a *Annotation) ([]byte, int, int, error) {
	raw, err := os.ReadFile(a.Image)
	if err != nil {
		return nil, 0, 0, err
	}
	src, format, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("decode %s: %w", a.Image, err)
	}
	p3 := format == "jpeg" && isDisplayP3(jpegICC(raw))
	b := src.Bounds()
	var pts [][2]float64
	if a.Shape != nil {
		pts = a.Shape.Points
	}
	crop := b
	if a.Page != nil && len(pts) > 0 {
		crop = cropRect(b, pts)
	}
	scale := math.Min(1, float64(maxImageWidth)/float64(crop.Dx()))
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(math.Round(float64(crop.Dx())*scale))),
		max(1, int(math.Round(float64(crop.Dy())*scale)))))
	resize(dst, src, crop)
	if p3 {
		p3ToSRGB(dst) // before the shape, whose colour is sRGB's
	}
	if a.Shape != nil {
		// Points are fractions of the whole image; map them into the crop.
		mapped := make([][2]float64, len(pts))
		sx := float64(dst.Bounds().Dx()) / float64(crop.Dx())
		sy := float64(dst.Bounds().Dy()) / float64(crop.Dy())
		for i, p := range pts {
			mapped[i] = [2]float64{
				(float64(b.Min.X) + p[0]*float64(b.Dx()) - float64(crop.Min.X)) * sx,
				(float64(b.Min.Y) + p[1]*float64(b.Dy()) - float64(crop.Min.Y)) * sy,
			}
		}
		drawShape(dst, a.Shape.Type, mapped, parseColor(a.Shape.Color))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), dst.Bounds().Dx(), dst.Bounds().Dy(), nil
}

// cropRect is the bounding box of the normalized points in b, grown by cropMargin of
// the page on each side and to at least minCropWidth wide (and a third of that
// high), kept inside b.
func cropRect(b image.Rectangle, pts [][2]float64) image.Rectangle {
	x0, y0, x1, y1 := 1.0, 1.0, 0.0, 0.0
	for _, p := range pts {
		x0, x1 = math.Min(x0, p[0]), math.Max(x1, p[0])
		y0, y1 = math.Min(y0, p[1]), math.Max(y1, p[1])
	}
	W, H := float64(b.Dx()), float64(b.Dy())
	r := [4]float64{x0*W - cropMargin*W, y0*H - cropMargin*H, x1*W + cropMargin*W, y1*H + cropMargin*H}
	grow := func(lo, hi, want, limit float64) (float64, float64) {
		lo, hi, want = math.Max(0, lo), math.Min(limit, hi), math.Min(want, limit)
		if d := want - (hi - lo); d > 0 {
			lo, hi = lo-d/2, hi+d/2
		}
		// Slide back inside the image rather than lose width at an edge.
		if lo < 0 {
			lo, hi = 0, hi-lo
		}
		if hi > limit {
			lo, hi = math.Max(0, lo-(hi-limit)), limit
		}
		return lo, hi
	}
	r[0], r[2] = grow(r[0], r[2], minCropWidth, W)
	r[1], r[3] = grow(r[1], r[3], minCropWidth/3, H)
	return image.Rect(b.Min.X+int(r[0]), b.Min.Y+int(r[1]),
		b.Min.X+int(math.Ceil(r[2])), b.Min.Y+int(math.Ceil(r[3]))).Intersect(b)
}

// resize scales the part sr of src onto all of dst by averaging the source pixels
// under each destination pixel (a box filter: no aliasing when shrinking a frame
// by 3×, and exact copying at 1×).
func resize(dst *image.RGBA, src image.Image, sr image.Rectangle) {
	db := dst.Bounds()
	// Transparent parts of a PNG (a page without a background) become white paper.
	opaque := false
	if o, ok := src.(interface{ Opaque() bool }); ok {
		opaque = o.Opaque()
	}
	flatten := func(dst *image.RGBA) {
		if opaque { // frames and photos: one copy, no blending
			draw.Draw(dst, dst.Bounds(), src, sr.Min, draw.Src)
			return
		}
		draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
		draw.Draw(dst, dst.Bounds(), src, sr.Min, draw.Over)
	}
	if db.Dx() == sr.Dx() && db.Dy() == sr.Dy() {
		flatten(dst)
		return
	}
	// Convert once so the inner loop reads bytes, not the image.Image interface.
	rgba := image.NewRGBA(image.Rect(0, 0, sr.Dx(), sr.Dy()))
	flatten(rgba)
	// Source spans of each destination column and row, computed once.
	span := func(n, sn int) []int {
		out := make([]int, n+1)
		for i := range out {
			out[i] = min(sn, i*sn/n)
		}
		return out
	}
	xs, ys := span(db.Dx(), sr.Dx()), span(db.Dy(), sr.Dy())
	sums := make([]uint32, 3*db.Dx()) // one destination row's sums
	for y := 0; y < db.Dy(); y++ {
		clear(sums)
		sy0, sy1 := ys[y], max(ys[y]+1, ys[y+1])
		for yy := sy0; yy < sy1; yy++ {
			row := rgba.Pix[yy*rgba.Stride:]
			for x := 0; x < db.Dx(); x++ {
				sx0, sx1 := xs[x], max(xs[x]+1, xs[x+1])
				var r, g, b uint32
				for i := sx0 * 4; i < sx1*4; i += 4 {
					r += uint32(row[i])
					g += uint32(row[i+1])
					b += uint32(row[i+2])
				}
				sums[3*x] += r
				sums[3*x+1] += g
				sums[3*x+2] += b
			}
		}
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < db.Dx(); x++ {
			n := uint32((max(xs[x]+1, xs[x+1]) - xs[x]) * (sy1 - sy0))
			out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = uint8(sums[3*x]/n), uint8(sums[3*x+1]/n), uint8(sums[3*x+2]/n), 0xff
		}
	}
}
