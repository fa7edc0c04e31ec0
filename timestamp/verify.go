package timestamp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/digitorus/pkcs7"
	dts "github.com/digitorus/timestamp"
)

// Info is what a verified token says.
type Info struct {
	// GenTime is the time the TSA vouches for (TSTInfo genTime).
	GenTime time.Time
	// Serial is the TSA's serial number of the token.
	Serial *big.Int
	// Policy is the TSA policy the token was issued under.
	Policy asn1.ObjectIdentifier
	// Signer is the TSA certificate that signed the token.
	Signer *x509.Certificate
}

// idExtKeyUsage is the extendedKeyUsage extension (RFC 5280 §4.2.1.12).
var idExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// Verify checks that token is a time-stamp token over digest (a SHA-256
// sum) signed by a TSA whose certificate chains to roots. It checks the CMS
// signature, the chain at the token's genTime (the TSA certificate may have
// expired since; what matters is that it was valid when it signed), that the
// signer is an end-entity certificate whose only extended key usage is a
// critical timeStamping (RFC 3161 §2.3), and that the message imprint is
// SHA-256 over digest. It returns ErrMalformed, ErrUntrusted or ErrMismatch.
func Verify(token, digest []byte, roots *x509.CertPool) (Info, error) {
	if roots == nil {
		return Info{}, fmt.Errorf("%w: no TSA CA configured", ErrUntrusted)
	}
	p7, ts, signer, err := parseSigned(token)
	if err != nil {
		return Info{}, err
	}
	intermediates := x509.NewCertPool()
	for _, c := range p7.Certificates {
		intermediates.AddCert(c)
	}
	err = p7.VerifyWithOpts(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
		CurrentTime:   ts.Time,
	})
	if err != nil {
		return Info{}, fmt.Errorf("%w: signer %q: %w", ErrUntrusted, signer.Subject.CommonName, err)
	}
	if err := checkTSACert(signer); err != nil {
		return Info{}, fmt.Errorf("%w: signer %q: %w", ErrUntrusted, signer.Subject.CommonName, err)
	}
	return checkImprint(ts, signer, digest)
}

// VerifyIntegrity is Verify without deciding who signed: it checks the CMS
// signature by the certificate the token carries and that the imprint is
// SHA-256 over digest, so it catches a token or a digest changed since,
// but anyone can make a token that passes it. Only Verify, with the TSA's
// CA, shows that a trusted TSA vouches for the time.
func VerifyIntegrity(token, digest []byte) (Info, error) {
	_, ts, signer, err := parseSigned(token)
	if err != nil {
		return Info{}, err
	}
	return checkImprint(ts, signer, digest)
}

// parseSigned decodes a token that carries its signer's certificate and
// checks its signature by that certificate.
func parseSigned(token []byte) (*pkcs7.PKCS7, *dts.Timestamp, *x509.Certificate, error) {
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(p7.Certificates) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: the token carries no TSA certificate", ErrUntrusted)
	}
	// The signature alone first (no chain yet: that is checked at genTime,
	// which is inside the signed content), so that a forged or damaged
	// signature reads as untrusted and only an undecodable TSTInfo as
	// malformed.
	if err := p7.Verify(); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	ts, err := dts.Parse(token)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, nil, nil, fmt.Errorf("%w: want exactly one signer with its certificate in the token", ErrUntrusted)
	}
	return p7, ts, signer, nil
}

func checkImprint(ts *dts.Timestamp, signer *x509.Certificate, digest []byte) (Info, error) {
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest) {
		return Info{}, fmt.Errorf("%w: token imprint %s %x, want SHA-256 %x", ErrMismatch, ts.HashAlgorithm, ts.HashedMessage, digest)
	}
	return Info{GenTime: ts.Time, Serial: ts.SerialNumber, Policy: ts.Policy, Signer: signer}, nil
}

// checkTSACert applies RFC 3161 §2.3: the TSA's certificate is an end-entity
// certificate with exactly one extended key usage, id-kp-timeStamping, and
// that extension is critical.
func checkTSACert(c *x509.Certificate) error {
	if c.IsCA {
		return errors.New("a CA certificate may not sign time-stamps")
	}
	critical := false
	for _, ext := range c.Extensions {
		if ext.Id.Equal(idExtKeyUsage) {
			critical = ext.Critical
		}
	}
	if !critical {
		return errors.New("the extendedKeyUsage extension is not critical")
	}
	if len(c.ExtKeyUsage) != 1 || len(c.UnknownExtKeyUsage) != 0 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		return errors.New("the only extended key usage must be timeStamping")
	}
	return nil
}

// LoadRoots reads the PEM certificates in path (the --tsa-ca file) into a
// pool.
func LoadRoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TSA CA: %w", err)
	}
	pool, err := ParseRoots(data)
	if err != nil {
		return nil, fmt.Errorf("TSA CA %s: %w", path, err)
	}
	return pool, nil
}

// ParseRoots returns a pool of the PEM CERTIFICATE blocks in data; it fails
// if there is none or one does not parse.
func ParseRoots(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}
