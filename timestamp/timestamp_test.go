package timestamp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dts "github.com/digitorus/timestamp"

	"siteinspect/internal/tsatest"
	"siteinspect/timestamp"
)

func mustClient(tb testing.TB, url string, roots *x509.CertPool, timeout time.Duration) *timestamp.Client {
	tb.Helper()
	c, err := timestamp.NewClient(timestamp.Config{URL: url, Roots: roots, Timeout: timeout})
	if err != nil {
		tb.Fatalf("NewClient(%q): %v", url, err)
	}
	return c
}

func mustRoots(tb testing.TB, tsa *tsatest.TSA) *x509.CertPool {
	tb.Helper()
	roots, err := timestamp.LoadRoots(tsa.CAFile)
	if err != nil {
		tb.Fatalf("LoadRoots: %v", err)
	}
	return roots
}

func digestOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func mustToken(tb testing.TB, c *timestamp.Client, digest []byte) timestamp.Token {
	tb.Helper()
	tok, err := c.Timestamp(context.Background(), digest)
	if err != nil {
		tb.Fatalf("Timestamp: %v", err)
	}
	return tok
}

// TestObtainAndVerify gets a token from openssl's TSA, verifies it with our
// Verify, and has openssl verify it too, as an outsider would.
func TestObtainAndVerify(t *testing.T) {
	tsa := tsatest.Start(t)
	roots := mustRoots(t, tsa)
	c := mustClient(t, tsa.URL, roots, 0)
	digest := digestOf("original.mp4 bytes")

	before := time.Now().Add(-2 * time.Second)
	tok := mustToken(t, c, digest)
	after := time.Now().Add(2 * time.Second)
	if tok.GenTime.Before(before) || tok.GenTime.After(after) {
		t.Errorf("GenTime = %s, want between %s and %s", tok.GenTime, before, after)
	}
	if got := tsa.Requests(); got != 1 {
		t.Errorf("TSA answered %d queries, want 1", got)
	}

	info, err := timestamp.Verify(tok.DER, digest, roots)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !info.GenTime.Equal(tok.GenTime) {
		t.Errorf("Verify GenTime = %s, want %s", info.GenTime, tok.GenTime)
	}
	if info.Serial.Cmp(tok.Serial) != 0 {
		t.Errorf("Verify Serial = %v, want %v", info.Serial, tok.Serial)
	}
	if got, want := info.Signer.Subject.CommonName, "Test TSA"; got != want {
		t.Errorf("signer CN = %q, want %q", got, want)
	}

	// The token alone (certReq=true put the TSA certificate in it) must
	// satisfy openssl against the CA file: what an outsider would run.
	tokFile := filepath.Join(t.TempDir(), "token.der")
	if err := os.WriteFile(tokFile, tok.DER, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "ts", "-verify", "-token_in", "-in", tokFile,
		"-digest", hex.EncodeToString(digest), "-CAfile", tsa.CAFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Errorf("openssl ts -verify: err %v, output %q, want Verification: OK", err, out)
	}
}

// TestVerifyRefuses checks each way a stored token can fail: another
// digest, another CA, a damaged token.
func TestVerifyRefuses(t *testing.T) {
	tsa := tsatest.Start(t)
	other := tsatest.Start(t) // an independent CA and TSA
	roots := mustRoots(t, tsa)
	digest := digestOf("audit head 42")
	tok := mustToken(t, mustClient(t, tsa.URL, roots, 0), digest)

	if _, err := timestamp.Verify(tok.DER, digestOf("audit head 43"), roots); !errors.Is(err, timestamp.ErrMismatch) {
		t.Errorf("Verify over another digest: got %v, want ErrMismatch", err)
	}
	if _, err := timestamp.Verify(tok.DER, digest, mustRoots(t, other)); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("Verify against another CA: got %v, want ErrUntrusted", err)
	}
	if _, err := timestamp.Verify(tok.DER, digest, nil); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("Verify with no CA: got %v, want ErrUntrusted", err)
	}
	if _, err := timestamp.Verify([]byte("not a token"), digest, roots); !errors.Is(err, timestamp.ErrMalformed) {
		t.Errorf("Verify of garbage: got %v, want ErrMalformed", err)
	}

	// Change the signed genTime (its year, as it appears in the DER):
	// the content no longer matches the signed message digest.
	year := []byte(tok.GenTime.UTC().Format("20060102150405"))
	i := bytes.Index(tok.DER, year)
	if i < 0 {
		t.Fatalf("genTime %s not found in the token", year)
	}
	forged := bytes.Clone(tok.DER)
	forged[i+3]++ // 2026 → 2027
	if _, err := timestamp.Verify(forged, digest, roots); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("Verify of a token with a changed genTime: got %v, want ErrUntrusted", err)
	}

	// The signature value is the token's last bytes for an ECDSA signer
	// without unsigned attributes; flip one inside it.
	forged = bytes.Clone(tok.DER)
	forged[len(forged)-5] ^= 0x01
	if _, err := timestamp.Verify(forged, digest, roots); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("Verify of a token with a flipped signature bit: got %v, want ErrUntrusted", err)
	}

	// Without a CA only the token's integrity can be checked: a genuine
	// token passes, a changed digest or token does not.
	if info, err := timestamp.VerifyIntegrity(tok.DER, digest); err != nil || !info.GenTime.Equal(tok.GenTime) {
		t.Errorf("VerifyIntegrity: got %v, %v; want genTime %s", info.GenTime, err, tok.GenTime)
	}
	if _, err := timestamp.VerifyIntegrity(tok.DER, digestOf("audit head 43")); !errors.Is(err, timestamp.ErrMismatch) {
		t.Errorf("VerifyIntegrity over another digest: got %v, want ErrMismatch", err)
	}
	if _, err := timestamp.VerifyIntegrity(forged, digest); !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("VerifyIntegrity of a token with a flipped signature bit: got %v, want ErrUntrusted", err)
	}

	// A client configured with the other CA refuses what the TSA gives it.
	_, err := mustClient(t, tsa.URL, mustRoots(t, other), 0).Timestamp(context.Background(), digest)
	if !errors.Is(err, timestamp.ErrInvalidResponse) || !errors.Is(err, timestamp.ErrUntrusted) {
		t.Errorf("Timestamp with the wrong CA configured: got %v, want ErrInvalidResponse wrapping ErrUntrusted", err)
	}
}

// TestTSAOutage stops the TSA, expects a retryable error, and gets a token
// again once it is back on the same port.
func TestTSAOutage(t *testing.T) {
	tsa := tsatest.Start(t)
	roots := mustRoots(t, tsa)
	c := mustClient(t, tsa.URL, roots, 2*time.Second)
	digest := digestOf("recording.webm")
	mustToken(t, c, digest)

	tsa.Stop()
	start := time.Now()
	_, err := c.Timestamp(context.Background(), digest)
	if !errors.Is(err, timestamp.ErrUnavailable) {
		t.Fatalf("Timestamp with the TSA down: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused connection took %s to report, want under the 2s timeout", d)
	}

	tsa.Restart(t)
	tok := mustToken(t, c, digest)
	if _, err := timestamp.Verify(tok.DER, digest, roots); err != nil {
		t.Errorf("Verify after restart: %v", err)
	}
	if got := tsa.Requests(); got != 2 {
		t.Errorf("TSA answered %d queries, want 2", got)
	}
}

// TestTSAAnswers covers answers a real TSA gives rarely or never on demand:
// a 503, a slow reply, a refusal, garbage, and a replayed response.
func TestTSAAnswers(t *testing.T) {
	tsa := tsatest.Start(t)
	roots := mustRoots(t, tsa)
	digest := digestOf("evidence")

	// A genuine response to an earlier query for the same digest: a replay
	// must fail on the nonce, and for another digest on the imprint.
	q, err := (&dts.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: true, Nonce: nil}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(tsa.URL, "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("direct query: status %d, err %v", resp.StatusCode, err)
	}
	refusal, err := dts.CreateErrorResponse(dts.Rejection, dts.BadAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := dts.CreateErrorResponse(dts.Rejection, dts.SystemFailure)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		handler http.HandlerFunc
		digest  []byte
		want    error
	}{
		{"503", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}, digest, timestamp.ErrUnavailable},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			// Read the query so the server notices when the client hangs up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, digest, timestamp.ErrUnavailable},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, digest, timestamp.ErrRejected},
		{"refused", reply(refusal), digest, timestamp.ErrRejected},
		{"system failure", reply(busy), digest, timestamp.ErrUnavailable},
		{"garbage", reply([]byte("<html>captive portal</html>")), digest, timestamp.ErrInvalidResponse},
		{"replay same digest", reply(replayed), digest, timestamp.ErrInvalidResponse},
		{"replay other digest", reply(replayed), digestOf("other"), timestamp.ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := mustClient(t, srv.URL, roots, 500*time.Millisecond)
			tok, err := c.Timestamp(context.Background(), tt.digest)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got token %d bytes, err %v; want %v", len(tok.DER), err, tt.want)
			}
		})
	}
}

func reply(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(body)
	}
}

func TestNewClientAndRoots(t *testing.T) {
	for _, u := range []string{"", "ftp://tsa.example/", "tsa.example/tsr", "http://"} {
		if _, err := timestamp.NewClient(timestamp.Config{URL: u}); err == nil {
			t.Errorf("NewClient(%q): got no error, want one", u)
		}
	}
	c := mustClient(t, "https://tsa.example/tsr", nil, 0)
	if _, err := c.Timestamp(context.Background(), []byte("short")); err == nil || errors.Is(err, timestamp.ErrUnavailable) {
		t.Errorf("Timestamp of a 5-byte digest: got %v, want a non-retryable error", err)
	}
	if _, err := timestamp.ParseRoots([]byte("no pem here")); err == nil {
		t.Errorf("ParseRoots of no PEM: got no error, want one")
	}
}

// TestVerifySignerCertificate signs tokens with certificates made here, to
// check RFC 3161 §2.3 on the signer: its extendedKeyUsage must be critical
// and name timeStamping alone. The first case, which must pass, shows the
// others fail for that reason only.
func TestVerifySignerCertificate(t *testing.T) {
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Go test TSA root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	ekuExt := func(critical bool, oids ...asn1.ObjectIdentifier) pkix.Extension {
		v, err := asn1.Marshal(oids)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: critical, Value: v}
	}
	idKPTimeStamping := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	idKPServerAuth := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	tests := []struct {
		name string
		eku  pkix.Extension
		ok   bool
	}{
		{"critical timeStamping", ekuExt(true, idKPTimeStamping), true},
		{"non-critical timeStamping", ekuExt(false, idKPTimeStamping), false},
		{"timeStamping and serverAuth", ekuExt(true, idKPTimeStamping, idKPServerAuth), false},
	}
	digest := digestOf("signed by a Go-made TSA")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := mustKey(t)
			tmpl := &x509.Certificate{
				SerialNumber:    big.NewInt(int64(10 + i)),
				Subject:         pkix.Name{CommonName: "Go test TSA"},
				NotBefore:       time.Now().Add(-time.Hour),
				NotAfter:        time.Now().Add(time.Hour),
				KeyUsage:        x509.KeyUsageDigitalSignature,
				ExtraExtensions: []pkix.Extension{tt.eku},
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			ts := &dts.Timestamp{
				HashAlgorithm:     crypto.SHA256,
				HashedMessage:     digest,
				Time:              time.Now().Truncate(time.Second),
				Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 1, 1},
				AddTSACertificate: true,
			}
			resp, err := ts.CreateResponse(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := dts.ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			_, err = timestamp.Verify(parsed.RawToken, digest, roots)
			if tt.ok && err != nil {
				t.Errorf("Verify: got %v, want success", err)
			}
			if !tt.ok && !errors.Is(err, timestamp.ErrUntrusted) {
				t.Errorf("Verify: got %v, want ErrUntrusted", err)
			}
		})
	}
}

func mustKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
