package media

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"siteinspect/internal/pdftest"
)

// testPage is one page of a generated PDF: Latin text in Helvetica and, optionally, CJK
// text in a Type0 font with Identity-H encoding whose CIDs are the Unicode code points
// and whose ToUnicode CMap maps them back, so text extraction needs no font files.
type testPage struct {
	Latin string
	CJK   string
}

// pdfOptions adds the damage some tests need.
type pdfOptions struct {
	// Encrypt writes a Standard security handler dictionary whose /U entry no empty
	// password matches, as a PDF protected with an unknown user password looks.
	Encrypt bool
}

// makePDF writes a minimal, valid PDF with one object per line and a correct xref.
func makePDF(pages []testPage, opt pdfOptions) []byte {
	var objs []string // objs[i] is object i+1
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	stream := func(dict, data string) int {
		return add(fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data))
	}

	catalog := add("") // filled in below
	pagesObj := add("")
	helv := add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")

	var runes []rune
	seen := map[rune]bool{}
	for _, p := range pages {
		for _, r := range p.CJK {
			if !seen[r] {
				seen[r] = true
				runes = append(runes, r)
			}
		}
	}
	cjk := 0
	if len(runes) > 0 {
		var cmap strings.Builder
		cmap.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
			"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
			"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
			"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
		fmt.Fprintf(&cmap, "%d beginbfchar\n", len(runes))
		for _, r := range runes {
			fmt.Fprintf(&cmap, "<%04X> <%04X>\n", r, r)
		}
		cmap.WriteString("endbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")
		toUnicode := stream("", cmap.String())
		desc := add("<< /Type /FontDescriptor /FontName /SimSun /Flags 4 /FontBBox [0 -120 1000 880] " +
			"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>")
		cid := add(fmt.Sprintf("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun "+
			"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "+
			"/FontDescriptor %d 0 R /DW 1000 >>", desc))
		cjk = add(fmt.Sprintf("<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H "+
			"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>", cid, toUnicode))
	}
	fonts := fmt.Sprintf("/F1 %d 0 R", helv)
	if cjk != 0 {
		fonts += fmt.Sprintf(" /F2 %d 0 R", cjk)
	}

	var kids []string
	for _, p := range pages {
		content := fmt.Sprintf("BT /F1 24 Tf 72 700 Td (%s) Tj ET", pdfEscape(p.Latin))
		if p.CJK != "" {
			var hex strings.Builder
			for _, r := range p.CJK {
				fmt.Fprintf(&hex, "%04X", r)
			}
			content += fmt.Sprintf("\nBT /F2 24 Tf 72 640 Td <%s> Tj ET", hex.String())
		}
		c := stream("", content)
		page := add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "+
			"/Resources << /Font << %s >> >> /Contents %d 0 R >>", pagesObj, fonts, c))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	objs[catalog-1] = fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesObj)
	objs[pagesObj-1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))
	trailerExtra := ""
	if opt.Encrypt {
		enc := add("<< /Filter /Standard /V 1 /R 2 /P -44 " +
			"/O <" + strings.Repeat("5A", 32) + "> /U <" + strings.Repeat("A5", 32) + "> >>")
		trailerExtra = fmt.Sprintf(" /Encrypt %d 0 R /ID [<%s> <%s>]", enc, strings.Repeat("01", 16), strings.Repeat("01", 16))
	}

	return pdftest.PDF(objs, trailerExtra)
}

func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// mustWrite writes data to name in a fresh temporary directory and returns the path.
func mustWrite(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// makeBombPDF writes a one-page PDF whose image claims 40000×40000 RGB pixels (4.8 GB
// decoded) backed by a small Flate stream: poppler streams it rather than allocating
// it all, so it costs time, which is what the Runner's timeout must stop.
func makeBombPDF(tb testing.TB) []byte {
	tb.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	content := "q 612 0 0 792 0 0 cm /Im1 Do Q"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width 40000 /Height 40000 /ColorSpace /DeviceRGB "+
			"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", z.Len(), z.String()),
	}
	return pdftest.PDF(objs, "")
}
