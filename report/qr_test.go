package report

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestVerifyQR renders the report's last page and reads its QR code back
// module by module: it is the encoder's symbol for the verification URL,
// square, of the planned size, with its quiet zone clear.
func TestVerifyQR(t *testing.T) {
	mustTools(t, "ffmpeg", "pdftoppm")
	dir := t.TempDir()
	d := testData(t, dir)
	var buf bytes.Buffer
	if err := WritePDF(&buf, d); err != nil {
		t.Fatal(err)
	}
	pdfPath := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(pdfPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const dpi = 144 // 2 pixels a point
	mustRun(t, "pdftoppm", "-png", "-r", "144", pdfPath, filepath.Join(dir, "page"))
	pages, _ := filepath.Glob(filepath.Join(dir, "page-*.png"))
	sort.Strings(pages)
	if len(pages) == 0 {
		t.Fatal("pdftoppm rendered no page")
	}
	f, err := os.Open(pages[len(pages)-1])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	black := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r>>8 < 8 && g>>8 < 8 && b>>8 < 8
	}
	box := image.Rectangle{Min: image.Pt(1<<30, 1<<30)}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if black(x, y) {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	side := qrSide * dpi / 72
	if box.Empty() || abs(float64(box.Dx())-side) > 3 || abs(float64(box.Dy())-side) > 3 {
		t.Fatalf("pure black on the last page: got %v, want one square of about %.0f px (the QR code)", box, side)
	}
	want, err := qrModules(d.VerifyURL)
	if err != nil {
		t.Fatal(err)
	}
	n := len(want)
	m := float64(box.Dx()) / float64(n)
	wrong := 0
	for r := range n {
		for c := range n {
			x, y := box.Min.X+int((float64(c)+0.5)*m), box.Min.Y+int((float64(r)+0.5)*m)
			rr, _, _, _ := img.At(x, y).RGBA()
			if dark := rr>>8 < 128; dark != want[r][c] {
				wrong++
			}
		}
	}
	if wrong != 0 {
		t.Fatalf("QR code read back: %d of %d modules differ from the encoder's symbol for %q", wrong, n*n, d.VerifyURL)
	}
	// The quiet zone: nothing drawn within 4 modules around it.
	quiet := box.Inset(-int(qrQuiet * m))
	for y := quiet.Min.Y; y < quiet.Max.Y; y++ {
		for x := quiet.Min.X; x < quiet.Max.X; x++ {
			if image.Pt(x, y).In(box) {
				continue
			}
			if r, _, _, _ := img.At(x, y).RGBA(); r>>8 < 200 {
				t.Fatalf("quiet zone: pixel (%d, %d) is drawn (red %d), want paper", x, y, r>>8)
			}
		}
	}
	t.Logf("QR code: %d×%d modules, %.2f mm each, read back exactly", n, n, m/2*25.4/72)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
