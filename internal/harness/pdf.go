package harness

import (
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"siteinspect/internal/pdftest"
)

// MinimalPDF writes a PDF of n pages, each with one line of text, with a
// correct cross-reference table.
func MinimalPDF(n int, text string) []byte {
	kids := ""
	for i := 0; i < n; i++ {
		kids += fmt.Sprintf("%d 0 R ", 4+2*i)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", kids, n),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	for i := 0; i < n; i++ {
		stream := fmt.Sprintf("BT /F1 24 Tf 72 720 Td (%s page %d) Tj ET", text, i+1)
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	}
	return pdftest.PDF(objs, "")
}

// PDFImage is an image as pdfimages -list lists it.
type PDFImage struct{ Page, W, H int }

func (p PDFImage) String() string { return fmt.Sprintf("p%d:%dx%d", p.Page, p.W, p.H) }

// ReportImages lists the images of a report PDF in the order they are
// drawn and decodes each (the report embeds JPEGs only).
func ReportImages(tb testing.TB, path string) ([]PDFImage, []image.Image) {
	tb.Helper()
	out, err := exec.Command("pdfimages", "-list", path).Output()
	if err != nil {
		tb.Fatalf("pdfimages -list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var list []PDFImage
	for _, l := range lines[min(2, len(lines)):] { // two header lines
		var p PDFImage
		var num int
		var typ string
		if _, err := fmt.Sscan(l, &p.Page, &num, &typ, &p.W, &p.H); err != nil {
			tb.Fatalf("pdfimages -list line %q: %v", l, err)
		}
		list = append(list, p)
	}
	dir := tb.TempDir()
	if b, err := exec.Command("pdfimages", "-j", path, filepath.Join(dir, "img")).CombinedOutput(); err != nil {
		tb.Fatalf("pdfimages -j: %v %s", err, b)
	}
	pics := make([]image.Image, len(list))
	for i := range pics {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("img-%03d.jpg", i)))
		if err != nil {
			tb.Fatalf("image %d of %d: %v", i, len(list), err)
		}
		pics[i], err = jpeg.Decode(f)
		f.Close()
		if err != nil {
			tb.Fatalf("image %d: %v", i, err)
		}
	}
	return list, pics
}
