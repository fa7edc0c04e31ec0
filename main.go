// Command siteinspect is a remote site-inspection service for permit
// offices: applicants film their sites and upload documents, inspectors
// review and decide online.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "siteinspect:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  siteinspect serve [--listen 127.0.0.1:8080] [--data DIR] [--demo] [storage flags]
  siteinspect user add --username NAME --role ROLE [--display-name S] [--org S] [storage flags]
      (the password is read from standard input)
  siteinspect audit verify [storage flags]
      (exits 0 only when the whole audit chain is intact)
  siteinspect copy-db --from SQLITE_PATH --to postgres://USER@HOST/DB
      (copies every record into an empty database at the same schema
      version, in one transaction; stop the server first)
  siteinspect verify BUNDLE.zip
      (checks a case bundle offline: exits 0 only when every file matches
      the manifest and its audit event, and every event its hash)

Storage flags: --data DIR, --db PATH, --s3-endpoint HOST:PORT, --s3-access-key,
--s3-secret-key, --s3-bucket, --s3-tls. Every flag may be set as an environment
variable SITEINSPECT_<FLAG> (dashes as underscores). Run "siteinspect serve -h"
for all flags.`

// run is the whole program; main only turns its error into an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		if len(args) < 2 || args[1] != "add" {
			fmt.Fprintln(stderr, usage)
			return fmt.Errorf("unknown user command; want \"user add\"")
		}
		return runUserAdd(ctx, args[2:], getenv, stdin, stdout, stderr)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			fmt.Fprintln(stderr, usage)
			return fmt.Errorf("unknown audit command; want \"audit verify\"")
		}
		return runAuditVerify(ctx, args[2:], getenv, stdout, stderr)
	case "copy-db":
		return runCopyDB(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return runVerifyBundle(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
