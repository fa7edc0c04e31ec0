// Package bench measures siteinspect against the limits of the machine and
// the peers a user would pick instead (docs/BENCHMARKS.md): each benchmark
// runs the built binary (internal/harness) beside a direct client of the
// same MinIO, PostgreSQL or pion peers, and the run ends with one table of
// every figure against its target.
package bench

import (
	"testing"

	"siteinspect/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(withFigures{m}) }
