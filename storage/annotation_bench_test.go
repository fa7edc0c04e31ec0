package storage_test

import (
	"context"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"siteinspect/internal/testenv"
)

// BenchmarkCreateAnnotation is the case's inspector creating annotations on
// one video, one at a time (writers=1) and from 8 goroutines at once
// (writers=8, which group commit batches): the storage half of
// BenchmarkAnnotations10k's creates, without HTTP, for comparing the
// statement that checks the policy and inserts (docs/BENCHMARKS.md).
// cpu-µs/op is this process's CPU time per create (all of SQLite's work;
// on PostgreSQL the client's share only), steadier than the time per op
// on a shared machine. The PostgreSQL half runs inside
// scripts/with-postgres.sh.
func BenchmarkCreateAnnotation(b *testing.B) {
	for _, name := range dialects {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			dsn := filepath.Join(b.TempDir(), "test.db")
			if name == "postgres" {
				dsn = testenv.PostgresURL(b)
			}
			db := testenv.OpenDBAt(b, dsn)
			if err := db.SeedPermitTypes(ctx); err != nil {
				b.Fatal(err)
			}
			f := newInReview(b, db)
			cs, ev := annotatable(b, db, f, f.cs)
			var next atomic.Int64
			create := func() error {
				_, err := db.CreateAnnotation(ctx, cs, ev, f.inspector, annotationInput(int(next.Add(1)%600)))
				return err
			}
			b.Run("writers=1", func(b *testing.B) {
				cpu := processCPU()
				for b.Loop() {
					if err := create(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((processCPU()-cpu)*1e6/float64(b.N), "cpu-µs/op")
			})
			b.Run("writers=8", func(b *testing.B) {
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
				cpu := processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := create(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric((processCPU()-cpu)*1e6/float64(b.N), "cpu-µs/op")
			})
			var n int64
			if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM annotations WHERE case_id = ?`, cs.ID).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if want := next.Load(); n != want {
				b.Fatalf("annotations stored: got %d, want %d", n, want)
			}
		})
	}
}
