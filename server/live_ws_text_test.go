package server

import (
	"context"
	"fmt"
	"testing"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
)

// TestRoomRefusesNULText: a room message whose text holds a NUL (an
// instruction, a note's body) is refused with text_invalid, as the same
// text is over HTTP (checkJSONText), on either database: not stored with
// the NUL on SQLite, nor answered "internal" when PostgreSQL refuses it.
func TestRoomRefusesNULText(t *testing.T) {
	rf := newRoomFixture(t)
	for _, msg := range []string{
		`{"type":"instruction","text":"show the\u0000 fire exit"}`,
		`{"type":"annotation","body":"crack\u0000","severity":"concern"}`,
	} {
		code := ""
		for _, r := range rf.replies(t, []byte(msg), 1) {
			if er, ok := r["error"].(map[string]any); ok {
				code = fmt.Sprint(er["code"])
			}
		}
		if code != "text_invalid" {
			t.Errorf("%s: got error code %q, want text_invalid", msg, code)
		}
	}
}

// TestRoomDatabaseBusy: a room message the database cannot take for now
// is refused with the code HTTP gives, database_unavailable, not
// "internal". On SQLite another connection holds the write lock; on
// PostgreSQL the database's sessions are ended and new ones are read-only
// (57P01 or 25006 for the write).
func TestRoomDatabaseBusy(t *testing.T) {
	rf := newRoomFixture(t)
	ctx := context.Background()
	conn, err := rf.e.db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if testenv.OnPostgres() {
		var name string
		if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `ALTER DATABASE "`+name+`" SET default_transaction_read_only = on`); err != nil {
			t.Fatalf("make the database read-only: %v", err)
		}
		// This connection stays out of the pool until the test ends, so
		// every write the room makes runs in an ended or a read-only session.
		if _, err := conn.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
			t.Fatalf("end the database's other sessions: %v", err)
		}
	} else {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatalf("take the write lock: %v", err)
		}
		defer conn.ExecContext(ctx, "ROLLBACK")
	}
	code := ""
	for _, r := range rf.replies(t, []byte(`{"type":"instruction","text":"show the fire exit"}`), 1) {
		if er, ok := r["error"].(map[string]any); ok {
			code = fmt.Sprint(er["code"])
		}
	}
	if code != domain.CodeDatabaseUnavailable {
		t.Errorf("instruction with the database unavailable: got error code %q, want %s", code, domain.CodeDatabaseUnavailable)
	}
}
