package bench

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"siteinspect/internal/harness"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// benchFigure is one figure a benchmark measured against its target.
type benchFigure struct {
	name, op, unit string
	got, want      float64
	met            bool
}

// benchFigures collects every figure of this run, in the order measured,
// for the summary table that withFigures prints when the run ends.
var benchFigures struct {
	sync.Mutex
	list []benchFigure
}

// target reports got as a metric of b (its unit is name and unit with
// no spaces), records the line "name | got | op want | met/missed" for the
// summary table, and says whether the target was met. op is one of <, <=,
// >, >=; an empty op reports the figure with no target.
func target(b *testing.B, name string, got float64, op string, want float64, unit string) bool {
	b.Helper()
	var met bool
	switch op {
	case "<":
		met = got < want
	case "<=":
		met = got <= want
	case ">":
		met = got > want
	case ">=":
		met = got >= want
	case "":
		met = true
	default:
		b.Fatalf("target %q: operator %q, want <, <=, > or >=", name, op)
	}
	b.ReportMetric(got, metricUnit(name, unit))
	benchFigures.Lock()
	benchFigures.list = append(benchFigures.list, benchFigure{name: name, op: op, unit: unit, got: got, want: want, met: met})
	benchFigures.Unlock()
	return met
}

// metricUnit makes a benchmark metric's unit of a figure's name and unit:
// testing.B wants one word.
func metricUnit(name, unit string) string {
	s := strings.Join(strings.Fields(name+" "+unit), "-")
	return strings.NewReplacer("%", "pct", "/", "-per-", "(", "", ")", "", ",", "", ":", "").Replace(s)
}

// fanoutTargets puts the live fan-out's figures at 50 and 200 viewers
// (whichever were measured) against their targets: the latency the server
// adds at p99 < 5 ms, and ≤ 0.3 % of one core per viewer over the server's
// CPU with no viewer.
func fanoutTargets(b *testing.B, rows []fanoutRow) {
	b.Helper()
	var idle *fanoutRow
	for i := range rows {
		if rows[i].n == 0 {
			idle = &rows[i]
		}
	}
	for _, r := range rows {
		if r.n != 50 && r.n != 200 {
			continue
		}
		name := fmt.Sprintf("live fan-out added p99 @%d viewers", r.n)
		if r.p99 < r.d99 {
			// The baseline cannot be slower than the server but for noise.
			target(b, name+" (no verdict: direct slower)", ms(r.p99-r.d99), "", 0, "ms")
		} else {
			target(b, name, ms(r.p99-r.d99), "<", 5, "ms")
		}
		if idle != nil {
			target(b, fmt.Sprintf("live fan-out CPU per viewer @%d", r.n), (r.cpu-idle.cpu)/float64(r.n)*100, "<=", 0.3, "% core")
		}
	}
}

// annotationTargets puts one database's annotation latencies against
// their targets: p99 create < 20 ms and list < 30 ms on SQLite, ≤ 30 and
// ≤ 50 ms on PostgreSQL.
func annotationTargets(b *testing.B, dialect string, f annotationFigures) {
	b.Helper()
	op, create, list := "<", 20.0, 30.0
	if dialect == "postgres" {
		op, create, list = "<=", 30, 50
	}
	target(b, "annotations create p99, "+dialect, f.createP99, op, create, "ms")
	target(b, "annotations list 100 p99, "+dialect, f.listP99, op, list, "ms")
}

// withFigures runs the package's tests and benchmarks, then prints the
// figures target recorded as one table, so that one `make bench` shows
// every figure against its target.
type withFigures struct{ m *testing.M }

// Run runs m and prints the summary.
func (w withFigures) Run() int {
	code := w.m.Run()
	benchFigures.Lock()
	defer benchFigures.Unlock()
	if len(benchFigures.list) > 0 {
		fmt.Print(summaryTable(benchFigures.list))
	}
	return code
}

// summaryTable is the figures as "figure | got | target | met/missed" rows,
// with a count of the missed ones under them.
func summaryTable(figs []benchFigure) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsummary: every figure against its target (%d CPUs, load average %s)\n", runtime.NumCPU(), harness.LoadAverage())
	tw := tabwriter.NewWriter(&sb, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "figure\t| got\t| target\t| met/missed")
	missed := 0
	for _, f := range figs {
		goal, verdict := "report", "—"
		if f.op != "" {
			goal = fmt.Sprintf("%s %s %s", strings.NewReplacer("<=", "≤", ">=", "≥").Replace(f.op), formatFigure(f.want), f.unit)
			verdict = "met"
			if !f.met {
				verdict = "MISSED"
				missed++
			}
		}
		fmt.Fprintf(tw, "%s\t| %s %s\t| %s\t| %s\n", f.name, formatFigure(f.got), f.unit, strings.TrimSpace(goal), verdict)
	}
	tw.Flush()
	fmt.Fprintf(&sb, "%d of %d targets missed\n", missed, countTargets(figs))
	return sb.String()
}

func countTargets(figs []benchFigure) int {
	n := 0
	for _, f := range figs {
		if f.op != "" {
			n++
		}
	}
	return n
}

// formatFigure prints a figure with the digits that matter: 0.953, 12.40,
// 1830, and a whole number (most targets) as one: 20.
func formatFigure(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case v == math.Trunc(v) && a < 1e15:
		return fmt.Sprintf("%.0f", v)
	case a < 1:
		return fmt.Sprintf("%.3f", v)
	case a < 100:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// TestBenchSummaryTable: the summary lists each figure with its target and
// verdict, marks a miss, shows a figure without target as a report, and
// counts the misses.
func TestBenchSummaryTable(t *testing.T) {
	got := summaryTable([]benchFigure{
		{name: "time to playable, MP4", got: 0.73, op: "<", want: 2, unit: "s", met: true},
		{name: "downloads relayed", got: 0.912, op: ">=", want: 0.95, unit: "ratio", met: false},
		{name: "time to playable, HEVC", got: 41.5, unit: "s", met: true},
	})
	for _, want := range []string{
		"time to playable, MP4  | 0.730 s     | < 2 s         | met\n",
		"downloads relayed      | 0.912 ratio | ≥ 0.950 ratio | MISSED\n",
		"time to playable, HEVC | 41.50 s     | report        | —\n",
		"1 of 2 targets missed\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary: got\n%s\nwant a line %q", got, want)
		}
	}
	if u := metricUnit("fan-out added p99 @50 (CPU %)", "ms"); u != "fan-out-added-p99-@50-CPU-pct-ms" {
		t.Errorf("metric unit: got %q, want one word", u)
	}
}

// settleCPU waits, up to a minute, until the machine's CPUs have been at
// least 90 % idle (idle or waiting on the disk) over two seconds, as
// scripts/test.sh does before the tests: what an earlier benchmark or this
// one's own set-up left running (a database's checkpoint, a media job,
// peers closing) then does not fall into the first figures measured, on
// one side of a comparison more than the other. It logs what it found.
func settleCPU(tb testing.TB) {
	tb.Helper()
	ticks := func() (all, idle uint64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			var n uint64
			fmt.Sscan(v, &n)
			all += n
			if i == 3 || i == 4 { // idle, iowait
				idle += n
			}
		}
		return all, idle
	}
	start := time.Now()
	pct := 0.0
	for time.Since(start) < time.Minute {
		a0, i0 := ticks()
		time.Sleep(2 * time.Second)
		a1, i1 := ticks()
		if a1 <= a0 {
			return // no /proc/stat: nothing to wait for
		}
		if pct = 100 * float64(i1-i0) / float64(a1-a0); pct >= 90 {
			break
		}
	}
	tb.Logf("settle: CPUs %.0f %% idle after %s", pct, time.Since(start).Round(time.Second))
}
