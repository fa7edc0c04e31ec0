package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"siteinspect/report/pades"
	"siteinspect/timestamp"
)

// signFlags choose the key and certificate that sign every report PDF.
type signFlags struct {
	key, cert string
}

func (f *signFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.key, "sign-key", "", "PEM private key that signs report PDFs (PAdES), with --sign-cert; --demo without it makes a demo pair in DATA/signing")
	fs.StringVar(&f.cert, "sign-cert", "", "PEM certificate of --sign-key, followed by the certificates that issued it")
}

// signer is the report signer: the pair the flags name or, for a demo
// without them, the self-signed demo pair kept in DATA/signing (made on the
// first start). With neither it is nil and reports go out unsigned. The
// office's name and time zone go into the signature.
func (f *signFlags) signer(data, officeName string, demo bool, loc *time.Location, log *slog.Logger) (*pades.Signer, error) {
	var key crypto.Signer
	var chain []*x509.Certificate
	var err error
	switch {
	case f.key != "" && f.cert != "":
		key, chain, err = pades.LoadPEM(f.key, f.cert)
	case f.key != "" || f.cert != "":
		return nil, errors.New("--sign-key and --sign-cert go together")
	case demo:
		key, chain, err = pades.DemoPair(filepath.Join(data, "signing"), officeName)
	default:
		log.Warn("report PDFs are not signed: give --sign-key and --sign-cert")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now := time.Now(); now.After(chain[0].NotAfter) || now.Before(chain[0].NotBefore) {
		return nil, fmt.Errorf("report signing certificate %q is valid from %s to %s, not now",
			chain[0].Subject.CommonName, chain[0].NotBefore.Format(time.DateOnly), chain[0].NotAfter.Format(time.DateOnly))
	}
	log.Info("report PDFs are signed", "certificate", chain[0].Subject.String(), "not_after", chain[0].NotAfter)
	return &pades.Signer{
		Key: key, Chain: chain, Name: officeName, Reason: "现场踏勘检查报告 Site inspection report",
		Now: func() time.Time { return time.Now().In(loc) },
	}, nil
}

// timestampSignatures has s embed a token from the TSA in every signature.
// A TSA that fails is logged and the report signed without a token: a TSA
// outage does not stop the office issuing reports, whose hashes the audit
// chain (itself time-stamped) records anyway.
func timestampSignatures(s *pades.Signer, c *timestamp.Client, log *slog.Logger) {
	s.Timestamp = func(ctx context.Context, digest []byte) ([]byte, error) {
		// A reader waits for the report: a TSA slower than this is skipped.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tok, err := c.Timestamp(ctx, digest)
		if err != nil {
			log.Warn("report signed without a time-stamp", "tsa", c.URL(), "err", err)
			return nil, nil
		}
		return tok.DER, nil
	}
}
