package pipeline_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"siteinspect/report/pades"
)

// mustDemoSigner is a signer with a fresh self-signed pair named office.
func mustDemoSigner(t *testing.T, office string) *pades.Signer {
	t.Helper()
	key, chain, err := pades.DemoPair(t.TempDir(), office)
	if err != nil {
		t.Fatal(err)
	}
	return &pades.Signer{Key: key, Chain: chain, Name: office}
}

// pdfsigSays runs poppler's pdfsig on pdf.
func pdfsigSays(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdfsig"); err != nil {
		t.Fatal("pdfsig not found: apt-get install -y poppler-utils")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("pdfsig", path).CombinedOutput() // 0 for a digest mismatch too
	return string(out)
}

// TestReportSigned: with a Signer the PDF made is signed over the whole
// file, the stored copy served next is those same signed bytes, and a new
// certificate makes a new report rather than serving the old signature;
// report.json stays as it was.
func TestReportSigned(t *testing.T) {
	rc := newReportCase(t)
	rc.review(t)
	rc.reports.Signer = mustDemoSigner(t, "binhai-one")
	first, _ := rc.write(t, false)
	out := pdfsigSays(t, first)
	for _, want := range []string{"Signer Certificate Common Name: binhai-one report signing", "Total document signed", "Signature Validation: Signature is Valid."} {
		if !strings.Contains(out, want) {
			t.Errorf("pdfsig said:\n%s\nwant %q", out, want)
		}
	}
	again, _ := rc.write(t, false)
	if !bytes.Equal(again, first) {
		t.Errorf("second report: got %d bytes differing from the first %d, want the stored signed copy", len(again), len(first))
	}
	if c := rc.reports.Counts(); c.Made != 1 || c.Reused != 1 {
		t.Errorf("counts: got made %d, reused %d; want 1 and 1", c.Made, c.Reused)
	}

	rc.reports.Signer = mustDemoSigner(t, "binhai-two")
	third, _ := rc.write(t, false)
	if out := pdfsigSays(t, third); !strings.Contains(out, "Signer Certificate Common Name: binhai-two report signing") || !strings.Contains(out, "Signature is Valid.") {
		t.Errorf("report after the certificate changed: pdfsig said:\n%s\nwant valid, signed by binhai-two", out)
	}
	if c := rc.reports.Counts(); c.Made != 2 {
		t.Errorf("made: got %d, want 2 (a new certificate makes a new report)", c.Made)
	}

	js, _ := rc.write(t, true)
	if !bytes.HasPrefix(js, []byte("{")) || bytes.Contains(js, []byte("/ByteRange")) {
		t.Errorf("report.json: got %.40q…, want plain JSON", js)
	}
}
