package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileTextKeepsPDFStructure: what an applicant types (site name,
// address, company, file names, annotation replies) is drawn into the
// report, and the site name is its Subject. Text that reads like PDF syntax
// stays text: page text is written as glyph ids and the Info strings in
// hex, so no JavaScript or action appears, pdfinfo reads the file, and
// pdftotext shows the words. A character beyond U+FFFF in the Subject
// (gopdf writes its code point as five hex digits, not a UTF-16 pair)
// becomes U+FFFD instead of garbling the rest of the Subject.
func TestHostileTextKeepsPDFStructure(t *testing.T) {
	mustTools(t, "pdfinfo", "pdftotext")
	dir := t.TempDir()
	d := testData(t, dir)
	evil := "x) Tj ET /JavaScript (app.alert(1)) /OpenAction << /S /JS >> \\ ( endobj trailer \r\n\u202e\U0001F600tail"
	d.Case.SiteName = evil
	d.Case.SiteAddress = evil
	d.Case.Applicant.Org = evil
	d.Evidence[1].Filename = evil + ".png"
	var buf bytes.Buffer
	if err := WritePDF(&buf, d); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"/JavaScript", "/OpenAction", "/JS", "app.alert", "/AA", "/Launch", "/URI"} {
		if bytes.Contains(buf.Bytes(), []byte(s)) {
			t.Errorf("the PDF's bytes hold %q", s)
		}
	}
	p := filepath.Join(dir, "hostile.pdf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	info := mustRun(t, "pdfinfo", p)
	if !strings.Contains(info, "JavaScript:      no") || !strings.Contains(info, "Pages:") {
		t.Errorf("pdfinfo:\n%s", info)
	}
	head, _, _ := strings.Cut(info, "\nCreator:")
	_, subject, _ := strings.Cut(head, "Subject:")
	if subject = strings.TrimSpace(subject); !strings.HasSuffix(subject, "\ufffdtail") || !strings.HasPrefix(subject, "x) Tj ET /JavaScript") {
		t.Errorf("pdfinfo Subject %q, want the site name with U+FFFD for the emoji", subject)
	}
	text := mustRun(t, "pdftotext", p, "-")
	if !strings.Contains(text, "app.alert(1)") {
		t.Errorf("pdftotext lacks the site name as text:\n%s", text)
	}
}
