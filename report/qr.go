package report

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// qrQuiet is the light margin a QR code needs around it, in modules
// (ISO/IEC 18004 §6.3.8 asks for 4).
const qrQuiet = 4

// qrModules is the QR code of s (error correction M, about 15 %), without
// its quiet zone: true for a dark module.
func qrModules(s string) ([][]bool, error) {
	q, err := qrcode.New(s, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("QR code of %q: %w", s, err)
	}
	q.DisableBorder = true
	return q.Bitmap(), nil
}

// qr draws the QR code of s as filled squares (vector, so it stays sharp
// at any print size) with its top-left corner at (x, y) and the given side
// in points. Dark modules are pure black, which nothing else on the page
// is. Each row's runs of dark modules are one rectangle.
func (l *layout) qr(x, y, side float64, s string) error {
	bm, err := qrModules(s)
	if err != nil {
		return err
	}
	m := side / float64(len(bm))
	l.pdf.SetFillColor(0, 0, 0)
	for r, row := range bm {
		for c := 0; c < len(row); {
			if !row[c] {
				c++
				continue
			}
			start := c
			for c < len(row) && row[c] {
				c++
			}
			l.pdf.RectFromUpperLeftWithStyle(x+float64(start)*m, y+float64(r)*m, float64(c-start)*m, m, "F")
		}
	}
	return nil
}

// qrSide is the printed side of the verification QR code (30 mm: a
// version-7 code's modules are then 0.67 mm, easy for a phone), and qrGap
// the space above and below it, more than its quiet zone.
const (
	qrSide = 85.0
	qrGap  = 10.0
)
