package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// runAuditVerify recomputes the whole audit chain and fails, naming the
// first event that does not match, if anything was altered or removed.
func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	var sf storageFlags
	sf.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
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
	return nil
}
