package report

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Fonts are looked up at run time from Debian packages rather than shipped in the
// repository: a CJK font is 10–20 MB. Both must be plain TrueType (.ttf): the PDF
// library cannot read collections (.ttc) or CFF outlines (the Noto CJK .otf/.ttc).
// Only the glyphs used are embedded, so a report stays small.

// fontFile is a candidate font and the Debian package that installs it.
type fontFile struct{ path, pkg string }

// latinFonts set Latin letters, digits and punctuation. DroidSansFallback has no
// Latin glyphs at all, so one of these is needed beside it.
var latinFonts = []fontFile{
	{"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"},
	{"/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf", "fonts-liberation2"},
	{"/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "fonts-liberation"},
	{"/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "fonts-noto-core"},
}

// cjkFonts set Chinese.
var cjkFonts = []fontFile{
	{"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "fonts-droid-fallback"},
	{"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf", "fonts-arphic-gbsn00lp"},
}

// ErrNoFont means a font the report needs is not installed; its message names the
// Debian package to install.
var ErrNoFont = errors.New("report font not installed")

// findFonts returns the paths of the Latin and the CJK font.
func findFonts() (latin, cjk string, err error) {
	latin, err = firstFont(latinFonts, "Latin")
	if err != nil {
		return "", "", err
	}
	cjk, err = firstFont(cjkFonts, "Chinese")
	if err != nil {
		return "", "", err
	}
	return latin, cjk, nil
}

func firstFont(list []fontFile, script string) (string, error) {
	var paths []string
	for _, f := range list {
		if st, err := os.Stat(f.path); err == nil && st.Mode().IsRegular() {
			return f.path, nil
		}
		paths = append(paths, f.path)
	}
	return "", fmt.Errorf("%w: no %s font at %s; install the Debian package %s (apt-get install %s)",
		ErrNoFont, script, strings.Join(paths, ", "), list[0].pkg, list[0].pkg)
}
