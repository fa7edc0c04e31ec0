// Package timestamp obtains and verifies RFC 3161 time-stamp tokens: a
// time-stamping authority (TSA) signs a SHA-256 digest together with the time
// it saw it, so anyone holding the TSA's CA certificate can later show that
// the hashed data existed then, without trusting our own database.
//
// The ASN.1 and CMS work is done by github.com/digitorus/timestamp and
// github.com/digitorus/pkcs7, the libraries sigstore's timestamp-authority
// verification is built on. Sigstore's own VerifyTimestampResponse hashes
// the artifact itself; we hold only the digest of a multi-gigabyte original,
// so Verify applies the same checks (CMS signature, chain to the configured
// roots at genTime, the TSA certificate's critical timeStamping EKU, the
// message imprint) on the digest directly.
package timestamp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	dts "github.com/digitorus/timestamp"
)

// Errors a caller can tell apart with errors.Is.
var (
	// ErrUnavailable means the TSA could not be reached or asked us to come
	// back later (connection refused, timeout, HTTP 5xx or 429, PKIStatus
	// waiting, failInfo timeNotAvailable or systemFailure). The request is
	// worth retrying unchanged.
	ErrUnavailable = errors.New("time-stamping authority unavailable")
	// ErrRejected means the TSA answered and refused the request for a reason
	// a retry will not change (bad algorithm, bad request, unaccepted policy).
	ErrRejected = errors.New("time-stamping authority rejected the request")
	// ErrInvalidResponse means the TSA answered with something that is not a
	// usable response to our request: not DER, a token over another digest,
	// a different nonce, or a token that does not verify.
	ErrInvalidResponse = errors.New("invalid time-stamp response")
	// ErrMalformed means a stored token cannot be parsed as a time-stamp
	// token at all.
	ErrMalformed = errors.New("malformed time-stamp token")
	// ErrMismatch means the token is genuine but covers another digest.
	ErrMismatch = errors.New("time-stamp token covers a different digest")
	// ErrUntrusted means the token's signature or its signer does not check
	// out against the configured TSA CA: a bad signature, a chain that does
	// not reach the roots, or a signer certificate not fit for time-stamping
	// (RFC 3161 §2.3).
	ErrUntrusted = errors.New("time-stamp token not signed by a trusted time-stamping authority")
)

// maxResponse bounds what we read from a TSA; real responses with a
// certificate chain are a few kilobytes.
const maxResponse = 1 << 20

// DefaultTimeout is the time a Client waits for one TSA round trip when its
// Config leaves Timeout zero.
const DefaultTimeout = 15 * time.Second

// Token is a time-stamp token as obtained from a TSA.
type Token struct {
	// DER is the TimeStampToken (a CMS ContentInfo holding SignedData over a
	// TSTInfo, RFC 3161 §2.4.2), the thing to store and to hand to an
	// outsider: `openssl ts -verify -token_in -in token.der -digest HEX
	// -CAfile ca.pem` checks it.
	DER []byte
	// GenTime is the time the TSA says it signed the token (TSTInfo genTime).
	GenTime time.Time
	// Serial is the TSA's serial number of the token.
	Serial *big.Int
}

// Config is what a Client needs.
type Config struct {
	// URL is the TSA's RFC 3161 HTTP endpoint (RFC 3161 §3.4: a POST of
	// application/timestamp-query answered by application/timestamp-reply).
	URL string
	// Roots, when set, are the CA certificates the TSA's certificate must
	// chain to; every obtained token is verified against them before it is
	// returned, so a misconfigured TSA or CA is noticed when the token is
	// obtained rather than when it is needed in court. Nil skips that check
	// (tokens are still checked for imprint and nonce).
	Roots *x509.CertPool
	// Timeout bounds one round trip; zero means DefaultTimeout. A TSA that is
	// slow is treated like one that is down: the error is ErrUnavailable.
	Timeout time.Duration
	// HTTPClient is the client to use; nil means a fresh one.
	HTTPClient *http.Client
}

// Client obtains time-stamp tokens from one TSA. It is safe for concurrent
// use.
type Client struct {
	url     string
	roots   *x509.CertPool
	timeout time.Duration
	http    *http.Client
}

// NewClient returns a Client for cfg, or an error if the URL is not an
// absolute http or https URL.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("TSA URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("TSA URL %q: want an http or https URL", cfg.URL)
	}
	c := &Client{url: cfg.URL, roots: cfg.Roots, timeout: cfg.Timeout, http: cfg.HTTPClient}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return c, nil
}

// URL returns the TSA endpoint the client talks to.
func (c *Client) URL() string { return c.url }

// Timestamp asks the TSA for a token over digest, a SHA-256 sum. The request
// carries a random nonce and certReq=true (RFC 3161 §2.4.1), so the token
// holds the TSA certificate and can be verified on its own later. It returns
// ErrUnavailable (worth retrying) when the TSA cannot be reached, ErrRejected
// when it refuses, and ErrInvalidResponse when the answer does not match the
// request or does not verify against the configured roots.
func (c *Client) Timestamp(ctx context.Context, digest []byte) (Token, error) {
	if len(digest) != sha256.Size {
		return Token{}, fmt.Errorf("time-stamp request: digest is %d bytes, want a %d-byte SHA-256", len(digest), sha256.Size)
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return Token{}, fmt.Errorf("time-stamp request nonce: %w", err)
	}
	req := dts.Request{
		HashAlgorithm: crypto.SHA256,
		HashedMessage: digest,
		Certificates:  true,
		Nonce:         nonce,
	}
	query, err := req.Marshal()
	if err != nil {
		return Token{}, fmt.Errorf("encode time-stamp request: %w", err)
	}
	body, err := c.post(ctx, query)
	if err != nil {
		return Token{}, err
	}
	der, err := grantedToken(body)
	if err != nil {
		return Token{}, err
	}
	ts, err := dts.Parse(der)
	if err != nil {
		return Token{}, fmt.Errorf("%w from %s: parse token: %w", ErrInvalidResponse, c.url, err)
	}
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest) {
		return Token{}, fmt.Errorf("%w from %s: token imprint %s %x, want SHA-256 %x", ErrInvalidResponse, c.url, ts.HashAlgorithm, ts.HashedMessage, digest)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return Token{}, fmt.Errorf("%w from %s: token nonce %v, want %v", ErrInvalidResponse, c.url, ts.Nonce, nonce)
	}
	if c.roots != nil {
		if _, err := Verify(der, digest, c.roots); err != nil {
			return Token{}, fmt.Errorf("%w from %s: %w", ErrInvalidResponse, c.url, err)
		}
	}
	return Token{DER: der, GenTime: ts.Time, Serial: ts.SerialNumber}, nil
}

// post sends one query and returns the response body.
func (c *Client) post(ctx context.Context, query []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(query))
	if err != nil {
		return nil, fmt.Errorf("time-stamp request to %s: %w", c.url, err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	hreq.Header.Set("Accept", "application/timestamp-reply")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: post to %s: %w", ErrUnavailable, c.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read reply from %s: %w", ErrUnavailable, c.url, err)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: %s answered %s", ErrUnavailable, c.url, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %s", ErrRejected, c.url, resp.Status)
	case len(body) > maxResponse:
		return nil, fmt.Errorf("%w from %s: reply larger than %d bytes", ErrInvalidResponse, c.url, maxResponse)
	}
	return body, nil
}

// pkiStatusInfo and timeStampResp mirror RFC 3161 §2.4.2 just far enough to
// read the status and failure bits before the library parses the token; the
// library reports a refusal only as an untyped error string, and we must
// tell "come back later" from "never".
type pkiStatusInfo struct {
	Status       int
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// RFC 3161 §2.4.2 PKIStatus values and PKIFailureInfo bits we act on.
const (
	statusGranted         = 0
	statusGrantedWithMods = 1
	statusWaiting         = 3
	failTimeNotAvailable  = 14
	failSystemFailure     = 25
)

// grantedToken returns the token of a granted TimeStampResp, or the error
// the status calls for.
func grantedToken(body []byte) ([]byte, error) {
	var resp timeStampResp
	rest, err := asn1.Unmarshal(body, &resp)
	if err != nil {
		return nil, fmt.Errorf("%w: not a TimeStampResp: %w", ErrInvalidResponse, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the TimeStampResp", ErrInvalidResponse, len(rest))
	}
	st := resp.Status
	if st.Status == statusGranted || st.Status == statusGrantedWithMods {
		if len(resp.TimeStampToken.FullBytes) == 0 {
			return nil, fmt.Errorf("%w: status granted but no token", ErrInvalidResponse)
		}
		return resp.TimeStampToken.FullBytes, nil
	}
	msg := fmt.Sprintf("TSA status %d", st.Status)
	if len(st.StatusString) > 0 {
		msg += " (" + strings.Join(st.StatusString, "; ") + ")"
	}
	if st.Status == statusWaiting || st.FailInfo.At(failTimeNotAvailable) == 1 || st.FailInfo.At(failSystemFailure) == 1 {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, msg)
	}
	return nil, fmt.Errorf("%w: %s", ErrRejected, msg)
}
