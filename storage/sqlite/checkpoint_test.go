package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mustWrite makes a table on db and commits n rows of about 1 KiB, each in
// its own transaction, as the server's writes do.
func mustWrite(tb testing.TB, db *sql.DB, n int) {
	tb.Helper()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		tb.Fatal(err)
	}
	body := strings.Repeat("x", 1000)
	for range n {
		if _, err := db.Exec(`INSERT INTO t (body) VALUES (?)`, body); err != nil {
			tb.Fatal(err)
		}
	}
}

func mustSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// TestNoCheckpointOnCommit: commits leave their pages in the log, however
// long it grows (2,000 pages is twice SQLite's automatic threshold), and
// Checkpoints copies them into the database file beside the writers.
func TestNoCheckpointOnCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := NewDialect().Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	if err := db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint: got %d (%v), want 0", auto, err)
	}
	mustWrite(t, db, 8000) // ≥ 2,000 pages of 4 KiB
	if got := mustSize(t, path); got > 64<<10 {
		t.Fatalf("database file after the commits, before any checkpoint: got %d bytes, want the log to hold the rows (≤ 64 KiB in the file)", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Checkpoints(ctx, db, 10*time.Millisecond, func(err error) { t.Errorf("checkpoint: %v", err) })
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for mustSize(t, path) < 4<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file 20 s after the checkpointer started: got %d bytes, want ≥ 4 MiB (the rows copied from the log)", mustSize(t, path))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Writes go on while it runs, and their rows read back.
	mustWrite(t, db, 100)
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 8100 {
		t.Fatalf("rows: got %d (%v), want 8100", n, err)
	}
}
