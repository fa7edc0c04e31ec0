package report

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTimeCode(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{0, "00:00.000"},
		{3203, "00:03.203"},
		{61001, "01:01.001"},
		{3_600_000 + 5, "1:00:00.005"},
		{-5, "00:00.000"},
	}
	for _, tt := range tests {
		if got := timeCode(tt.ms); got != tt.want {
			t.Errorf("timeCode(%d): got %q, want %q", tt.ms, got, tt.want)
		}
	}
}

func TestCropRect(t *testing.T) {
	page := image.Rect(0, 0, 1240, 1754)
	tests := []struct {
		name string
		pts  [][2]float64
		want image.Rectangle
	}{
		// A tiny region keeps 400 px of width, centred on it.
		{"small region", [][2]float64{{0.5, 0.5}, {0.51, 0.51}}, image.Rect(426, 701, 827, 1070)},
		// At the left edge the crop slides inside the page instead of shrinking.
		{"at the edge", [][2]float64{{0, 0}, {0.05, 0.05}}, image.Rect(0, 0, 400, 264)},
		// A big region is its box plus 10% of the page on each side.
		{"big region", [][2]float64{{0.2, 0.3}, {0.8, 0.6}}, image.Rect(124, 350, 1116, 1228)},
	}
	for _, tt := range tests {
		if got := cropRect(page, tt.pts); got != tt.want {
			t.Errorf("%s: cropRect: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDrawShape(t *testing.T) {
	red := color.RGBA{0xff, 0, 0, 0xff}
	tests := []struct {
		typ          string
		pts          [][2]float64
		marked, bare []image.Point // pixels that must and must not be red
	}{
		{"rect", [][2]float64{{100, 100}, {300, 200}}, []image.Point{{100, 150}, {200, 100}, {300, 150}, {200, 200}}, []image.Point{{200, 150}, {50, 50}}},
		{"ellipse", [][2]float64{{100, 100}, {300, 200}}, []image.Point{{100, 150}, {200, 100}, {300, 150}}, []image.Point{{200, 150}, {101, 101}}},
		{"line", [][2]float64{{0, 0}, {399, 299}}, []image.Point{{200, 150}}, []image.Point{{300, 50}}},
		{"arrow", [][2]float64{{50, 250}, {350, 250}}, []image.Point{{60, 250}, {345, 250}, {335, 245}}, []image.Point{{200, 230}}},
		{"freehand", [][2]float64{{10, 10}, {200, 10}, {200, 200}}, []image.Point{{100, 10}, {200, 100}}, []image.Point{{100, 100}}},
		{"point", [][2]float64{{200, 150}}, []image.Point{{200, 150}, {215, 150}}, []image.Point{{208, 150}}},
	}
	for _, tt := range tests {
		img := image.NewRGBA(image.Rect(0, 0, 400, 300))
		draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
		drawShape(img, tt.typ, tt.pts, red)
		for _, p := range tt.marked {
			if got := img.RGBAAt(p.X, p.Y); got != red {
				t.Errorf("%s: pixel %v: got %v, want red", tt.typ, p, got)
			}
		}
		for _, p := range tt.bare {
			if got := img.RGBAAt(p.X, p.Y); got == red {
				t.Errorf("%s: pixel %v: got red, want untouched", tt.typ, p)
			}
		}
	}
}

func TestParseColor(t *testing.T) {
	tests := map[string]color.RGBA{
		"#00ff00": {0, 0xff, 0, 0xff}, "#1a2B3c": {0x1a, 0x2b, 0x3c, 0xff},
		"#f80": {0xff, 0x88, 0, 0xff}, "": defaultColor, "blue": defaultColor, "#zzzzzz": defaultColor,
	}
	for in, want := range tests {
		if got := parseColor(in); got != want {
			t.Errorf("parseColor(%q): got %v, want %v", in, got, want)
		}
	}
}

func TestWritePDFBadImage(t *testing.T) {
	d := &Data{Case: Case{Number: "X-1"}, Checklist: []Item{{TextZH: "检查", Result: "fail",
		Annotations: []Annotation{{ID: "a", Body: "看这里", Image: filepath.Join(t.TempDir(), "missing.png")}}}}}
	var buf bytes.Buffer
	if err := WritePDF(&buf, d); err != nil {
		t.Fatalf("WritePDF with a missing image: got %v, want the report with a notice", err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Errorf("WritePDF wrote %q…, want a PDF", buf.Bytes()[:min(8, buf.Len())])
	}
}

func TestFindFontsMissing(t *testing.T) {
	_, err := firstFont([]fontFile{{"/nonexistent/x.ttf", "fonts-droid-fallback"}}, "Chinese")
	if !errors.Is(err, ErrNoFont) || !bytes.Contains([]byte(err.Error()), []byte("apt-get install fonts-droid-fallback")) {
		t.Errorf("firstFont with no font: got %v, want ErrNoFont naming fonts-droid-fallback", err)
	}
}

// syntheticFrames writes n 1280x720 PNGs that look a little like camera frames: a
// lit gradient with sensor noise and a dozen objects, so JPEG has real work to do
// (pure noise would be a worst case no camera produces after H.264).
func syntheticFrames(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	base := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for y := range 720 {
		for x := range 1280 {
			v := uint8(rng.IntN(8))
			o := base.PixOffset(x, y)
			base.Pix[o], base.Pix[o+1], base.Pix[o+2], base.Pix[o+3] = uint8(x/8)+v, uint8(y/4)+v, 120+v, 0xff
		}
	}
	paths := make([]string, n)
	for i := range paths {
		img := image.NewRGBA(base.Rect)
		copy(img.Pix, base.Pix)
		for range 12 {
			x, y := rng.IntN(1200), rng.IntN(660)
			c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 0xff}
			draw.Draw(img, image.Rect(x, y, x+80+rng.IntN(200), y+40+rng.IntN(120)), &image.Uniform{c}, image.Point{}, draw.Src)
		}
		paths[i] = mustPNG(tb, dir, fmt.Sprintf("f%03d.png", i), img)
	}
	return paths
}

// hundredFrames is a case with 100 annotated video frames over 10 checklist items.
func hundredFrames(tb testing.TB) *Data {
	d := testData(tb, tb.TempDir())
	frames := syntheticFrames(tb, tb.TempDir(), 100)
	shapes := []string{"rect", "ellipse", "arrow", "line", "freehand", "point"}
	d.Checklist = make([]Item, 10)
	for i := range d.Checklist {
		d.Checklist[i] = Item{ID: fmt.Sprint(i), TextZH: fmt.Sprintf("检查项目第 %d 项：安全设施齐全", i+1), TextEN: "Safety equipment complete", Result: "fail"}
		for j := range 10 {
			n := int64(i*10 + j)
			d.Checklist[i].Annotations = append(d.Checklist[i].Annotations, Annotation{
				ID: fmt.Sprint(n), EvidenceID: "ev1", EvidenceName: "前台与监控室.mp4", Author: "李明", Body: "此处存在安全隐患。",
				Severity: "concern", StartMS: ptr(n * 1001 / 30), Frame: ptr(n * 30), CreatedAt: time.Now(), Image: frames[n],
				Shape: &Shape{Type: shapes[n%6], Points: [][2]float64{{0.2, 0.2}, {0.5, 0.6}, {0.7, 0.4}}}})
		}
	}
	return d
}

// BenchmarkWritePDF100Frames times a report with 100 annotated 1280x720 frames (make
// bench: "report generation time for a case with 100 annotated frames").
func BenchmarkWritePDF100Frames(b *testing.B) {
	mustTools(b, "ffmpeg", "pdfimages")
	d := hundredFrames(b)
	var size int
	cpu0 := cpuTime()
	for b.Loop() {
		var buf bytes.Buffer
		if err := WritePDF(&buf, d); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "pdf-bytes")
	// CPU seconds say more than wall time on a shared 2-core machine.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.StopTimer()
	var buf bytes.Buffer
	if err := WritePDF(&buf, d); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "r.pdf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	if got := strings.Count(mustRun(b, "pdfimages", "-list", path), "\n") - 2; got != 100 {
		b.Errorf("pdfimages lists %d images, want 100", got)
	}
}

func TestResize(t *testing.T) {
	// 4x2 source: left half black, right half white, except one grey pixel.
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		for y := range 2 {
			v := uint8(0)
			if x >= 2 {
				v = 0xff
			}
			src.SetRGBA(x, y, color.RGBA{v, v, v, 0xff})
		}
	}
	src.SetRGBA(0, 0, color.RGBA{0x80, 0x80, 0x80, 0xff})
	dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
	resize(dst, src, src.Bounds())
	if got, want := dst.RGBAAt(0, 0), (color.RGBA{0x20, 0x20, 0x20, 0xff}); got != want {
		t.Errorf("left pixel: got %v, want %v (the mean of 0x80, 0, 0, 0)", got, want)
	}
	if got, want := dst.RGBAAt(1, 0), (color.RGBA{0xff, 0xff, 0xff, 0xff}); got != want {
		t.Errorf("right pixel: got %v, want %v", got, want)
	}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
