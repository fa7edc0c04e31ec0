package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// BenchmarkDownload1GiB measures downloads of one 1 GiB original against a
// direct minio-go GetObject of the same object, side by side in one run:
//
//   - relayed: GET /api/v1/evidence/{id}/content through the server
//     (MinIO → server → client);
//   - redirect: the same GET on a server started with --direct-downloads,
//     which answers 307 to a presigned URL that the client follows to
//     MinIO;
//
// plus the relaying server's peak RSS (VmHWM) before and after its
// downloads. The relay phase also fetches a presigned URL straight from
// MinIO with our client (direct-plain-GET: the client code held equal),
// and SITEINSPECT_BENCH_BASELINE_BIN names another build of the server
// (an older commit's) that relays on the same records, alternating with
// this one. The object is uploaded once through tus; the relaying server
// is then stopped and the redirecting one started on the same data. Direct
// and ours alternate, SITEINSPECT_BENCH_ROUNDS times each (default 5; which
// of the two goes first changes each round), and each ratio compares best
// runs of one phase. SITEINSPECT_BENCH_MIB changes the size;
// SITEINSPECT_BENCH_PERF=FILE records the relaying server with `perf
// record -g` during its downloads.
func BenchmarkDownload1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("moves several GiB; not in -short")
	}
	size, rounds := benchSizeAndRounds(b, 5)
	tmp := b.TempDir()
	src, srcSum := harness.MakeSource(b, tmp, size)
	mb := startMinIOBench(b, filepath.Join(tmp, "data"))
	srv, app, cs := mb.srv, mb.app, mb.cs
	direct, minioPID := mb.directMinIO(b)
	app.HTTP = &http.Client{Transport: &http.Transport{WriteBufferSize: 1 << 20, ReadBufferSize: 1 << 20}}
	id := tusUploadFile(b, app, cs.ID, src, size, size)
	if ev := settleEvidence(b, app, id); ev.Size != size || ev.SHA256 != srcSum {
		b.Fatalf("evidence %s: size %d sha256 %s, want %d %s", ev.ID, ev.Size, ev.SHA256, size, srcSum)
	}
	key := domain.EvidenceKey(cs.ID, id)
	path := "/api/v1/evidence/" + id + "/content"

	buf := make([]byte, 1<<20)
	directGet := func() {
		obj, err := direct.Client().GetObject(context.Background(), direct.Bucket(), key, minio.GetObjectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer obj.Close()
		if n, err := io.CopyBuffer(discard{}, obj, buf); err != nil || n != size {
			b.Fatalf("direct GetObject: read %d bytes, %v; want %d", n, err, size)
		}
	}
	ours := func(c *harness.Client, what string) func() {
		return func() {
			resp := c.Do("GET", path, nil, nil)
			defer resp.Body.Close()
			n, err := io.CopyBuffer(discard{}, resp.Body, buf)
			if resp.StatusCode != http.StatusOK || err != nil || n != size {
				b.Fatalf("%s: %d, read %d bytes, %v; want 200 with %d", what, resp.StatusCode, n, err, size)
			}
		}
	}

	// The same client code as ours, straight to MinIO: what the hop costs
	// with the client held equal (minio-go's GetObject reads differently).
	plainGet := func() {
		u, err := direct.Client().PresignedGetObject(context.Background(), direct.Bucket(), key, time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := app.HTTP.Get(u.String())
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if n, err := io.CopyBuffer(discard{}, resp.Body, buf); resp.StatusCode != http.StatusOK || err != nil || n != size {
			b.Fatalf("direct presigned GET: %d, read %d bytes, %v; want 200 with %d", resp.StatusCode, n, err, size)
		}
	}
	// The same presigned GET relayed by HAProxy (splicing, no
	// authorisation, no audit): what the hop costs a relay built for
	// nothing else.
	hap, hapPID := startHAProxyRelay(b, mb.cfg.Endpoint)
	hapGet := func() {
		u, err := direct.Client().PresignedGetObject(context.Background(), direct.Bucket(), key, time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		u.Host = hap
		resp, err := app.HTTP.Get(u.String())
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if n, err := io.CopyBuffer(discard{}, resp.Body, buf); resp.StatusCode != http.StatusOK || err != nil || n != size {
			b.Fatalf("presigned GET through HAProxy: %d, read %d bytes, %v; want 200 with %d", resp.StatusCode, n, err, size)
		}
	}
	// SITEINSPECT_BENCH_BASELINE_BIN: another build of the server (say an
	// older commit's) relays too, on the same records, alternating with
	// this one.
	var base *harness.Proc
	var baseApp *harness.Client
	if bin := os.Getenv("SITEINSPECT_BENCH_BASELINE_BIN"); bin != "" {
		base = harness.StartServerBinary(b, bin, mb.flags...)
		baseApp = harness.Login(b, base.URL, "applicant", base.Demo["applicant"])
		baseApp.HTTP = app.HTTP
	}

	settleCPU(b)
	// Phase 1: relayed.
	relay := &benchMeter{b: b, pid: srv.Cmd.Process.Pid, minioPID: minioPID, size: size}
	rssBefore := procStatusKiB(b, srv.Cmd.Process.Pid, "VmHWM")
	stopPerf := perfRecord(b, srv.Cmd.Process.Pid)
	for r := 1; r <= rounds; r++ {
		inTurn(r,
			func() { relay.measure("direct-GetObject", directGet) },
			func() { relay.measure("relayed-GET-content", ours(app, "relayed GET content")) })
		relay.measure("direct-plain-GET", plainGet)
		relay.pid = hapPID
		relay.measure("relayed-by-HAProxy", hapGet)
		relay.pid = srv.Cmd.Process.Pid
		if base != nil {
			relay.pid = base.Cmd.Process.Pid
			relay.measure("relayed-by-baseline", ours(baseApp, "relayed GET content (baseline)"))
			relay.pid = srv.Cmd.Process.Pid
		}
	}
	stopPerf()
	if base != nil {
		base.Stop(b)
	}
	rssAfter := procStatusKiB(b, srv.Cmd.Process.Pid, "VmHWM")
	srv.Stop(b)

	// Phase 2: redirected to a presigned URL.
	srv2 := harness.StartServer(b, append(mb.flags, "--direct-downloads", "--direct-download-ttl", "60s")...)
	app2 := harness.Login(b, srv2.URL, "applicant", srv2.Demo["applicant"])
	// A browser sends no Authorization to another origin (MinIO's port);
	// Go's client would, as the host is the same, and MinIO refuses a
	// request signed twice.
	app2.HTTP = &http.Client{Transport: &http.Transport{WriteBufferSize: 1 << 20, ReadBufferSize: 1 << 20},
		CheckRedirect: func(r *http.Request, _ []*http.Request) error { r.Header.Del("Authorization"); return nil }}
	redir := &benchMeter{b: b, pid: srv2.Cmd.Process.Pid, minioPID: minioPID, size: size}
	for r := 1; r <= rounds; r++ {
		inTurn(r,
			func() { redir.measure("direct-GetObject", directGet) },
			func() { redir.measure("redirect-GET-content", ours(app2, "redirected GET content")) })
	}

	ratioRelay := relay.best("relayed-GET-content").mibps() / relay.best("direct-GetObject").mibps()
	ratioHAProxy := relay.best("relayed-GET-content").mibps() / relay.best("relayed-by-HAProxy").mibps()
	ratioRedir := redir.best("redirect-GET-content").mibps() / redir.best("direct-GetObject").mibps()
	w := &strings.Builder{}
	fmt.Fprintf(w, "\ndownloads vs direct minio-go GetObject, %d MiB object, same MinIO, %d CPUs, %s, %s\n",
		size>>20, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "%-8s %-22s %-30s %6s %6s %-10s %7s %7s %7s\n", "phase", "path", "runs MiB/s", "best", "ratio", "target", "server", "MinIO", "client")
	for _, ph := range []struct {
		name, ours string
		m          *benchMeter
		ratio      float64
		target     float64
	}{{"relayed", "relayed-GET-content", relay, ratioRelay, 0.95}, {"redirect", "redirect-GET-content", redir, ratioRedir, 0.98}} {
		for _, name := range ph.m.order {
			var each []string
			for _, r := range ph.m.runs[name] {
				each = append(each, fmt.Sprintf("%.0f", r.mibps()))
			}
			best := ph.m.best(name)
			ratio, target := "", ""
			if name == ph.ours {
				ratio, target = fmt.Sprintf("%.2f", ph.ratio), fmt.Sprintf("≥%.2f %s", ph.target, verdict(ph.ratio >= ph.target))
			}
			fmt.Fprintf(w, "%-8s %-22s %-30s %6.0f %6s %-10s %7.1f %7.1f %7.1f\n", ph.name, name, strings.Join(each, " "), best.mibps(), ratio, target, best.server, best.minio, best.client)
		}
	}
	fmt.Fprintf(w, "relayed by us / relayed by HAProxy (best runs): %.2f; HAProxy's CPU-s per GiB, mean of its runs: %.3f (in the server column)\n",
		ratioHAProxy, relay.meanServerPerGiB("relayed-by-HAProxy"))
	fmt.Fprintf(w, "relaying server CPU-s per GiB, mean of its runs: %.3f", relay.meanServerPerGiB("relayed-GET-content"))
	if base != nil {
		fmt.Fprintf(w, "; baseline build: %.3f", relay.meanServerPerGiB("relayed-by-baseline"))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "relaying server peak RSS (VmHWM): %.1f MiB before its downloads, %.1f MiB after\n", float64(rssBefore)/1024, float64(rssAfter)/1024)
	fmt.Fprintf(w, "best = fastest run; ratio = ours/direct best MiB/s within the phase; server, MinIO, client = CPU seconds of each process in that run\n\n")
	fmt.Print(w.String())
	target(b, "downloads relayed, ours/direct", ratioRelay, ">=", 0.95, "ratio")
	target(b, "downloads relayed, ours/HAProxy relaying", ratioHAProxy, "", 0, "ratio")
	target(b, "downloads redirected, ours/direct", ratioRedir, ">=", 0.98, "ratio")
	b.ReportMetric(float64(rssAfter)/1024, "relay-peak-RSS-MiB")
}

// startHAProxyRelay starts HAProxy on loopback in front of the MinIO at
// endpoint (host:port), splicing bodies, with the Host header MinIO's
// signatures name, and returns its address and pid.
func startHAProxyRelay(tb testing.TB, endpoint string) (string, int) {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb))
	cfg := fmt.Sprintf(`global
  maxconn 100
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  option splice-response
frontend relay
  bind %s
  http-request set-header Host %s
  default_backend minio
backend minio
  server m %s
`, addr, endpoint, endpoint)
	file := filepath.Join(tb.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(harness.HAProxyBinary(tb), "-f", file, "-db")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	harness.WaitFor(tb, 10*time.Second, "HAProxy to relay to MinIO", func() bool {
		resp, err := http.Get("http://" + addr + "/minio/health/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, cmd.Process.Pid
}

// inTurn runs a then b in odd rounds r, b then a in even ones, so that
// neither always comes first (and gets the store's pages first).
func inTurn(r int, a, b func()) {
	if r%2 == 0 {
		a, b = b, a
	}
	a()
	b()
}

// perfRecord starts `perf record -g` on pid when SITEINSPECT_BENCH_PERF
// names an output file, and returns what stops it.
func perfRecord(tb testing.TB, pid int) func() {
	return perfRecordTo(tb, pid, "")
}

// perfRecordTo is perfRecord to SITEINSPECT_BENCH_PERF's file with suffix
// after a dot, one file per recorded run.
func perfRecordTo(tb testing.TB, pid int, suffix string) func() {
	out := os.Getenv("SITEINSPECT_BENCH_PERF")
	if out == "" {
		return func() {}
	}
	if suffix != "" {
		out += "." + suffix
	}
	cmd := exec.Command("perf", "record", "-g", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("perf record: %v", err)
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}
