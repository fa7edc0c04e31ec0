// Package tsatest runs a real RFC 3161 time-stamping authority for tests:
// OpenSSL's `openssl ts -reply` (code no one here wrote) behind a small HTTP
// handler, with a throwaway CA and a TSA certificate carrying the critical
// timeStamping extended key usage, all generated into the test's temp dir.
// The server can be stopped and restarted on the same port to play an
// outage.
package tsatest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TSA is a running (or stopped) test time-stamping authority.
type TSA struct {
	// URL is the TSA's endpoint; it stays the same across Stop and Start.
	URL string
	// CAFile is the PEM file of the CA that issued the TSA certificate, what
	// --tsa-ca takes.
	CAFile string
	// CA is the CA certificate.
	CA *x509.Certificate

	dir      string
	addr     string
	requests atomic.Int64

	mu  sync.Mutex // serializes openssl runs: they share the serial file
	srv *http.Server
}

// Start makes a CA and a TSA certificate in a temp dir of tb, starts the
// TSA on a free loopback port, and stops it when tb ends. It skips the test
// when openssl is not installed.
func Start(tb testing.TB) *TSA {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		tb.Skip("openssl not installed")
	}
	dir := tb.TempDir()
	t := &TSA{dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	if err := t.makeCerts(); err != nil {
		tb.Fatalf("tsatest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("tsatest: listen: %v", err)
	}
	t.addr = ln.Addr().String()
	t.URL = "http://" + t.addr + "/tsa"
	t.serve(ln)
	tb.Cleanup(t.Stop)
	return t
}

// Requests is the number of time-stamp queries the TSA has answered with a
// token.
func (t *TSA) Requests() int64 { return t.requests.Load() }

// Stop closes the listener and every open connection; a client then gets
// "connection refused". Stopping a stopped TSA does nothing.
func (t *TSA) Stop() {
	t.mu.Lock()
	srv := t.srv
	t.srv = nil
	t.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart starts a stopped TSA again on the same address, with the same CA
// and certificate.
func (t *TSA) Restart(tb testing.TB) {
	tb.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not let go of it yet.
	for range 50 {
		if ln, err = net.Listen("tcp", t.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("tsatest: listen again on %s: %v", t.addr, err)
	}
	t.serve(ln)
}

func (t *TSA) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(t.handle), ReadHeaderTimeout: 5 * time.Second}
	t.mu.Lock()
	t.srv = srv
	t.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// handle answers one RFC 3161 §3.4 query by running openssl ts -reply.
func (t *TSA) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a timestamp query", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/timestamp-query" {
		http.Error(w, "want Content-Type application/timestamp-query, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	query, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply, err := t.reply(r.Context(), query)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	t.requests.Add(1)
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(reply)
}

func (t *TSA) reply(ctx context.Context, query []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := filepath.Join(t.dir, "query.tsq")
	out := filepath.Join(t.dir, "reply.tsr")
	if err := os.WriteFile(q, query, 0o600); err != nil {
		return nil, err
	}
	_ = os.Remove(out)
	if _, err := t.openssl(ctx, "ts", "-reply", "-config", filepath.Join(t.dir, "tsa.cnf"),
		"-queryfile", q, "-inkey", t.path("tsa.key"), "-signer", t.path("tsa.pem"),
		"-chain", t.CAFile, "-out", out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func (t *TSA) path(name string) string { return filepath.Join(t.dir, name) }

func (t *TSA) openssl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Dir = t.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("openssl %s: %w: %s", args[0], err, stderr.Bytes())
	}
	return out, nil
}

// tsaConfig is the [tsa] section openssl ts -reply reads (see the
// openssl-ts manual, "CONFIGURATION FILE OPTIONS").
const tsaConfig = `[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = %s
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.59999.1.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ tsa_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

func (t *TSA) makeCerts() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cnf := t.path("tsa.cnf")
	if err := os.WriteFile(cnf, fmt.Appendf(nil, tsaConfig, t.dir), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(t.path("tsaserial"), []byte("01\n"), 0o600); err != nil {
		return err
	}
	steps := [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", t.path("ca.key"), "-out", t.CAFile, "-days", "3650",
			"-subj", "/O=siteinspect tests/CN=Test TSA Root " + filepath.Base(t.dir),
			"-addext", "basicConstraints=critical,CA:TRUE",
			"-addext", "keyUsage=critical,keyCertSign,cRLSign"},
		{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", t.path("tsa.key"), "-out", t.path("tsa.csr"),
			"-subj", "/O=siteinspect tests/CN=Test TSA"},
		{"x509", "-req", "-in", t.path("tsa.csr"), "-CA", t.CAFile, "-CAkey", t.path("ca.key"),
			"-set_serial", "2", "-days", "825", "-sha256",
			"-extfile", cnf, "-extensions", "tsa_ext", "-out", t.path("tsa.pem")},
	}
	for _, args := range steps {
		if _, err := t.openssl(ctx, args...); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(t.CAFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return errors.New("no PEM block in the CA file openssl wrote")
	}
	t.CA, err = x509.ParseCertificate(block.Bytes)
	return err
}
