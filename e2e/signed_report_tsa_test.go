package e2e

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"siteinspect/internal/harness"
	"siteinspect/internal/tsatest"
)

// oidTimeStampToken is the signature-time-stamp attribute (RFC 3161 Appendix A).
var oidTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// reportSignature fetches the case's report.pdf and returns it with the
// time-stamp token in its signature (nil when none) and the signature value.
func reportSignature(t *testing.T, c *harness.Client, caseID string) (pdf, token, sigValue []byte) {
	t.Helper()
	resp := c.Do("GET", "/api/v1/cases/"+caseID+"/report.pdf", nil, nil)
	pdf, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("report.pdf: got %d, %v", resp.StatusCode, err)
	}
	_, der := mustReportCMS(t, pdf)
	p7, err := pkcs7.Parse(der)
	if err != nil || len(p7.Signers) != 1 {
		t.Fatalf("report CMS: %v", err)
	}
	si := p7.Signers[0]
	for _, a := range si.UnauthenticatedAttributes {
		if a.Type.Equal(oidTimeStampToken) {
			var set []asn1.RawValue
			if _, err := asn1.UnmarshalWithParams(a.Value.FullBytes, &set, "set"); err != nil || len(set) != 1 {
				t.Fatalf("time-stamp attribute: %v", err)
			}
			token = set[0].FullBytes
		}
	}
	return pdf, token, si.EncryptedDigest
}

// TestSignedReportTimestamped: with a TSA (openssl ts -reply behind HTTP),
// the report's signature carries the TSA's token over the signature value,
// which openssl ts -verify accepts against the TSA's CA; with the TSA down,
// the next report is still issued at once, signed, without a token.
func TestSignedReportTimestamped(t *testing.T) {
	tsa := tsatest.Start(t)
	dir := t.TempDir()
	keyFile, chainFile, _ := mustSigningChain(t, dir)
	p := harness.StartServer(t, "--sign-key", keyFile, "--sign-cert", chainFile, "--tsa-url", tsa.URL, "--tsa-ca", tsa.CAFile)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	plan := filepath.Join(dir, "plan.pdf")
	if err := os.WriteFile(plan, harness.MinimalPDF(1, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	app.MustUploadFile(cs.ID, plan)
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)

	pdf, token, sigValue := reportSignature(t, insp, cs.ID)
	file := filepath.Join(dir, "report.pdf")
	os.WriteFile(file, pdf, 0o644)
	if out := mustPdfsig(t, file); !strings.Contains(out, "Signature Validation: Signature is Valid.") || !strings.Contains(out, "Total document signed") {
		t.Errorf("pdfsig said:\n%s\nwant valid over the whole file", out)
	}
	if token == nil {
		t.Fatal("the report's signature has no time-stamp token")
	}
	tokFile := filepath.Join(dir, "token.der")
	os.WriteFile(tokFile, token, 0o644)
	sum := sha256.Sum256(sigValue)
	out, err := exec.Command("openssl", "ts", "-verify", "-digest", hex.EncodeToString(sum[:]), "-token_in", "-in", tokFile, "-CAfile", tsa.CAFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Errorf("openssl ts -verify of the embedded token over the signature value: %v\n%s", err, out)
	}

	// The TSA goes down; a change to the case makes a new report.
	tsa.Stop()
	insp.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": "cctv-entrances", "result": "pass"}, http.StatusCreated, nil)
	start := time.Now()
	pdf2, token2, _ := reportSignature(t, insp, cs.ID)
	took := time.Since(start)
	os.WriteFile(file, pdf2, 0o644)
	if out := mustPdfsig(t, file); !strings.Contains(out, "Signature Validation: Signature is Valid.") {
		t.Errorf("report with the TSA down: pdfsig said:\n%s\nwant valid", out)
	}
	if token2 != nil || string(pdf2) == string(pdf) {
		t.Errorf("report with the TSA down: got a %d-byte token, same file %t; want a new report without one", len(token2), string(pdf2) == string(pdf))
	}
	if took > 5*time.Second {
		t.Errorf("report with the TSA down took %v, want it without waiting for the TSA", took)
	}
	t.Logf("report with the TSA down: %v", took.Round(time.Millisecond))
}
