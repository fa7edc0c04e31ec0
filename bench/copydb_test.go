package bench

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// BenchmarkCopyDB copies 20,000 cases and their 20,000 audit events from
// SQLite into PostgreSQL with `siteinspect copy-db` (the binary, so its
// start, a few tens of milliseconds, counts) and reports rows per second.
func BenchmarkCopyDB(b *testing.B) {
	src := filepath.Join(harness.AuditChain(b, 20_000), "siteinspect.db")
	harness.MustBinary(b) // built before the clock starts
	for range b.N {
		to := testenv.PostgresURL(b)
		start := time.Now()
		out, errb, err := harness.Run(b, "", "copy-db", "--from", src, "--to", to)
		if err != nil {
			b.Fatalf("copy-db: %v", err)
		}
		took := time.Since(start)
		var rows float64
		if _, err := fmt.Sscanf(out, "copied %g rows", &rows); err != nil || rows < 40_000 {
			b.Fatalf("copy-db output: got %q, want at least 40,000 rows copied", out)
		}
		b.ReportMetric(rows/took.Seconds(), "rows/s")
		fmt.Printf("copy-db: %.0f rows in %s (%.0f rows/s), load average %s\n%s", rows, took.Round(time.Millisecond), rows/took.Seconds(), harness.LoadAverage(), errb)
	}
}
