package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"siteinspect/domain"
	"siteinspect/timestamp"
)

// tsaFlags choose the RFC 3161 time-stamping authority (TSA) that vouches
// for when originals, recordings and the audit chain's head existed.
type tsaFlags struct {
	url, ca        string
	timeout, retry string
}

func (f *tsaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "tsa-url", "", "RFC 3161 time-stamping authority URL; with it every original, recording, decision and countersign gets a token (obtained in the background: a TSA outage blocks nothing)")
	fs.StringVar(&f.ca, "tsa-ca", "", "PEM file of the CA certificates the TSA's certificate must chain to (required with --tsa-url)")
	fs.StringVar(&f.timeout, "tsa-timeout", "15s", "longest wait for one answer from the TSA; a slower TSA counts as down and is tried again")
	fs.StringVar(&f.retry, "tsa-retry", "10s", "wait before a failed time-stamp is tried again; it doubles with each attempt, up to 10m")
}

// client returns the TSA client the flags describe, and the first wait
// before a retry; a nil client when --tsa-url is empty.
func (f *tsaFlags) client() (*timestamp.Client, time.Duration, error) {
	if f.url == "" {
		if f.ca != "" {
			return nil, 0, errors.New("--tsa-ca without --tsa-url")
		}
		return nil, 0, nil
	}
	if f.ca == "" {
		return nil, 0, errors.New("--tsa-url needs --tsa-ca: tokens are checked against the TSA's CA when they arrive")
	}
	to, err1 := parseDuration(f.timeout)
	retry, err2 := parseDuration(f.retry)
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, err
	}
	roots, err := timestamp.LoadRoots(f.ca)
	if err != nil {
		return nil, 0, fmt.Errorf("--tsa-ca: %w", err)
	}
	c, err := timestamp.NewClient(timestamp.Config{URL: f.url, Roots: roots, Timeout: to})
	if err != nil {
		return nil, 0, fmt.Errorf("--tsa-url: %w", err)
	}
	return c, retry, nil
}

// timestampLister is what verifyTimestamps reads.
type timestampLister interface {
	AllTimestamps(ctx context.Context) ([]*domain.Timestamp, error)
}

// verifyTimestamps checks every stored token: that what it names still has
// the digest it was obtained over (the evidence's SHA-256, the audit
// event's hash), and that the token is a valid signature by a TSA chaining
// to roots over that digest (without roots, by the certificate the token
// carries: that catches changes, not a forged token). It prints each
// failure and the counts, and returns an error naming the first token that
// fails. Pending and failed requests are counted, not errors: a TSA outage
// is not tampering.
func verifyTimestamps(ctx context.Context, db timestampLister, roots *x509.CertPool, stdout io.Writer) error {
	all, err := db.AllTimestamps(ctx)
	if err != nil {
		return err
	}
	var verified, pending, failed int
	var bad []string
	for _, ts := range all {
		switch ts.State {
		case domain.TimestampPending:
			pending++
			continue
		case domain.TimestampFailed:
			failed++
			continue
		}
		if err := checkTimestamp(ts, roots); err != nil {
			bad = append(bad, err.Error())
			fmt.Fprintln(stdout, "FAIL", err)
			continue
		}
		verified++
	}
	note := ""
	if roots == nil && verified+len(bad) > 0 {
		note = " (their signers not checked: give --tsa-ca)"
	}
	fmt.Fprintf(stdout, "time-stamps: %d verified, %d pending, %d failed%s\n", verified, pending, failed, note)
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d time-stamp tokens do not verify; the first: %s", len(bad), verified+len(bad), bad[0])
	}
	return nil
}

// checkTimestamp verifies one obtained token against what it covers, and
// against roots when given.
func checkTimestamp(ts *domain.Timestamp, roots *x509.CertPool) error {
	name := ts.Describe()
	switch {
	case ts.Covered == "":
		return fmt.Errorf("%s: what it covers is no longer in the database", name)
	case ts.Covered != ts.Digest:
		return fmt.Errorf("%s: was obtained over %s, but what it covers now hashes to %s", name, ts.Digest, ts.Covered)
	}
	digest, err := hex.DecodeString(ts.Digest)
	if err != nil {
		return fmt.Errorf("%s: digest %q is not hex", name, ts.Digest)
	}
	verify := func(token, digest []byte) (timestamp.Info, error) { return timestamp.Verify(token, digest, roots) }
	if roots == nil {
		verify = timestamp.VerifyIntegrity
	}
	info, err := verify(ts.Token, digest)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ts.GenTime != nil && !info.GenTime.Equal(*ts.GenTime) {
		return fmt.Errorf("%s: the token says %s, the record %s", name, info.GenTime.UTC().Format(time.RFC3339), ts.GenTime.Format(time.RFC3339))
	}
	return nil
}
