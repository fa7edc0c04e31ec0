package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkCommitTail: the latency of small write transactions (a 1 KiB
// row and its index entry each, as an annotation and its audit event) one
// after another on one connection, as the writer lock runs them, with
// SQLite's automatic checkpoint in the commit that crosses 1000 pages
// ("in-commit") and with Checkpoints beside the writer ("beside"),
// alternated three times in one run. Reported: p50, p99 and the longest
// commit in ms, and how many commits took over 5 ms (the stalls that a
// queue of writers behind the lock all wait for).
//
//	go test ./storage/sqlite -run '^$' -bench CommitTail -benchtime 1x
func BenchmarkCommitTail(b *testing.B) {
	for round := range 3 {
		for _, mode := range []string{"in-commit", "beside"} {
			b.Run(fmt.Sprintf("%s/%d", mode, round), func(b *testing.B) {
				ctx := context.Background()
				path := filepath.Join(b.TempDir(), "x.db")
				db, err := NewDialect().Open(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				conn, err := db.Conn(ctx)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				if mode == "in-commit" {
					if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint(1000)`); err != nil {
						b.Fatal(err)
					}
				} else {
					cctx, cancel := context.WithCancel(ctx)
					done := make(chan struct{})
					go func() {
						defer close(done)
						Checkpoints(cctx, db, path, CheckpointEvery, func(err error) { b.Error(err) })
					}()
					defer func() { cancel(); <-done }()
				}
				if _, err := conn.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, body TEXT); CREATE INDEX t_k ON t (k)`); err != nil {
					b.Fatal(err)
				}
				body := strings.Repeat("x", 1000)
				const n = 20000
				lat := make([]time.Duration, n)
				b.ResetTimer()
				for i := range n {
					start := time.Now()
					tx, err := conn.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO t (k, body) VALUES (?, ?)`, fmt.Sprintf("%08x", i*2654435761%(1<<32)), body); err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
					lat[i] = time.Since(start)
				}
				b.StopTimer()
				slices.Sort(lat)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				b.ReportMetric(ms(lat[n/2]), "p50-ms")
				b.ReportMetric(ms(lat[n*99/100]), "p99-ms")
				b.ReportMetric(ms(lat[n-1]), "max-ms")
				slow := n - slices.IndexFunc(lat, func(d time.Duration) bool { return d > 5*time.Millisecond })
				if slow > n {
					slow = 0
				}
				b.ReportMetric(float64(slow), "commits-over-5ms")
			})
		}
	}
}
