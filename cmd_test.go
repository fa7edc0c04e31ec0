package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"siteinspect/internal/harness"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"siteinspect/domain"
	"siteinspect/storage"
)

// TestUserAdd runs `siteinspect user add` in-process, with the data folder
// given through the environment as operators may, and logs in as the
// new user.
func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"SITEINSPECT_DATA": dir}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"user", "add", "--username", "zhang", "--role", "inspector", "--display-name", "张伟", "--org", "binhai"},
		func(k string) string { return env[k] }, strings.NewReader("a long enough password\n"), &out, &errb)
	if err != nil {
		t.Fatalf("user add: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), "created inspector zhang") {
		t.Fatalf("output: got %q, want it to name the new inspector", out.String())
	}
	db, err := storage.OpenDB(context.Background(), filepath.Join(dir, "siteinspect.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.Authenticate(context.Background(), "zhang", "a long enough password")
	if err != nil || u.Role != domain.RoleInspector || u.Org != "binhai" || u.DisplayName != "张伟" {
		t.Fatalf("authenticate: got %+v, %v; want inspector zhang of binhai", u, err)
	}
	// The password's bcrypt cost: the default, then --password-cost's.
	cost := func(username string) int {
		t.Helper()
		var hash string
		if err := db.SQL().QueryRowContext(context.Background(), `SELECT password_hash FROM users WHERE username = ?`, username).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := cost("zhang"); c != storage.DefaultPasswordCost {
		t.Errorf("zhang's password: cost %d, want the default %d", c, storage.DefaultPasswordCost)
	}
	if err := run(context.Background(), []string{"user", "add", "--data", dir, "--username", "wang", "--role", "reviewer", "--password-cost", "5"},
		func(string) string { return "" }, strings.NewReader("a long enough password\n"), &out, &errb); err != nil {
		t.Fatalf("user add --password-cost 5: %v", err)
	}
	if c := cost("wang"); c != 5 {
		t.Errorf("wang's password: cost %d, want 5", c)
	}
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"taken", []string{"--username", "zhang", "--role", "inspector"}, "another long password\n", "taken"},
		{"cost too low", []string{"--username", "li", "--role", "admin", "--password-cost", "3"}, "another long password\n", "--password-cost must be 4 to 31"},
		{"cost too high", []string{"--username", "li", "--role", "admin", "--password-cost", "32"}, "another long password\n", "--password-cost must be 4 to 31"},
		{"bad role", []string{"--username", "li", "--role", "mayor"}, "another long password\n", "unknown role"},
		{"short password", []string{"--username", "li", "--role", "admin"}, "short\n", "at least"},
		{"no password", []string{"--username", "li", "--role", "admin"}, "", "standard input"},
		{"missing username", []string{"--role", "admin"}, "another long password\n", "required"},
	} {
		err := run(context.Background(), append([]string{"user", "add", "--data", dir}, tt.args...), func(string) string { return "" }, strings.NewReader(tt.stdin), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestRunRejectsBadCommands: unknown commands and flags are errors, not
// silent defaults.
func TestRunRejectsBadCommands(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"user", "remove"}, {"serve", "--no-such-flag"}, {"serve", "--timezone", "Mars/Olympus", "--data", t.TempDir()}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb); err == nil {
			t.Errorf("run %q: got nil, want an error", args)
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data", t.TempDir()}, func(k string) string {
		return map[string]string{"SITEINSPECT_UPLOAD_TTL": "forever"}[k]
	}, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "forever") {
		t.Errorf("bad SITEINSPECT_UPLOAD_TTL: got %v, want an error naming it", err)
	}
}

// TestAuditVerify: an untouched chain verifies; each way of tampering
// with stored events (an edit, a deletion, two events swapped, a rewritten
// prev_hash) makes `audit verify` fail and name the first bad event.
func TestAuditVerify(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper []string // SQL run against the chain of 5 events
		want   int64    // the first bad event
		reason string   // what verify says is wrong with it
	}{
		{"untouched", nil, 0, ""},
		{"edited", []string{`UPDATE audit_events SET data = replace(data, 'site 1', 'site 9') WHERE seq = 2`}, 2, "altered"},
		{"deleted", []string{`DELETE FROM audit_events WHERE seq = 3`}, 3, "missing"},
		{"swapped", []string{
			`UPDATE audit_events SET seq = -3 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -3`,
		}, 3, "prev_hash"},
		// Event 4 claims event 2 as its predecessor, as if 3 never was.
		{"prev_hash rewritten", []string{
			`UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE seq = 4`,
		}, 4, "prev_hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := harness.AuditChain(t, 5)
			if len(tt.tamper) > 0 {
				db, err := storage.OpenDB(context.Background(), filepath.Join(dir, "siteinspect.db"))
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range tt.tamper {
					if _, err := db.SQL().Exec(q); err != nil {
						db.Close()
						t.Fatalf("%s: %v", q, err)
					}
				}
				db.Close()
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{"audit", "verify", "--data", dir}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
			if tt.want == 0 {
				if err != nil || !strings.Contains(out.String(), "intact: 5 events") {
					t.Fatalf("got %q, %v; want intact with 5 events", out.String(), err)
				}
				return
			}
			want := fmt.Sprintf("audit chain broken after %d good events: audit event %d:", tt.want-1, tt.want)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v (output %q), want an error containing %q and %q", err, out.String(), want, tt.reason)
			}
			if strings.Contains(out.String(), "intact") {
				t.Fatalf("output: got %q, want no claim that the chain is intact", out.String())
			}
		})
	}
}
