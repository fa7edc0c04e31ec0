package pades

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"siteinspect/internal/pdftest"
	"siteinspect/internal/tsatest"
	"siteinspect/report"
	"siteinspect/timestamp"
)

func mustTool(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Fatalf("%s not found: apt-get install -y poppler-utils openssl", name)
	}
}

// mustReport is a real inspection report as the service makes it, with a
// Chinese site name.
func mustReport(tb testing.TB) []byte {
	tb.Helper()
	at := time.Date(2026, 12, 5, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	d := &report.Data{
		Case: report.Case{Number: "BH-2026-000042", Status: "approved", SiteName: "滨海旅馆", SiteAddress: "滨海新区 1 号",
			Applicant: report.Person{Name: "王芳", Org: "滨海旅馆有限公司"}, CreatedAt: at},
		PermitType:  report.PermitType{Code: "hotel", NameZH: "旅馆业特种行业许可", NameEN: "Hotel special-trade licence"},
		Evidence:    []report.Evidence{{ID: "e1", Filename: "lobby.mp4", Kind: "video", SHA256: strings.Repeat("ab", 32), Size: 1 << 20, UploadedAt: at}},
		GeneratedAt: at,
		VerifyURL:   "https://permits.example.gov.cn/verify/ABCD-EFGH",
	}
	var b bytes.Buffer
	if err := report.WritePDF(&b, d); err != nil {
		tb.Fatalf("write report: %v", err)
	}
	return b.Bytes()
}

// mustSigner is a signer with a fresh demo pair in a temp dir.
func mustSigner(tb testing.TB) (*Signer, string) {
	tb.Helper()
	dir := tb.TempDir()
	key, chain, err := DemoPair(dir, "滨海新区行政审批局")
	if err != nil {
		tb.Fatalf("demo pair: %v", err)
	}
	return &Signer{Key: key, Chain: chain, Name: "滨海新区行政审批局", Reason: "现场踏勘检查报告 Site inspection report",
		Location: "Tianjin"}, filepath.Join(dir, DemoCertFile)
}

// pdfsig runs poppler's validator on pdf and returns its report.
func pdfsig(tb testing.TB, pdf []byte) string {
	tb.Helper()
	mustTool(tb, "pdfsig")
	path := filepath.Join(tb.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		tb.Fatal(err)
	}
	// pdfsig exits non-zero for a bad signature; its words are what we check.
	out, _ := exec.Command("pdfsig", path).CombinedOutput()
	return string(out)
}

func wantLine(tb testing.TB, out, want string) {
	tb.Helper()
	if !strings.Contains(out, want) {
		tb.Errorf("pdfsig said:\n%s\nwant a line %q", out, want)
	}
}

var byteRangeRE = regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+)\]`)

// signedParts are the byte range and /Contents of the last signature in pdf.
func signedParts(tb testing.TB, pdf []byte) (a, b, c int, cms []byte) {
	tb.Helper()
	m := byteRangeRE.FindAllSubmatch(pdf, -1)
	if len(m) == 0 {
		tb.Fatalf("no /ByteRange in the signed PDF")
	}
	last := m[len(m)-1]
	a, _ = strconv.Atoi(string(last[1]))
	b, _ = strconv.Atoi(string(last[2]))
	c, _ = strconv.Atoi(string(last[3]))
	if b+c != len(pdf) {
		tb.Fatalf("byte range ends at %d, want the file's end %d", b+c, len(pdf))
	}
	if pdf[a] != '<' || pdf[b-1] != '>' {
		tb.Fatalf("byte range gap is %q…%q, want <…>", pdf[a], pdf[b-1])
	}
	der, err := hex.DecodeString(string(pdf[a+1 : b-1]))
	if err != nil {
		tb.Fatalf("/Contents is not hex: %v", err)
	}
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		tb.Fatalf("/Contents is not DER: %v", err)
	}
	return a, b, c, v.FullBytes
}

func TestSignValidatesWithPdfsig(t *testing.T) {
	orig := mustReport(t)
	s, _ := mustSigner(t)
	start := time.Now()
	signed, err := s.Sign(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("signed a %d-byte report in %v; %d bytes added", len(orig), time.Since(start), len(signed)-len(orig))
	if !bytes.Equal(signed[:len(orig)], orig) {
		t.Fatalf("the original bytes changed: an incremental update only appends")
	}
	out := pdfsig(t, signed)
	wantLine(t, out, "Signature Type: ETSI.CAdES.detached")
	wantLine(t, out, "Signing Hash Algorithm: SHA-256")
	wantLine(t, out, "Signature Validation: Signature is Valid.")
	wantLine(t, out, "Total document signed")
	wantLine(t, out, "Signer Certificate Common Name: 滨海新区行政审批局 report signing (demo, not trusted)")
	if n := strings.Count(out, "Signature #"); n != 1 {
		t.Errorf("pdfsig saw %d signatures, want 1:\n%s", n, out)
	}
}

func TestSignDetectsOneChangedByte(t *testing.T) {
	orig := mustReport(t)
	s, _ := mustSigner(t)
	signed, err := s.Sign(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	a, b, _, _ := signedParts(t, signed)
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"in the report's own bytes", len(orig) / 2},
		// The signature dictionary's /M date, after the original file.
		{"in the signature dictionary", bytes.Index(signed[len(orig):], []byte("(D:20")) + len(orig) + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.at >= a && tc.at < b {
				t.Fatalf("byte %d is inside /Contents [%d,%d), not signed", tc.at, a, b)
			}
			bad := bytes.Clone(signed)
			bad[tc.at] ^= 0x01
			out := pdfsig(t, bad)
			if strings.Contains(out, "Signature is Valid") {
				t.Fatalf("pdfsig still says valid after byte %d changed:\n%s", tc.at, out)
			}
			wantLine(t, out, "Signature Validation: Digest Mismatch.")
		})
	}
}

// TestSignVerifiesWithOpenSSL checks the CMS alone with another independent
// tool: openssl cms -verify over the byte ranges, and its print-out for the
// PAdES attributes.
func TestSignVerifiesWithOpenSSL(t *testing.T) {
	mustTool(t, "openssl")
	orig := mustReport(t)
	s, certFile := mustSigner(t)
	signed, err := s.Sign(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	a, b, _, cms := signedParts(t, signed)
	dir := t.TempDir()
	content := append(bytes.Clone(signed[:a]), signed[b:]...)
	mustWrite(t, filepath.Join(dir, "content.bin"), content)
	mustWrite(t, filepath.Join(dir, "sig.der"), cms)
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", filepath.Join(dir, "sig.der"),
		"-content", filepath.Join(dir, "content.bin"), "-CAfile", certFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification successful") {
		t.Errorf("openssl cms -verify: %v\n%s", err, out)
	}
	content[10] ^= 1
	mustWrite(t, filepath.Join(dir, "content.bin"), content)
	out, err = exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", filepath.Join(dir, "sig.der"),
		"-content", filepath.Join(dir, "content.bin"), "-CAfile", certFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err == nil {
		t.Errorf("openssl cms -verify passed a changed byte:\n%s", out)
	}

	out, err = exec.Command("openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", filepath.Join(dir, "sig.der")).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -print: %v\n%s", err, out)
	}
	for _, want := range []string{"pkcs7-data", "messageDigest", "signingTime", "id-smime-aa-signingCertificateV2", "sha256"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("CMS lacks %s; openssl prints:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "eContent: <ABSENT>") == false {
		t.Errorf("CMS is not detached (eContent present)")
	}
	// The ESS certificate hash is the signer's certificate's SHA-256.
	sum := sha256.Sum256(s.Chain[0].Raw)
	if !strings.Contains(strings.ReplaceAll(strings.ToLower(string(out)), " ", ""), hex.EncodeToString(sum[:4])) {
		t.Errorf("signing-certificate-v2 does not carry the certificate hash %x…", sum[:4])
	}
}

func mustWrite(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestSignEmbedsTimestamp feeds the hook a token from openssl's TSA and
// checks that the token sits in the CMS as the signature-time-stamp
// attribute and that openssl ts -verify accepts it for the signature value.
func TestSignEmbedsTimestamp(t *testing.T) {
	mustTool(t, "openssl")
	tsa := newLocalTSA(t)
	orig := mustReport(t)
	s, _ := mustSigner(t)
	var asked []byte
	s.Timestamp = func(ctx context.Context, digest []byte) ([]byte, error) {
		asked = digest
		return tsa.token(t, digest), nil
	}
	signed, err := s.Sign(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	out := pdfsig(t, signed)
	wantLine(t, out, "Signature Validation: Signature is Valid.")
	wantLine(t, out, "Total document signed")

	token, sigValue := embeddedToken(t, signed)
	sum := sha256.Sum256(sigValue)
	if !bytes.Equal(asked, sum[:]) {
		t.Errorf("hook asked for %x, want the SHA-256 of the signature value %x", asked, sum)
	}
	if token == nil {
		t.Fatalf("no signature-time-stamp attribute")
	}
	if err := tsa.verify(t, token, sum[:]); err != nil {
		t.Errorf("openssl ts -verify of the embedded token: %v", err)
	}
	other := sha256.Sum256([]byte("another signature"))
	if err := tsa.verify(t, token, other[:]); err == nil {
		t.Errorf("openssl ts -verify accepted the token for another digest")
	}
}

// TestSignWithTSAClient wires the hook to the service's RFC 3161 client
// talking HTTP to a test TSA (openssl ts -reply), as serve does.
func TestSignWithTSAClient(t *testing.T) {
	tsa := tsatest.Start(t)
	roots, err := timestamp.LoadRoots(tsa.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := timestamp.NewClient(timestamp.Config{URL: tsa.URL, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := mustSigner(t)
	s.Timestamp = func(ctx context.Context, digest []byte) ([]byte, error) {
		tok, err := c.Timestamp(ctx, digest)
		return tok.DER, err
	}
	signed, err := s.Sign(context.Background(), mustReport(t))
	if err != nil {
		t.Fatal(err)
	}
	wantLine(t, pdfsig(t, signed), "Signature Validation: Signature is Valid.")
	token, sigValue := embeddedToken(t, signed)
	sum := sha256.Sum256(sigValue)
	info, err := timestamp.Verify(token, sum[:], roots)
	if err != nil {
		t.Fatalf("embedded token: %v", err)
	}
	if d := time.Since(info.GenTime); d < -time.Minute || d > time.Minute {
		t.Errorf("token time %v is %v from now, want within a minute", info.GenTime, d)
	}
	if got := tsa.Requests(); got != 1 {
		t.Errorf("TSA answered %d requests, want 1", got)
	}
}

// embeddedToken is the signature-time-stamp token of the last signature in
// pdf and the signature value it covers.
func embeddedToken(tb testing.TB, pdf []byte) (token, sigValue []byte) {
	tb.Helper()
	_, _, _, der := signedParts(tb, pdf)
	p7, err := pkcs7.Parse(der)
	if err != nil {
		tb.Fatalf("parse CMS: %v", err)
	}
	if len(p7.Signers) != 1 {
		tb.Fatalf("got %d signers, want 1", len(p7.Signers))
	}
	si := p7.Signers[0]
	for _, a := range si.UnauthenticatedAttributes {
		if a.Type.Equal(oidTimeStampToken) {
			var set []asn1.RawValue
			if _, err := asn1.UnmarshalWithParams(a.Value.FullBytes, &set, "set"); err != nil || len(set) != 1 {
				tb.Fatalf("time-stamp attribute value: %v (%d values)", err, len(set))
			}
			token = set[0].FullBytes
		}
	}
	return token, si.EncryptedDigest
}

func TestSignWithoutTokenWhenHookSaysSo(t *testing.T) {
	s, _ := mustSigner(t)
	called := 0
	s.Timestamp = func(context.Context, []byte) ([]byte, error) { called++; return nil, nil }
	signed, err := s.Sign(context.Background(), mustReport(t))
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Errorf("hook called %d times, want 1", called)
	}
	wantLine(t, pdfsig(t, signed), "Signature Validation: Signature is Valid.")
	if tok, _ := embeddedToken(t, signed); tok != nil {
		t.Errorf("got a %d-byte token, want none", len(tok))
	}
}

func TestSignTimestampFailureFailsSign(t *testing.T) {
	s, _ := mustSigner(t)
	down := errors.New("TSA unreachable")
	s.Timestamp = func(context.Context, []byte) ([]byte, error) { return nil, down }
	_, err := s.Sign(context.Background(), mustReport(t))
	if !errors.Is(err, down) {
		t.Fatalf("got %v, want an error wrapping %v", err, down)
	}
}

// localTSA is openssl ts -reply with a throwaway CA, run per query.
type localTSA struct{ dir string }

func newLocalTSA(tb testing.TB) *localTSA {
	tb.Helper()
	dir := tb.TempDir()
	cnf := fmt.Sprintf(`[ req ]
distinguished_name = dn
[ dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign
[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = %[1]s/serial
signer_digest = sha256
default_policy = 1.3.6.1.4.1.59999.1.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
`, dir)
	mustWrite(tb, filepath.Join(dir, "openssl.cnf"), []byte(cnf))
	mustWrite(tb, filepath.Join(dir, "serial"), []byte("01\n"))
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test TSA CA", "-config", "openssl.cnf", "-extensions", "ca_ext"},
		{"req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA", "-config", "openssl.cnf"},
		{"x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.pem", "-days", "2", "-extfile", "openssl.cnf", "-extensions", "tsa_ext"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	return &localTSA{dir: dir}
}

// token is a TimeStampToken over digest.
func (t *localTSA) token(tb testing.TB, digest []byte) []byte {
	tb.Helper()
	for _, args := range [][]string{
		{"ts", "-query", "-digest", hex.EncodeToString(digest), "-sha256", "-cert", "-out", "q.tsq"},
		{"ts", "-reply", "-config", "openssl.cnf", "-queryfile", "q.tsq", "-signer", "tsa.pem", "-inkey", "tsa.key", "-token_out", "-out", "token.der"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = t.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	tok, err := os.ReadFile(filepath.Join(t.dir, "token.der"))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// verify runs openssl ts -verify on token for digest against the test CA.
func (t *localTSA) verify(tb testing.TB, token, digest []byte) error {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "embedded.der")
	mustWrite(tb, path, token)
	cmd := exec.Command("openssl", "ts", "-verify", "-digest", hex.EncodeToString(digest), "-token_in", "-in", path,
		"-CAfile", "ca.pem", "-untrusted", "tsa.pem")
	cmd.Dir = t.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	if !strings.Contains(string(out), "Verification: OK") {
		return fmt.Errorf("no OK: %s", out)
	}
	return nil
}

func TestLoadPEMRejectsForeignKey(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, _, err := DemoPair(a, "A"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DemoPair(b, "B"); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadPEM(filepath.Join(a, DemoKeyFile), filepath.Join(b, DemoCertFile))
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("got %v, want a key-does-not-belong error", err)
	}
}

func TestDemoPairIsKept(t *testing.T) {
	dir := t.TempDir()
	_, first, err := DemoPair(dir, "Binhai")
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := DemoPair(dir, "Binhai")
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].Equal(again[0]) {
		t.Errorf("second DemoPair made a new certificate (serial %x, want %x)", again[0].SerialNumber, first[0].SerialNumber)
	}
	fi, err := os.Stat(filepath.Join(dir, DemoKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("demo key mode %v, want 0600", fi.Mode().Perm())
	}
	blk, _ := pem.Decode(mustRead(t, filepath.Join(dir, DemoCertFile)))
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("demo certificate key usage %v lacks digitalSignature", c.KeyUsage)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// minimalPDF is a one-page PDF with a classic cross-reference table whose
// page keeps /Annots and whose catalog keeps /AcroForm in objects of their
// own, holding one text field already: the update must rewrite those
// objects rather than the dictionaries that point at them.
func minimalPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R /AcroForm 5 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Annots 6 0 R /Resources << >> >>",
		"<< /Length 35 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hi) Tj ET\nendstream",
		"<< /Fields 7 0 R /DA (/Helv 0 Tf 0 g) >>",
		"[8 0 R]",
		"[8 0 R]",
		"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Name\\051) /V (a \\(b\\) c) /Rect [10 10 100 30] /P 3 0 R >>",
	}
	return pdftest.PDF(objs, " /ID [<0102> <0102>]")
}

func TestSignKeepsExistingFormAndAnnotations(t *testing.T) {
	s, _ := mustSigner(t)
	signed, err := s.Sign(context.Background(), minimalPDF())
	if err != nil {
		t.Fatal(err)
	}
	out := pdfsig(t, signed)
	wantLine(t, out, "Signature Validation: Signature is Valid.")
	wantLine(t, out, "Total document signed")
	tail := string(signed[len(minimalPDF()):])
	for _, want := range []string{"6 0 obj\n[8 0 R 10 0 R]", "7 0 obj\n[8 0 R 10 0 R]", "5 0 obj\n<< /Fields 7 0 R /DA (/Helv 0 Tf 0 g) /SigFlags 3 >>", "/ID [<0102> <0102>]"} {
		if !strings.Contains(tail, want) {
			t.Errorf("update lacks %q:\n%s", want, tail[strings.Index(tail, "endobj"):])
		}
	}
	// A second signature over the first: both listed, the newest covers all.
	twice, err := s.Sign(context.Background(), signed)
	if err != nil {
		t.Fatal(err)
	}
	out = pdfsig(t, twice)
	if n := strings.Count(out, "Signature is Valid."); n != 2 {
		t.Errorf("got %d valid signatures, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, "Total document signed"); n != 1 {
		t.Errorf("got %d signatures covering the whole file, want 1 (the newest):\n%s", n, out)
	}
}

func TestSignRefusesCrossReferenceStream(t *testing.T) {
	s, _ := mustSigner(t)
	pdf := []byte("%PDF-1.7\n1 0 obj\n<< /Type /XRef /Size 2 /W [1 2 1] >>\nstream\n\nendstream\nendobj\nstartxref\n9\n%%EOF\n")
	_, err := s.Sign(context.Background(), pdf)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v, want ErrUnsupported", err)
	}
}

func TestSignRejectsGarbage(t *testing.T) {
	s, _ := mustSigner(t)
	for _, in := range []string{"", "not a PDF", "%PDF-1.7\nstartxref\n999999\n%%EOF", "%PDF-1.7\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 >>\nstartxref\n9\n%%EOF"} {
		if _, err := s.Sign(context.Background(), []byte(in)); err == nil {
			t.Errorf("Sign(%q) succeeded, want an error", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(minimalPDF())
	f.Add([]byte("%PDF-1.7\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 /Root 1 0 R /Prev 9 >>\nstartxref\n9\n%%EOF"))
	f.Fuzz(func(t *testing.T, pdf []byte) {
		fl, err := parse(pdf)
		if err != nil {
			return
		}
		if r, ok := fl.trailer.get("Root").(ref); ok {
			if c, err := fl.dictAt(r, "catalog"); err == nil {
				_, _, _ = fl.firstPage(c)
			}
		}
	})
}
