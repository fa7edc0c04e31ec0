package report

import (
	"strings"
	"unicode"

	"github.com/signintech/gopdf"
)

// typesetter draws mixed Chinese and Latin text with two fonts: each rune goes to
// the first font that has a glyph for it (Latin first, as CJK fonts' Latin glyphs
// are poor or, in DroidSansFallback, missing). The PDF library knows one font at a
// time, so measuring, wrapping and drawing happen here, run by run. Text is placed by
// its baseline, so runs in fonts with different ascenders line up.
type typesetter struct {
	pdf      *gopdf.GoPdf
	families []string
	face     map[rune]int // rune → index into families
	cur      int          // family set on pdf, -1 for none
	curSize  float64
	size     float64 // size of the next text, in points
	err      error   // first error of the PDF library, reported once at the end
}

func newTypesetter(pdf *gopdf.GoPdf, families ...string) *typesetter {
	return &typesetter{pdf: pdf, families: families, face: map[rune]int{}, cur: -1, size: 10}
}

// use makes family i at t.size the PDF's current font.
func (t *typesetter) use(i int) {
	if t.cur == i && t.curSize == t.size {
		return
	}
	if err := t.pdf.SetFont(t.families[i], "", t.size); err != nil && t.err == nil {
		t.err = err
	}
	t.cur, t.curSize = i, t.size
}

// faceOf returns the family that sets r; the last family when none has it (the
// library then prints a space).
func (t *typesetter) faceOf(r rune) int {
	if i, ok := t.face[r]; ok {
		return i
	}
	i := len(t.families) - 1
	for j := range t.families {
		t.use(j)
		if ok, _ := t.pdf.IsCurrFontContainGlyph(r); ok {
			i = j
			break
		}
	}
	t.face[r] = i
	return i
}

// run is text set in one family.
type run struct {
	face int
	text string
}

// runs cuts s where the family changes. Spaces stay in the run they are in.
func (t *typesetter) runs(s string) []run {
	var out []run
	start, face := 0, -1
	for i, r := range s {
		f := face
		if r != ' ' || face < 0 {
			f = t.faceOf(r)
		}
		if f != face {
			if face >= 0 {
				out = append(out, run{face, s[start:i]})
			}
			start, face = i, f
		}
	}
	if face >= 0 {
		out = append(out, run{face, s[start:]})
	}
	return out
}

// width is the advance of s at t.size in points.
func (t *typesetter) width(s string) float64 {
	var w float64
	for _, r := range t.runs(s) {
		t.use(r.face)
		rw, err := t.pdf.MeasureTextWidth(r.text)
		if err != nil && t.err == nil {
			t.err = err
		}
		w += rw
	}
	return w
}

// draw sets s on one line with its baseline at y and returns the x where it ends.
func (t *typesetter) draw(x, baseline float64, s string) float64 {
	for _, r := range t.runs(s) {
		t.use(r.face)
		t.pdf.SetXY(x, baseline)
		if err := t.pdf.Text(r.text); err != nil && t.err == nil {
			t.err = err
		}
		w, _ := t.pdf.MeasureTextWidth(r.text)
		x += w
	}
	return x
}

// wrap breaks s into lines no wider than w: at spaces and between CJK characters,
// and inside a word (a hash, a path) only when the word alone is wider than a line.
// Newlines in s are kept as line breaks.
func (t *typesetter) wrap(s string, w float64) []string {
	var lines []string
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		lines = append(lines, t.wrapPara(para, w)...)
	}
	return lines
}

func (t *typesetter) wrapPara(s string, w float64) []string {
	var lines []string
	line := ""
	for _, tok := range tokens(s) {
		if t.width(line+tok) <= w {
			line += tok
			continue
		}
		if line != "" {
			lines = append(lines, strings.TrimRight(line, " "))
			line = ""
		}
		tok = strings.TrimLeft(tok, " ")
		for t.width(tok) > w { // a word longer than a line: cut it where it must
			n := t.fit(tok, w)
			lines = append(lines, tok[:n])
			tok = tok[n:]
		}
		line = tok
	}
	return append(lines, strings.TrimRight(line, " "))
}

// fit is the byte length of the longest prefix of s, at least one rune, that fits w.
func (t *typesetter) fit(s string, w float64) int {
	n := 0
	for i, r := range s {
		end := i + len(string(r))
		if n > 0 && t.width(s[:end]) > w {
			break
		}
		n = end
	}
	return n
}

// tokens splits s into units that are not broken across lines: a word with its
// trailing spaces, or a single CJK character (with any closing punctuation after it,
// which must not start a line).
func tokens(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	prevSpace := false
	for _, r := range s {
		switch {
		case isWide(r) && !isClosing(r):
			flush()
			cur.WriteRune(r)
			prevSpace = false
		case r == ' ':
			cur.WriteRune(r)
			prevSpace = true
		default:
			if prevSpace || (cur.Len() > 0 && isWide(lastRune(cur.String())) && !isClosing(r)) {
				flush()
			}
			cur.WriteRune(r)
			prevSpace = false
		}
	}
	flush()
	return out
}

func lastRune(s string) rune {
	r := []rune(s)
	return r[len(r)-1]
}

// isWide reports whether r is a CJK character or fullwidth punctuation, after which
// a line may break.
func isWide(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || r <= 0x9FFF || r >= 0xF900 && r <= 0xFFEF)
}

// isClosing reports whether r is punctuation that must stay with what comes before.
func isClosing(r rune) bool {
	return strings.ContainsRune("，。、；：？！）》」』】〕,.;:?!)]}%", r)
}
