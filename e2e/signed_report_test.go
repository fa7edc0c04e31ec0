package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
)

// mustSigningChain writes an office signing key and a certificate issued by
// a throwaway CA, the chain file holding both, as an office would get them.
func mustSigningChain(tb testing.TB, dir string) (keyFile, chainFile, caFile string) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Government CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "滨海新区行政审批局 Binhai Permit Office", Organization: []string{"Binhai"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	keyFile, chainFile, caFile = filepath.Join(dir, "office.key"), filepath.Join(dir, "office-chain.pem"), filepath.Join(dir, "ca.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	for path, data := range map[string][]byte{
		keyFile:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		chainFile: chain,
		caFile:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return keyFile, chainFile, caFile
}

// mustReportCMS returns the bytes the report's signature covers (its
// /ByteRange) and the CMS in its /Contents, without the padding.
func mustReportCMS(tb testing.TB, pdf []byte) (signed, der []byte) {
	tb.Helper()
	m := regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+)\]`).FindSubmatch(pdf)
	if m == nil {
		tb.Fatal("no /ByteRange in the report")
	}
	a, _ := strconv.Atoi(string(m[1]))
	b, _ := strconv.Atoi(string(m[2]))
	if c, _ := strconv.Atoi(string(m[3])); b+c != len(pdf) || a >= b {
		tb.Fatalf("/ByteRange %s: want it to end at the file's end, %d", m[0], len(pdf))
	}
	padded, err := hex.DecodeString(string(pdf[a+1 : b-1]))
	if err != nil {
		tb.Fatalf("/Contents: %v", err)
	}
	var cms asn1.RawValue
	if _, err := asn1.Unmarshal(padded, &cms); err != nil {
		tb.Fatalf("/Contents: %v", err)
	}
	return append(bytes.Clone(pdf[:a]), pdf[b:]...), cms.FullBytes
}

// mustPdfsig runs poppler's pdfsig on the PDF at path.
func mustPdfsig(tb testing.TB, path string) string {
	tb.Helper()
	if _, err := exec.LookPath("pdfsig"); err != nil {
		tb.Fatal("pdfsig not found: apt-get install -y poppler-utils")
	}
	// pdfsig exits 0 for a digest mismatch too; its words are the verdict.
	out, _ := exec.Command("pdfsig", path).CombinedOutput()
	return string(out)
}

// mustIssuedSHA256 finds the case's report.issued event that carries the
// SHA-256 of report.
func mustIssuedSHA256(tb testing.TB, c *harness.Client, caseID string, report []byte) {
	tb.Helper()
	var events []domain.AuditEvent
	c.MustJSON("GET", "/api/v1/cases/"+caseID+"/audit", nil, http.StatusOK, &events)
	sum := sha256.Sum256(report)
	for _, e := range events {
		var d struct {
			SHA256 string `json:"sha256"`
		}
		if e.Action == "report.issued" && json.Unmarshal(e.Data, &d) == nil && d.SHA256 == hex.EncodeToString(sum[:]) {
			return
		}
	}
	tb.Fatalf("audit: no report.issued event with the signed report's SHA-256 %x among %d events", sum, len(events))
}

// TestSignedReport: with the office's key and certificate (--sign-key,
// --sign-cert, issued by a CA), the report the API serves validates with
// poppler's pdfsig as signed by that certificate over the whole file, fails
// after one changed byte, and its SHA-256 (of the signed file) is in the
// audit chain.
func TestSignedReport(t *testing.T) {
	dir := t.TempDir()
	keyFile, chainFile, caFile := mustSigningChain(t, dir)
	p := harness.StartServer(t, "--sign-key", keyFile, "--sign-cert", chainFile)
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

	resp := insp.Do("GET", path+"/report.pdf", nil, nil)
	pdf, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("report.pdf: got %d, %v", resp.StatusCode, err)
	}
	file := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustPdfsig(t, file)
	for _, want := range []string{
		"Signer Certificate Common Name: 滨海新区行政审批局 Binhai Permit Office",
		"Signature Type: ETSI.CAdES.detached",
		"Total document signed",
		"Signature Validation: Signature is Valid.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pdfsig said:\n%s\nwant a line %q", out, want)
		}
	}
	mustIssuedSHA256(t, insp, cs.ID, pdf)

	// The CMS carries the whole chain: openssl verifies it up to the CA,
	// over the bytes the /ByteRange names.
	signed, der := mustReportCMS(t, pdf)
	sig := filepath.Join(dir, "sig.der")
	content := filepath.Join(dir, "signed-bytes")
	os.WriteFile(sig, der, 0o644)
	os.WriteFile(content, signed, 0o644)
	if out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
		"-CAfile", caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Errorf("openssl cms -verify against the CA: %v\n%s", err, out)
	}

	bad := bytes.Clone(pdf)
	bad[len(bad)/3] ^= 0x01
	os.WriteFile(file, bad, 0o644)
	if out := mustPdfsig(t, file); !strings.Contains(out, "Signature Validation: Digest Mismatch.") {
		t.Errorf("pdfsig after one changed byte said:\n%s\nwant Digest Mismatch", out)
	}
}
