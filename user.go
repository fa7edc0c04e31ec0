package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"siteinspect/domain"
	"strings"
)

// runUserAdd creates an account; the password comes from standard input so
// it stays out of the process list and shell history.
func runUserAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user add", stderr)
	var sf storageFlags
	sf.register(fs)
	username := fs.String("username", "", "login name (required)")
	role := fs.String("role", "", "applicant, inspector, reviewer, supervisor or admin (required)")
	display := fs.String("display-name", "", "name shown to others")
	org := fs.String("org", "", "company (applicants) or office (officers)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *username == "" || *role == "" {
		return fmt.Errorf("--username and --role are required")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return fmt.Errorf("give the password on standard input")
	}
	st, err := sf.open(ctx, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer st.db.Close()
	u, err := st.db.CreateUser(ctx, *username, password, domain.Role(*role), *display, *org)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (id %s)\n", u.Role, u.Username, u.ID)
	return nil
}
