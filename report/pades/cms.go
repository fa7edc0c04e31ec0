package pades

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/smallstep/pkcs7"
)

// Attribute types beyond those pkcs7 names.
var (
	// oidSigningCertificateV2 is id-aa-signingCertificateV2 (RFC 5035 §3).
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	// oidTimeStampToken is id-aa-timeStampToken, the signature-time-stamp
	// unsigned attribute (RFC 3161 Appendix A).
	oidTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
)

// signingCertificateV2 is SigningCertificateV2 (RFC 5035 §3) with one
// ESSCertIDv2 and no policies.
type signingCertificateV2 struct {
	Certs []essCertIDv2
}

// essCertIDv2 identifies a certificate by its SHA-256 hash; hashAlgorithm is
// left out because SHA-256 is its DEFAULT, which DER omits.
type essCertIDv2 struct {
	CertHash     []byte
	IssuerSerial issuerSerial
}

// issuerSerial is IssuerSerial (RFC 5035 §4): GeneralNames holding one
// directoryName ([4] EXPLICIT Name) and the serial number.
type issuerSerial struct {
	Issuer []asn1.RawValue
	Serial *big.Int
}

// essAttribute binds cert to the signature, so that it cannot be swapped for
// another certificate with the same key (RFC 5035 §1).
func essAttribute(cert *x509.Certificate) pkcs7.Attribute {
	sum := sha256.Sum256(cert.Raw)
	return pkcs7.Attribute{Type: oidSigningCertificateV2, Value: signingCertificateV2{Certs: []essCertIDv2{{
		CertHash: sum[:],
		IssuerSerial: issuerSerial{
			Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}},
			Serial: cert.SerialNumber,
		},
	}}}}
}

// cms is the detached SignedData over content, with the time-stamp token
// when s has a TSA.
func (s *Signer) cms(ctx context.Context, content []byte) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("CMS: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	cfg := pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{essAttribute(s.Chain[0])}}
	if err := sd.AddSignerChain(s.Chain[0], s.Key, s.Chain[1:], cfg); err != nil {
		return nil, fmt.Errorf("CMS signer: %w", err)
	}
	if s.Timestamp != nil {
		si := &sd.GetSignedData().SignerInfos[0]
		sum := sha256.Sum256(si.EncryptedDigest)
		token, err := s.Timestamp(ctx, sum[:])
		if err != nil {
			return nil, fmt.Errorf("time-stamp the signature: %w", err)
		}
		if token == nil { // the caller chose to go on without one
			sd.Detach()
			return finish(sd)
		}
		attr := pkcs7.Attribute{Type: oidTimeStampToken, Value: asn1.RawValue{FullBytes: token}}
		if err := si.SetUnauthenticatedAttributes([]pkcs7.Attribute{attr}); err != nil {
			return nil, fmt.Errorf("CMS time-stamp attribute: %w", err)
		}
	}
	sd.Detach()
	return finish(sd)
}

func finish(sd *pkcs7.SignedData) ([]byte, error) {
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("CMS: %w", err)
	}
	return der, nil
}
