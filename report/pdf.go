package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/signintech/gopdf"
)

// A4 in points, and the text block on it.
const (
	pageW      = 595.28
	pageH      = 841.89
	marginL    = 42.0
	marginR    = 42.0
	marginT    = 46.0
	bodyBottom = pageH - 60 // the footer lives below
	contentW   = pageW - marginL - marginR
)

// Colours used by the layout.
var (
	colText  = [3]uint8{0x20, 0x21, 0x24}
	colMuted = [3]uint8{0x5f, 0x63, 0x68}
	colRule  = [3]uint8{0xc8, 0xcc, 0xd0}
	colHead  = [3]uint8{0x1a, 0x47, 0x8a}
	colShade = [3]uint8{0xf1, 0xf3, 0xf4}
	colAlert = [3]uint8{0xd9, 0x30, 0x25}
)

// WritePDF writes the report as an A4 PDF to w. It needs a Latin and a Chinese
// TrueType font installed (see ErrNoFont); only the glyphs used are embedded.
// Annotation images are read from the paths in Annotation.Image; one that cannot be
// read is replaced by a visible notice rather than failing the report.
func WritePDF(w io.Writer, d *Data) error {
	latin, cjk, err := findFonts()
	if err != nil {
		return err
	}
	pics := make(chan map[[2]int]*picture, 1)
	go func() { pics <- preparePictures(d) }() // in parallel with loading fonts

	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	lang := labeler(d.Lang)
	pdf.SetInfo(gopdf.PdfInfo{
		Title:        infoText(lang.l("现场踏勘检查报告", "Site Inspection Report") + " " + d.Case.Number),
		Subject:      infoText(d.Case.SiteName),
		Creator:      "siteinspect",
		Producer:     "siteinspect",
		CreationDate: d.GeneratedAt,
	})
	for _, f := range [][2]string{{"latin", latin}, {"cjk", cjk}} {
		if err := pdf.AddTTFFont(f[0], f[1]); err != nil {
			<-pics
			return fmt.Errorf("load font %s: %w", f[1], err)
		}
	}
	l := &layout{pdf: pdf, ts: newTypesetter(pdf, "latin", "cjk"), lang: lang, d: d, pics: <-pics}
	l.newPage()
	l.title()
	l.evidence()
	l.tracks()
	l.checklist()
	l.decisions()
	l.owed()
	l.signatures()
	l.auditHead()
	l.footers()
	if l.ts.err != nil {
		return fmt.Errorf("lay out report: %w", l.ts.err)
	}
	if _, err := pdf.WriteTo(w); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// layout flows the report down the pages; y is the top of the next line.
type layout struct {
	pdf  *gopdf.GoPdf
	ts   *typesetter
	lang labeler
	d    *Data
	pics map[[2]int]*picture
	y    float64
}

func (l *layout) newPage() {
	l.pdf.AddPage()
	l.y = marginT
}

// need starts a new page unless h more points fit on this one.
func (l *layout) need(h float64) {
	if l.y+h > bodyBottom {
		l.newPage()
	}
}

// lineHeight is the distance between lines of text of the given size.
func lineHeight(size float64) float64 { return size * 1.45 }

// line draws one line of text at x in size and colour and moves down.
func (l *layout) line(x, size float64, c [3]uint8, s string) {
	l.need(lineHeight(size))
	l.ts.size = size
	l.pdf.SetTextColor(c[0], c[1], c[2])
	l.ts.draw(x, l.y+size*1.02, s)
	l.y += lineHeight(size)
}

// para wraps s into width w at x and draws it, breaking pages between lines.
func (l *layout) para(x, w, size float64, c [3]uint8, s string) {
	l.ts.size = size
	for _, ln := range l.ts.wrap(s, w) {
		l.line(x, size, c, ln)
	}
}

// column is a cell of a table row: its x, width and text.
type column struct {
	x, w float64
	text string
}

// row draws cells side by side, each wrapped in its width, moves down by the
// tallest, and returns that height. A row is never split across pages.
func (l *layout) row(size float64, c [3]uint8, fill *[3]uint8, cols ...column) float64 {
	l.ts.size = size
	wrapped := make([][]string, len(cols))
	n := 1
	for i, col := range cols {
		wrapped[i] = l.ts.wrap(col.text, col.w-4)
		n = max(n, len(wrapped[i]))
	}
	h := float64(n)*lineHeight(size) + 4
	l.need(h)
	if fill != nil {
		l.pdf.SetFillColor(fill[0], fill[1], fill[2])
		l.pdf.RectFromUpperLeftWithStyle(marginL, l.y, contentW, h, "F")
	}
	l.pdf.SetTextColor(c[0], c[1], c[2])
	for i, col := range cols {
		for j, ln := range wrapped[i] {
			l.ts.size = size
			l.ts.draw(col.x+2, l.y+2+float64(j)*lineHeight(size)+size*1.02, ln)
		}
	}
	l.y += h
	return h
}

// field draws "label   value" with the value wrapped beside the label.
func (l *layout) field(label, value string) {
	l.row(9.5, colText, nil,
		column{marginL, fieldLabelW, label},
		column{marginL + fieldLabelW, contentW - fieldLabelW, value})
}

// fieldLabelW is the width of a field's label column.
const fieldLabelW = 118

// rule draws a horizontal line across the text block.
func (l *layout) rule(c [3]uint8, width float64) {
	l.pdf.SetStrokeColor(c[0], c[1], c[2])
	l.pdf.SetLineWidth(width)
	l.pdf.Line(marginL, l.y, marginL+contentW, l.y)
}

// heading starts a section, keeping it on the page with some of what follows.
func (l *layout) heading(zh, en string) {
	l.y += 10
	l.need(lineHeight(13) + 60)
	l.line(marginL, 13, colHead, l.lang.l(zh, en))
	l.rule(colHead, 0.8)
	l.y += 6
}

// badge draws a filled label with white text at x, top y; it returns its width.
func (l *layout) badge(x, y float64, bg [3]uint8, s string) float64 {
	l.ts.size = 8.5
	w := l.ts.width(s) + 10
	l.pdf.SetFillColor(bg[0], bg[1], bg[2])
	if err := l.pdf.Rectangle(x, y, x+w, y+14, "F", 3, 6); err != nil && l.ts.err == nil {
		l.ts.err = err
	}
	l.pdf.SetTextColor(0xff, 0xff, 0xff)
	l.ts.size = 8.5
	l.ts.draw(x+5, y+10.2, s)
	return w
}

// image embeds a prepared picture at x, scaled into maxW × maxH points, with a
// hairline frame, and moves down.
func (l *layout) image(x, maxW, maxH float64, p *picture) {
	if p.err != nil {
		l.para(x, maxW, 8.5, colAlert, l.lang.l("图像无法读取", "Image unavailable")+": "+p.err.Error())
		return
	}
	w, h := p.fit(maxW, maxH)
	l.need(h + 8)
	holder, err := gopdf.ImageHolderByBytes(p.jpeg)
	if err == nil {
		err = l.pdf.ImageByHolder(holder, x, l.y, &gopdf.Rect{W: w, H: h})
	}
	if err != nil && l.ts.err == nil {
		l.ts.err = fmt.Errorf("embed image: %w", err)
	}
	l.pdf.SetStrokeColor(colRule[0], colRule[1], colRule[2])
	l.pdf.SetLineWidth(0.5)
	l.pdf.RectFromUpperLeftWithStyle(x, l.y, w, h, "D")
	l.y += h + 8
}

// fit is the printed size of p scaled into maxW × maxH points.
func (p *picture) fit(maxW, maxH float64) (w, h float64) {
	if p.err != nil || p.w == 0 || p.h == 0 {
		return 0, 0
	}
	s := min(maxW/float64(p.w), maxH/float64(p.h))
	return float64(p.w) * s, float64(p.h) * s
}

// height is how tall para(_, w, size, _, s) will be.
func (l *layout) height(w, size float64, s string) float64 {
	l.ts.size = size
	return float64(len(l.ts.wrap(s, w))) * lineHeight(size)
}

// footers writes the case number and "page X / Y" on every page, and the audit
// head on the last, once the page count is known.
func (l *layout) footers() {
	n := l.pdf.GetNumberOfPages()
	for i := 1; i <= n; i++ {
		if err := l.pdf.SetPage(i); err != nil {
			l.ts.err = err
			return
		}
		y := pageH - 34
		l.pdf.SetStrokeColor(colRule[0], colRule[1], colRule[2])
		l.pdf.SetLineWidth(0.5)
		l.pdf.Line(marginL, y-12, marginL+contentW, y-12)
		l.pdf.SetTextColor(colMuted[0], colMuted[1], colMuted[2])
		l.ts.size = 8
		l.ts.draw(marginL, y, l.lang.l("案件", "Case")+" "+l.d.Case.Number)
		page := l.lang.l(fmt.Sprintf("第 %d / %d 页", i, n), fmt.Sprintf("Page %d / %d", i, n))
		l.ts.draw(marginL+contentW-l.ts.width(page), y, page)
		if i == n {
			l.ts.size = 7
			l.ts.draw(marginL, y+12, fmt.Sprintf("%s #%d  %s", l.lang.l("审计链头", "Audit chain head"),
				l.d.AuditHeadSeq, l.d.AuditHeadHash))
		}
	}
}

// infoText prepares a string for the Info dictionary, which gopdf writes as
// UTF-16 in hex one code point at a time: a character beyond U+FFFF (an
// emoji in a site name the applicant typed) would come out as five hex
// digits and garble everything after it, so it becomes U+FFFD.
func infoText(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, s)
}
