package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"

	"siteinspect/timestamp"
)

// runAuditVerify recomputes the whole audit chain and fails, naming the
// first event that does not match, if anything was altered or removed; then
// it verifies every stored time-stamp token against what it covers and the
// TSA's CA (--tsa-ca), naming the first that fails.
func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	var sf storageFlags
	sf.register(fs)
	tsaCA := fs.String("tsa-ca", "", "PEM file of the time-stamping authority's CA, to verify the stored time-stamp tokens")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	var roots *x509.CertPool
	if *tsaCA != "" {
		var err error
		if roots, err = timestamp.LoadRoots(*tsaCA); err != nil {
			return fmt.Errorf("--tsa-ca: %w", err)
		}
	}
	st, err := sf.open(ctx, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer st.db.Close()
	n, err := st.db.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("audit chain broken after %d good events: %w", n, err)
	}
	seq, head, err := st.db.AuditHead(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit chain intact: %d events, head %d %s\n", n, seq, head)
	return verifyTimestamps(ctx, st.db, roots, stdout)
}
