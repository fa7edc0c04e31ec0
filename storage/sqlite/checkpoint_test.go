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

// mustOpen opens a new database in a temporary folder, closed when tb ends.
func mustOpen(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "x.db")
	db, err := NewDialect().Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, path
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
	db, path := mustOpen(t)
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
		Checkpoints(ctx, db, path, 10*time.Millisecond, func(err error) { t.Errorf("checkpoint: %v", err) })
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

// TestWalIndexRead: what Checkpoints reads of the log's index agrees with
// what SQLite's own checkpoint reports, before and after it copies.
func TestWalIndexRead(t *testing.T) {
	db, path := mustOpen(t)
	mustWrite(t, db, 300)
	idx := &walIndex{path: path + "-shm"}
	defer idx.close()
	st, ok := idx.read()
	if !ok || st.pageSize != 4096 || st.last == 0 || st.copied != 0 {
		t.Fatalf("index before any checkpoint: got %+v (read %v), want frames, none copied, 4096-byte pages", st, ok)
	}
	var busy, logPages, copied int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		t.Fatal(err)
	}
	if int(st.last) != logPages {
		t.Fatalf("last frame: index says %d, the checkpoint %d", st.last, logPages)
	}
	if st, ok = idx.read(); !ok || int(st.copied) != copied || st.copied != st.last {
		t.Fatalf("index after the checkpoint: got %+v (read %v), want all %d frames copied", st, ok, copied)
	}
}

// TestCheckpointWaitsForPause: tick by tick, while writes go on and the
// log is under its budget, nothing is copied into the database file; at
// the first tick with no new writes, it is; and past the budget it is
// copied while they go on.
func TestCheckpointWaitsForPause(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget int64
	}{{"under budget", 1 << 30}, {"over budget", 1 << 20}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, path := mustOpen(t)
			mustWrite(t, db, 1)
			if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			base := mustSize(t, path)
			cp := newCheckpointer(db, path, c.budget)
			defer cp.close()
			now := time.Now()
			tick := func() {
				t.Helper()
				now = now.Add(CheckpointEvery)
				if err := cp.tick(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
			// Ten ticks, each after about 2 MiB of log in 1 KiB commits.
			copiedDuring := false
			for range 10 {
				mustWrite(t, db, 500)
				tick()
				if mustSize(t, path) > base {
					copiedDuring = true
				}
			}
			if want := c.budget < 4<<20; copiedDuring != want {
				t.Fatalf("copied into the file while writes went on: got %v, want %v (budget %d bytes)", copiedDuring, want, c.budget)
			}
			tick() // no writes since the last tick: a pause
			if got := mustSize(t, path); got < base+2<<20 {
				t.Fatalf("database file after a tick without writes: got %d bytes, want ≥ %d (the rows copied)", got, base+2<<20)
			}
		})
	}
}

// TestCheckpointPolicy: the decision tick by tick.
func TestCheckpointPolicy(t *testing.T) {
	t0 := time.Now()
	p := checkpointPolicy{budget: 1 << 20, maxAge: 10 * time.Second, lastAt: t0}
	steps := []struct {
		at   time.Duration
		st   walState
		want bool
		why  string
	}{
		{0, walState{last: 10, pageSize: 4096}, false, "first look: no earlier tick to compare"},
		{200, walState{last: 50, pageSize: 4096}, false, "frames added since the last tick"},
		{400, walState{last: 50, pageSize: 4096}, true, "no frames added: a pause"},
		{600, walState{last: 50, copied: 50, pageSize: 4096}, false, "all copied"},
		{800, walState{last: 60, copied: 50, pageSize: 4096}, false, "writing again"},
		{1000, walState{last: 50 + 256, copied: 50, pageSize: 4096}, true, "a budget's worth waits"},
		{1200, walState{last: 400, copied: 300, pageSize: 4096}, false, "writing, under budget"},
		{11_001, walState{last: 500, copied: 300, pageSize: 4096}, true, "waited maxAge"},
	}
	for _, s := range steps {
		got := p.due(t0.Add(s.at*time.Millisecond), s.st)
		if got != s.want {
			t.Fatalf("at %d ms, %+v: got due=%v, want %v (%s)", s.at, s.st, got, s.want, s.why)
		}
		if got {
			p.lastAt = t0.Add(s.at * time.Millisecond)
		}
	}
}
