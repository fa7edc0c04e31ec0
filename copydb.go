package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"siteinspect/storage"
)

// runCopyDB copies every record of one database into another, empty one:
// the way an office moves from the embedded SQLite file to PostgreSQL. The
// source should not be in use (stop the server first): it is read in one
// transaction, and the target written in one, so the target holds either
// all of it or nothing.
func runCopyDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := newFlagSet("copy-db", stderr)
	from := flags.String("from", "", "the database to copy: a SQLite path or a postgres:// URL")
	to := flags.String("to", "", "the empty database to fill: a postgres:// URL (or a SQLite path)")
	if err := parseFlags(flags, args, getenv); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return errors.New("copy-db needs --from and --to")
	}
	if *from == *to {
		return errors.New("copy-db: --from and --to name the same database")
	}
	return copyDB(ctx, *from, *to, stdout, stderr)
}

// copyDB is copy-db once its flags are read.
func copyDB(ctx context.Context, from, to string, stdout, stderr io.Writer) error {
	srcVersions, err := storage.SchemaVersions(ctx, from, true)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(srcVersions) == 0 {
		return fmt.Errorf("source %s is not a siteinspect database (no schema_migrations)", storage.RedactDSN(from))
	}
	dstVersions, err := storage.SchemaVersions(ctx, to, false)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// A target that has never been opened gets this program's migrations;
	// one that has must already be where the source is.
	if len(dstVersions) > 0 && !slices.Equal(dstVersions, srcVersions) {
		return fmt.Errorf("target schema is at %s, source at %s: copy-db copies only between databases at the same schema version", last(dstVersions), last(srcVersions))
	}
	dst, err := storage.OpenDB(ctx, to)
	if err != nil {
		return fmt.Errorf("open target: %w", err)
	}
	defer dst.Close()
	if dstVersions, err = storage.SchemaVersions(ctx, to, false); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if !slices.Equal(dstVersions, srcVersions) {
		return fmt.Errorf("source schema is at %s, this program's at %s: open the source with this release first (siteinspect audit verify --db SOURCE migrates it), then copy", last(srcVersions), last(dstVersions))
	}
	src, err := storage.OpenDB(ctx, from)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer src.Close()
	if err := src.CheckCopiedTables(ctx); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if err := dst.CheckCopiedTables(ctx); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	events, err := src.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("source audit chain broken after %d good events (copy-db copies only an intact chain): %w", events, err)
	}

	start := time.Now()
	counts, err := storage.CopyRecords(ctx, src, dst, copyProgress(stderr))
	if err != nil {
		return err
	}
	n, err := dst.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("target audit chain broken after %d good events: %w", n, err)
	}
	if n != events {
		return fmt.Errorf("target audit chain has %d events, source %d", n, events)
	}
	seq, head, err := dst.AuditHead(ctx)
	if err != nil {
		return err
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables in %s; audit chain intact on the target: %d events, head %d %s\n",
		total, len(counts), time.Since(start).Round(time.Millisecond), n, seq, head)
	return nil
}

// last is the newest of sorted migration versions.
func last(versions []string) string {
	if len(versions) == 0 {
		return "none"
	}
	return versions[len(versions)-1]
}

// copyProgress writes how far the copy is to w: a line per table when it is
// done, and at most one a second while a big one is under way.
func copyProgress(w io.Writer) storage.CopyProgress {
	var last time.Time
	return func(table string, done, want, allDone, allWant int64, finished bool) {
		if !finished && (time.Since(last) < time.Second || done >= want) {
			return
		}
		last = time.Now()
		pct := int64(100)
		if allWant > 0 {
			pct = allDone * 100 / allWant
		}
		fmt.Fprintf(w, "copy-db: %-20s %d/%d rows, %d%% of all\n", table, done, want, pct)
	}
}
