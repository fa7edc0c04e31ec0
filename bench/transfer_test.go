package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/storage/objects"
)

// BenchmarkUploadDownload1GiB measures, side by side in one run and against
// the same MinIO, what our path costs over the physical limit:
//
//   - upload: a tus upload through the server (one PATCH of the whole file,
//     and 32 MiB PATCHes) vs a direct minio-go PutObject of the same bytes,
//     with minio-go's defaults (the ratio) and with an unsigned payload as
//     our server sends its parts (the stricter baseline);
//   - download: GET /api/v1/evidence/{id}/content vs a direct minio-go
//     GetObject of the same object;
//   - the server process's peak RSS (VmHWM) over the uploads, from a server
//     started for this benchmark alone, and its CPU time per run.
//
// Direct and our runs alternate so that machine noise hits both; the best
// of the runs of each path is compared. The source is a file on disk that
// is streamed, never held in memory. SITEINSPECT_BENCH_MIB changes the size
// (default 1024) for quick trials and SITEINSPECT_BENCH_ROUNDS the number of
// runs of each path (default 2); docs/BENCHMARKS.md has the figures.
func BenchmarkUploadDownload1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("moves several GiB; not in -short")
	}
	size, rounds := benchSizeAndRounds(b, 2)
	const chunk = 32 << 20

	tmp := b.TempDir()
	src, srcSum := harness.MakeSource(b, tmp, size)

	mb := startMinIOBench(b, filepath.Join(tmp, "data"))
	srv, app, cs := mb.srv, mb.app, mb.cs
	pid := srv.Cmd.Process.Pid
	direct, minioPID := mb.directMinIO(b)
	mc, bucket := direct.Client(), direct.Bucket()
	app.HTTP = &http.Client{Transport: &http.Transport{WriteBufferSize: 1 << 20, ReadBufferSize: 1 << 20}}
	idleRSS := procStatusKiB(b, pid, "VmHWM")

	m := &benchMeter{b: b, pid: pid, minioPID: minioPID, size: size}
	// Every upload starts with MinIO's files out of the page cache, as the
	// first did: with the pages the uploads before it left cached, every
	// write into the page cache costs more (the second of our uploads took
	// a fifth to a quarter more CPU per GiB, server and MinIO alike;
	// docs/BENCHMARKS.md, "The later uploads of a run"), which the paths
	// measured later would pay.
	storeDir := minioDataDir(minioPID)
	if storeDir == "" {
		b.Log("MinIO's data directory is not known: its pages stay cached between uploads")
	}
	m.before = func() { evictPageCache(b, storeDir) }

	// Uploads: direct (minio-go's defaults, then with an unsigned payload
	// as our server sends it), ours in one PATCH, the same two direct, ours
	// in 32 MiB PATCHes; rounds times, the two modes in turn first:
	// should anything of an earlier upload still slow a later one (see
	// before, above), a mode always second would pay for it in every round.
	type uploadMode struct {
		name  string
		chunk int64
	}
	modes := []uploadMode{{"tus-1-PATCH", size}, {"tus-32MiB-PATCHes", chunk}}
	var lastEvidence string
	settleCPU(b)
	for r := 1; r <= rounds; r++ {
		order := modes
		if r%2 == 0 {
			order = []uploadMode{modes[1], modes[0]}
		}
		for _, mode := range order {
			for _, d := range []struct {
				name     string
				unsigned bool
			}{{"upload/direct-PutObject", false}, {"upload/direct-PutObject-unsigned", true}} {
				key := fmt.Sprintf("bench/%s-%d-%s", d.name, r, mode.name)
				m.measure(d.name, func() {
					f, err := os.Open(src)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					info, err := mc.PutObject(context.Background(), bucket, key, f, size, minio.PutObjectOptions{ContentType: "video/mp4", DisableContentSha256: d.unsigned})
					if err != nil || info.Size != size {
						b.Fatalf("direct PutObject: %v (size %d, want %d)", err, info.Size, size)
					}
				})
				if err := mc.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			if mode.chunk < size {
				// The bound of the protocol itself: a client that sends its
				// next 32 MiB only once MinIO has stored the last, as a tus
				// client does with a server that answers a PATCH only for
				// stored bytes (docs/UPLOADS.md).
				key := fmt.Sprintf("bench/direct-steps-%d", r)
				m.measure("upload/direct-32MiB-stored-steps", func() { putInStoredSteps(b, mc, bucket, key, src, size, mode.chunk, benchPartSize) })
				if err := mc.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			stop := perfRecordTo(b, pid, fmt.Sprintf("upload-%s-%d", mode.name, r))
			m.measure("upload/"+mode.name, func() {
				lastEvidence = tusUploadFile(b, app, cs.ID, src, size, mode.chunk)
			})
			stop()
			ev := settleEvidence(b, app, lastEvidence)
			if ev.Size != size || ev.SHA256 != srcSum {
				b.Fatalf("evidence %s: size %d sha256 %s, want %d %s", ev.ID, ev.Size, ev.SHA256, size, srcSum)
			}
		}
	}
	uploadRSS := procStatusKiB(b, pid, "VmHWM")
	m.before = nil // downloads read what the page cache holds, both paths alike

	// Downloads of the last evidence item: direct, ours; twice.
	key := domain.EvidenceKey(cs.ID, lastEvidence)
	buf := make([]byte, 1<<20)
	for r := 1; r <= rounds; r++ {
		m.measure("download/direct-GetObject", func() {
			obj, err := mc.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer obj.Close()
			n, err := io.CopyBuffer(discard{}, obj, buf)
			if err != nil || n != size {
				b.Fatalf("direct GetObject: read %d bytes, %v; want %d", n, err, size)
			}
		})
		m.measure("download/GET-content", func() {
			resp := app.Do("GET", "/api/v1/evidence/"+lastEvidence+"/content", nil, nil)
			defer resp.Body.Close()
			n, err := io.CopyBuffer(discard{}, resp.Body, buf)
			if resp.StatusCode != http.StatusOK || err != nil || n != size {
				b.Fatalf("GET content: %d, read %d bytes, %v; want 200 with %d", resp.StatusCode, n, err, size)
			}
		})
	}
	downloadRSS := procStatusKiB(b, pid, "VmHWM")

	// The table, then one benchmark line per path for benchstat and friends.
	upDirect := m.best("upload/direct-PutObject").mibps()
	upUnsigned := m.best("upload/direct-PutObject-unsigned").mibps()
	downDirect := m.best("download/direct-GetObject").mibps()
	ratioOf := map[string]float64{
		"upload/tus-1-PATCH":       m.best("upload/tus-1-PATCH").mibps() / upDirect,
		"upload/tus-32MiB-PATCHes": m.best("upload/tus-32MiB-PATCHes").mibps() / upDirect,
		"download/GET-content":     m.best("download/GET-content").mibps() / downDirect,
	}
	stepsBound := m.best("upload/tus-32MiB-PATCHes").mibps() / m.best("upload/direct-32MiB-stored-steps").mibps()
	ratioUnsigned := map[string]float64{
		"upload/tus-1-PATCH":       m.best("upload/tus-1-PATCH").mibps() / upUnsigned,
		"upload/tus-32MiB-PATCHes": m.best("upload/tus-32MiB-PATCHes").mibps() / upUnsigned,
	}
	printBenchTable(m, size, ratioOf, ratioUnsigned, idleRSS, uploadRSS, downloadRSS, minioPID != 0)
	target(b, "uploads, 32 MiB PATCHes, ours/direct", ratioOf["upload/tus-32MiB-PATCHes"], ">=", 0.95, "ratio")
	target(b, "uploads, 32 MiB PATCHes, ours/direct in stored 32 MiB steps", stepsBound, "", 0, "ratio")
	target(b, "uploads, 32 MiB PATCHes, server CPU (mean)", m.meanServerPerGiB("upload/tus-32MiB-PATCHes"), "", 0, "CPU-s/GiB")

	for _, name := range m.order {
		best := m.best(name)
		b.Run(name, func(b *testing.B) {
			b.ReportMetric(float64(best.dur.Nanoseconds()), "ns/op")
			b.ReportMetric(best.mibps(), "MiB/s")
			if r, ok := ratioOf[name]; ok {
				b.ReportMetric(r, "ratio")
				b.ReportMetric(best.server, "server-CPU-s")
				b.ReportMetric(best.server/(float64(best.size)/(1<<30)), "server-CPU-s/GiB")
				b.ReportMetric(m.meanServerPerGiB(name), "mean-server-CPU-s/GiB")
			}
			if r, ok := ratioUnsigned[name]; ok {
				b.ReportMetric(r, "ratio-vs-unsigned")
			}
		})
	}
	b.Run("server-peak-RSS", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(uploadRSS)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(downloadRSS)/1024, "peak-RSS-after-downloads-MiB")
	})
}

// benchPartSize is the part size of the server these benchmarks start
// (serve's default).
const benchPartSize = 8 << 20

// putInStoredSteps uploads the file at path to bucket/key as one multipart
// upload, step bytes at a time: each step's parts (of partSize, unsigned,
// as our server sends them) go at once, and the next step starts only
// when MinIO has answered all of them.
func putInStoredSteps(tb testing.TB, mc *minio.Client, bucket, key, path string, size, step, partSize int64) {
	tb.Helper()
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	core := minio.Core{Client: mc}
	id, err := core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{ContentType: "video/mp4"})
	if err != nil {
		tb.Fatal(err)
	}
	var parts []minio.CompletePart
	for off := int64(0); off < size; off += step {
		end := min(off+step, size)
		first := len(parts)
		for p := off; p < end; p += partSize {
			parts = append(parts, minio.CompletePart{PartNumber: len(parts) + 1})
		}
		errs := make(chan error, len(parts)-first)
		for i := first; i < len(parts); i++ {
			go func(i int) {
				start := int64(i) * partSize
				n := min(partSize, size-start)
				p, err := core.PutObjectPart(ctx, bucket, key, id, i+1, io.NewSectionReader(f, start, n), n, minio.PutObjectPartOptions{DisableContentSha256: true})
				parts[i].ETag = p.ETag
				errs <- err
			}(i)
		}
		for i := first; i < len(parts); i++ {
			if err := <-errs; err != nil {
				tb.Fatalf("part: %v", err)
			}
		}
	}
	if _, err := core.CompleteMultipartUpload(ctx, bucket, key, id, parts, minio.PutObjectOptions{}); err != nil {
		tb.Fatal(err)
	}
}

// settleEvidence waits until the evidence item is no longer being
// processed (the media pipeline, if any, works on it after the upload), so
// that work does not overlap the next timed run, and returns it.
func settleEvidence(tb testing.TB, c *harness.Client, id string) domain.Evidence {
	tb.Helper()
	start := time.Now()
	for {
		var ev domain.Evidence
		c.MustJSON("GET", "/api/v1/evidence/"+id, nil, http.StatusOK, &ev)
		if ev.Status != "processing" {
			if d := time.Since(start); d > time.Second {
				tb.Logf("evidence %s: %s after %.1f s of processing", id, ev.Status, d.Seconds())
			}
			return ev
		}
		if time.Since(start) > 10*time.Minute {
			tb.Fatalf("evidence %s still processing after 10 minutes", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// benchRun is one timed transfer and the CPU seconds each process spent.
type benchRun struct {
	dur                   time.Duration
	size                  int64
	server, minio, client float64
}

func (r benchRun) mibps() float64 { return float64(r.size) / (1 << 20) / r.dur.Seconds() }

// benchMeter times transfers and records them by path name, in first-seen
// order.
type benchMeter struct {
	b             *testing.B
	pid, minioPID int
	size          int64
	order         []string
	runs          map[string][]benchRun
	// before, if set, runs before each timed run, after the sync.
	before func()
}

func (m *benchMeter) measure(name string, f func()) {
	// Let the previous run's dirty pages reach the disk first, so its
	// writeback does not slow this one.
	syscall.Sync()
	if m.before != nil {
		m.before()
	}
	runtime.GC()
	s0, n0, c0 := procCPU(m.pid), procCPU(m.minioPID), selfCPU()
	start := time.Now()
	f()
	r := benchRun{dur: time.Since(start), size: m.size}
	r.server, r.minio, r.client = procCPU(m.pid)-s0, procCPU(m.minioPID)-n0, selfCPU()-c0
	if m.runs == nil {
		m.runs = map[string][]benchRun{}
	}
	if _, ok := m.runs[name]; !ok {
		m.order = append(m.order, name)
	}
	m.runs[name] = append(m.runs[name], r)
}

// meanServerPerGiB is the server's CPU seconds per GiB over every run of
// a path: the figure that load disturbs least.
func (m *benchMeter) meanServerPerGiB(name string) float64 {
	var cpu, bytes float64
	for _, r := range m.runs[name] {
		cpu += r.server
		bytes += float64(r.size)
	}
	return cpu / (bytes / (1 << 30))
}

// best is the fastest run of a path.
func (m *benchMeter) best(name string) benchRun {
	runs := m.runs[name]
	if len(runs) == 0 {
		m.b.Fatalf("no runs of %s", name)
	}
	best := runs[0]
	for _, r := range runs[1:] {
		if r.dur < best.dur {
			best = r
		}
	}
	return best
}

func printBenchTable(m *benchMeter, size int64, ratioOf, ratioUnsigned map[string]float64, idleKiB, uploadKiB, downloadKiB int64, haveMinIO bool) {
	w := &strings.Builder{}
	fmt.Fprintf(w, "\nsiteinspect vs direct minio-go, %d MiB file, same MinIO, %d CPUs, %s, %s\n",
		size>>20, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "%-32s %-19s %6s %6s %-11s %11s %8s %8s %8s\n", "path", "runs MiB/s", "best", "ratio", "target", "vs unsigned", "server", "MinIO", "client")
	for _, name := range m.order {
		var each []string
		for _, r := range m.runs[name] {
			each = append(each, fmt.Sprintf("%.0f", r.mibps()))
		}
		best := m.best(name)
		ratio, target, vsUnsigned := "", "", ""
		if r, ok := ratioOf[name]; ok {
			ratio, target = fmt.Sprintf("%.2f", r), "≥0.95 "+verdict(r >= 0.95)
		}
		if r, ok := ratioUnsigned[name]; ok {
			vsUnsigned = fmt.Sprintf("%.2f", r)
		}
		minioCPU := "n/a"
		if haveMinIO {
			minioCPU = fmt.Sprintf("%.1f", best.minio)
		}
		fmt.Fprintf(w, "%-32s %-19s %6.0f %6s %-11s %11s %8.1f %8s %8.1f\n", name, strings.Join(each, " "), best.mibps(), ratio, target, vsUnsigned, best.server, minioCPU, best.client)
	}
	up := float64(uploadKiB) / 1024
	fmt.Fprintf(w, "server peak RSS (VmHWM): %.1f MiB after login, %.1f MiB after the uploads (target ≤96: %s), %.1f MiB after the downloads\n",
		float64(idleKiB)/1024, up, verdict(up <= 96), float64(downloadKiB)/1024)
	fmt.Fprintf(w, "best = fastest run; ratio = ours/direct (minio-go defaults) best MiB/s; vs unsigned = ours/direct-PutObject-unsigned;\n")
	fmt.Fprintf(w, "server, MinIO, client = user+sys CPU seconds of each process during that best run (2 CPUs: at most 2 s per second)\n\n")
	fmt.Print(w.String())
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

// tusUploadFile uploads the file at path through tus in PATCHes of chunk
// bytes and returns the evidence id. Each PATCH body is read from the
// file at its offset, so the client streams from disk.
func tusUploadFile(tb testing.TB, c *harness.Client, caseID, path string, size, chunk int64) string {
	tb.Helper()
	loc := c.CreateUpload(caseID, filepath.Base(path), size)
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			tb.Fatal(err)
		}
		// A LimitedReader, not the bare file: the transport checks that the
		// body ends at Content-Length, and the client then copies through
		// user space like the minio-go client does (no sendfile).
		resp := c.Patch(loc, off, io.LimitReader(f, n), n)
		f.Close()
		if resp.StatusCode != http.StatusNoContent {
			tb.Fatalf("PATCH at %d: got %d", off, resp.StatusCode)
		}
		if off+n == size {
			id := resp.Header.Get("Evidence-Id")
			if id == "" {
				tb.Fatal("last PATCH: no Evidence-Id")
			}
			return id
		}
	}
	tb.Fatal("upload did not complete")
	return ""
}

// minioBench is what a benchmark that moves files through one server on
// the test MinIO starts from: the server, the flags that put its records
// in its data folder and its files in MinIO (for a second server on the
// same data), that MinIO, and the demo applicant logged in, with a case of
// theirs.
type minioBench struct {
	srv   *harness.Proc
	flags []string
	cfg   objects.MinIOConfig
	app   *harness.Client
	cs    domain.Case
}

// startMinIOBench starts a minioBench's server on the data folder with
// extra flags ("--jobs", "1"), logs the applicant in and opens the case.
func startMinIOBench(tb testing.TB, data string, extra ...string) *minioBench {
	tb.Helper()
	m := &minioBench{cfg: testenv.MinIOConfig(tb)}
	m.flags = append([]string{"--data", data}, harness.S3Flags(m.cfg)...)
	m.srv = harness.StartServer(tb, append(slices.Clip(m.flags), extra...)...)
	m.app = harness.Login(tb, m.srv.URL, "applicant", m.srv.Demo["applicant"])
	m.cs = m.app.NewCase()
	return m
}

// directMinIO is a minio-go client of the server's MinIO and bucket (the
// server made it) and the MinIO process's id: the baseline of the
// benchmarks that compare our path with MinIO's.
func (m *minioBench) directMinIO(tb testing.TB) (*objects.MinIO, int) {
	tb.Helper()
	direct, err := objects.NewMinIO(context.Background(), m.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return direct, findMinIOPID(m.cfg.Endpoint)
}

// discard is io.Discard without ReadFrom, so io.CopyBuffer uses our buffer
// instead of io.Discard's small one.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// procStatusKiB reads a "kB" field such as VmHWM from /proc/PID/status.
func procStatusKiB(tb testing.TB, pid int, field string) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU is a process's user+system CPU seconds from /proc/PID/stat, or 0
// when pid is 0 or unreadable.
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after "(comm)": state is the first, utime the 12th and
	// stime the 13th (proc(5) fields 14 and 15), in USER_HZ = 100 ticks.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// findMinIOPID finds the MinIO server listening on endpoint by its command
// line, or returns 0.
func findMinIOPID(endpoint string) int {
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "minio" && args[1] == "server" && strings.Contains(string(cmd), "\x00"+endpoint+"\x00") {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	if len(pids) != 1 {
		return 0
	}
	return pids[0]
}

// minioDataDir is the directory the MinIO process pid serves, or "" if
// unknown: the argument after "server" in the command line findMinIOPID
// matched ("minio server DIR …", as scripts/with-minio.sh starts it).
func minioDataDir(pid int) string {
	if pid == 0 {
		return ""
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(string(cmd), "\x00")
	if len(args) < 3 || args[1] != "server" || strings.HasPrefix(args[2], "-") {
		return ""
	}
	return args[2]
}

// evictPageCache drops the cached pages of every file under dir
// (posix_fadvise DONTNEED: clean pages go; the sync before makes them
// clean). It needs only read access to the files.
func evictPageCache(tb testing.TB, dir string) {
	if dir == "" {
		return
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // a file removed meanwhile, or not a file
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		tb.Fatalf("evict the page cache of %s: %v", dir, err)
	}
}

// benchSizeAndRounds reads the size (SITEINSPECT_BENCH_MIB, default 1 GiB)
// and the runs of each path (SITEINSPECT_BENCH_ROUNDS, default rounds) of
// the transfer benchmarks.
func benchSizeAndRounds(b *testing.B, rounds int) (int64, int) {
	b.Helper()
	size := int64(1) << 30
	if v := os.Getenv("SITEINSPECT_BENCH_MIB"); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mib < 1 {
			b.Fatalf("SITEINSPECT_BENCH_MIB=%q: want a whole number of MiB", v)
		}
		size = mib << 20
	}
	if v := os.Getenv("SITEINSPECT_BENCH_ROUNDS"); v != "" {
		if rounds, _ = strconv.Atoi(v); rounds < 1 {
			b.Fatalf("SITEINSPECT_BENCH_ROUNDS=%q: want a positive number", v)
		}
	}
	return size, rounds
}
