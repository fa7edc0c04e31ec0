package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if err != nil || u.Role != storage.RoleInspector || u.Org != "binhai" || u.DisplayName != "张伟" {
		t.Fatalf("authenticate: got %+v, %v; want inspector zhang of binhai", u, err)
	}
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"taken", []string{"--username", "zhang", "--role", "inspector"}, "another long password\n", "taken"},
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

// TestAuditVerify: an untouched chain verifies; changing one stored event
// makes `audit verify` fail and name it.
func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.OpenDB(ctx, filepath.Join(dir, "siteinspect.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SeedPermitTypes(ctx)
	u, _ := db.CreateUser(ctx, "applicant", "a long enough password", storage.RoleApplicant, "", "Acme")
	for i := range 3 {
		if _, err := db.CreateCase(ctx, u, "binhai", "BH", time.UTC, storage.NewCase{PermitType: "hotel", SiteName: fmt.Sprint("site ", i), SiteAddress: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	verify := func() (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, []string{"audit", "verify", "--data", dir}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return out.String(), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "intact: 3 events") {
		t.Fatalf("untouched: got %q, %v; want intact with 3 events", out, err)
	}
	if _, err := db.SQL().Exec(`UPDATE audit_events SET data = replace(data, 'site 1', 'site 9') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(); err == nil || !strings.Contains(err.Error(), "audit event 2") {
		t.Fatalf("after changing event 2: got %v, want an error naming event 2", err)
	}
}
