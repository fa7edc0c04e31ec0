package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// benchNote is an annotation as the benchmark made it and as the API lists it.
type benchNote struct {
	ID      string `json:"id"`
	Body    string `json:"body"`
	StartMS *int64 `json:"start_ms"`
	j       int    // the client's count when it made it
	raw     []byte // the create's answer, without its newline
}

// benchOfficer is one client of BenchmarkAnnotations10k: its own inspector,
// logged in with its own session, assigned to its own case.
type benchOfficer struct {
	token, caseID, video string
	made                 []benchNote // in position order once the creates are done
}

// BenchmarkAnnotations10k: 50 inspectors, each its own user with its own
// login, each assigned to its own case (only a case's officers may
// annotate it), create 200 annotations apiece on their case's 20 s video
// at the same time through the API: 10,000 in the database. Then each
// reads 100 pages of 100 from a random playhead (5,000 pages), and every
// page is checked against what that client created: the count, the order
// (by time) and each annotation's id and body. Last, the report of the
// first case, whose first 100 annotations are tied to a checklist item
// with a shape, is timed, and checked: its JSON lists those 100 at their
// frames in time order, and the PDF holds 100 pictures, each showing the
// number of its annotation's frame (the first case's clip shows each
// frame's number). Targets: create p99 < 30 ms, list p99 < 50 ms.
//
// It runs once per database, side by side in one run: the server on the
// embedded SQLite file (sub-benchmark "sqlite"), then on PostgreSQL
// ("postgres", a fresh database on SITEINSPECT_TEST_PG_URL, which
// scripts/with-postgres.sh provides), and prints both rows together.
func BenchmarkAnnotations10k(b *testing.B) {
	if testing.Short() {
		b.Skip("makes 10,000 annotations; not in -short")
	}
	figs := map[string]annotationFigures{}
	dialects := []string{"sqlite", "postgres"}
	for _, dialect := range dialects {
		b.Run(dialect, func(b *testing.B) { figs[dialect] = benchAnnotations(b, dialect) })
	}
	fmt.Printf("\nannotations side by side (one run, one machine; load average now %s):\n", harness.LoadAverage())
	fmt.Printf("  %-9s %22s %10s %22s %10s %10s\n", "database", "create p50 / p99 ms", "creates/s", "list p50 / p99 ms", "lists/s", "report s")
	for _, d := range dialects {
		if f, ok := figs[d]; ok {
			fmt.Printf("  %-9s %10.1f / %7.1f %10.0f %10.1f / %7.1f %10.0f %10.1f\n", d, f.createP50, f.createP99, f.createRate, f.listP50, f.listP99, f.listRate, f.report)
			annotationTargets(b, d, f)
		}
	}
}

// postgresCPU is the user+system CPU seconds of every process of this
// machine named postgres (the server and its backends), from /proc.
func postgresCPU() float64 {
	dirs, _ := os.ReadDir("/proc")
	var sum float64
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			sum += procCPU(pid)
		}
	}
	return sum
}

// annotationFigures are what one run of benchAnnotations measured.
type annotationFigures struct {
	createP50, createP99, createRate float64 // ms, ms, per second
	listP50, listP99, listRate       float64
	report                           float64 // seconds for report.pdf
}

// benchAnnotations is BenchmarkAnnotations10k on one database: "sqlite"
// (the file in the server's data folder) or "postgres".
func benchAnnotations(b *testing.B, dialect string) annotationFigures {
	const clients, perClient, framed, pages = 50, 200, 100, 100
	data := b.TempDir()
	var dbArgs []string
	if dialect == "postgres" {
		dbArgs = []string{"--db", testenv.PostgresURL(b)}
	}
	fmt.Printf("\n%s: load average before %s\n", dialect, harness.LoadAverage())
	passwords := make([]string, clients)
	for i := range clients {
		passwords[i] = fmt.Sprintf("bench-%d-%x", i, rand.Uint64())
		if _, _, err := harness.Run(b, passwords[i]+"\n", append([]string{"user", "add", "--data", data, "--username", fmt.Sprintf("insp%02d", i), "--role", "inspector",
			"--display-name", fmt.Sprintf("检查员 %02d", i), "--org", "binhai"}, dbArgs...)...); err != nil {
			b.Fatalf("user add insp%02d: %v", i, err)
		}
	}
	srv := harness.StartServer(b, append(append([]string{"--data", data, "--jobs", "2"}, dbArgs...), harness.S3Args(b)...)...)
	app := harness.Login(b, srv.URL, "applicant", srv.Demo["applicant"])

	// The first case's clip is the numbered one, scaled to 1280x720 so the
	// report draws frames of a phone's size; the others get a small clip
	// of the same length, cheap to process.
	dir := b.TempDir()
	numbered := testenv.NumberedClip(b, filepath.Join(dir, "numbered.mp4"), 20)
	mainClip := filepath.Join(dir, "main.mp4")
	testenv.FFmpeg(b, "-i", numbered, "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "48", "-pix_fmt", "yuv420p", mainClip)
	smallClip := testenv.MakeMP4(b, dir, 20, "160x120")
	officers := make([]*benchOfficer, clients)
	for i := range officers {
		clip := smallClip
		if i == 0 {
			clip = mainClip
		}
		cs := app.NewCase()
		officers[i] = &benchOfficer{caseID: cs.ID, video: app.MustUploadFile(cs.ID, clip)}
	}
	for i, o := range officers {
		if ev := app.MustEvidenceDone(o.video, 5*time.Minute); ev.Status != domain.EvidenceReady {
			b.Fatalf("case %d video: got %q (%s), want ready", i, ev.Status, ev.StatusReason)
		}
		app.MustJSON("POST", "/api/v1/cases/"+o.caseID+"/submit", nil, http.StatusOK, nil)
		c := harness.Login(b, srv.URL, fmt.Sprintf("insp%02d", i), passwords[i])
		c.MustJSON("POST", "/api/v1/cases/"+o.caseID+"/assign", map[string]string{}, http.StatusOK, nil)
		o.token = c.Token
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}
	// do times one request, from sending it to reading the whole answer;
	// the status is 0 when there is no answer (the error is the body).
	var doInto func(buf *bytes.Buffer, token, method, path string, body []byte) (time.Duration, int, []byte)
	do := func(token, method, path string, body []byte) (time.Duration, int, []byte) {
		return doInto(nil, token, method, path, body)
	}
	// doInto is do reading the answer into buf (reset first; nil reads
	// into a new slice): each client of the load reuses its own, so that
	// the load generator, on the server's two cores, makes less garbage.
	doInto = func(buf *bytes.Buffer, token, method, path string, body []byte) (time.Duration, int, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return time.Since(start), 0, []byte(err.Error())
		}
		var out []byte
		if buf == nil {
			out, err = io.ReadAll(resp.Body)
		} else {
			buf.Reset()
			_, err = buf.ReadFrom(resp.Body)
			out = buf.Bytes()
		}
		resp.Body.Close()
		if err != nil {
			return time.Since(start), 0, []byte(err.Error())
		}
		return time.Since(start), resp.StatusCode, out
	}
	// Each annotation has its own time (90 ms apart, so every one is a
	// different frame), in an order other than creation's. The first
	// case's first 100 are tied to a checklist item and carry a shape
	// (below the frame number), so the report draws 100 frames.
	startOf := func(j int) int64 { return int64(100 + (j*77)%perClient*90) }
	body := func(i, j int) []byte {
		a := map[string]any{"body": fmt.Sprintf("case %d annotation %d: 消防通道检查", i, j), "start_ms": startOf(j), "severity": "info"}
		if i == 0 && j < framed {
			a["checklist_item"] = "fire-exits"
			a["shape"] = map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.75}, {0.5, 0.95}}}
		}
		out, _ := json.Marshal(a)
		return out
	}
	var failures, pagesByBytes atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			b.Errorf(format, args...)
		}
	}
	// load has every client do n requests one after another (a closed loop,
	// no think time), all clients at once; lat[i*n+k] is client i's k-th.
	load := func(n int, f func(i, k int) time.Duration) ([]time.Duration, time.Duration) {
		lat := make([]time.Duration, clients*n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range n {
					lat[i*n+k] = f(i, k)
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		slices.Sort(lat)
		return lat, took
	}
	// The bodies are made before the clock starts: encoding them is the
	// load generator's work, not the server's, and it shares the 2 cores.
	bodies := make([][]byte, clients*perClient)
	for i := range clients {
		for j := range perClient {
			bodies[i*perClient+j] = body(i, j)
		}
	}
	bufs := make([]bytes.Buffer, clients)
	// CPU seconds of the server process and of this one (the load
	// generator: its clients' requests, decoding and checks) per phase:
	// both run on the same 2 cores.
	pid := srv.Cmd.Process.Pid
	settleCPU(b)
	cpu0, gen0, pg0 := procCPU(pid), selfCPU(), postgresCPU()
	b.ResetTimer()
	created, ctook := load(perClient, func(i, j int) time.Duration {
		o := officers[i]
		d, code, out := do(o.token, "POST", "/api/v1/evidence/"+o.video+"/annotations", bodies[i*perClient+j])
		var a benchNote
		if code != http.StatusCreated || json.Unmarshal(out, &a) != nil || a.ID == "" || a.StartMS == nil || *a.StartMS != startOf(j) ||
			a.Body != fmt.Sprintf("case %d annotation %d: 消防通道检查", i, j) {
			fail("create %d on case %d: got %d %.200s, want 201 with the annotation", j, i, code, out)
		}
		a.j, a.raw = j, bytes.TrimSuffix(out, []byte("\n"))
		o.made = append(o.made, a)
		return d
	})
	for _, o := range officers {
		slices.SortFunc(o.made, func(x, y benchNote) int { return int(*x.StartMS - *y.StartMS) })
	}
	cpu1, gen1, pg1 := procCPU(pid), selfCPU(), postgresCPU()
	listed, ltook := load(pages, func(i, _ int) time.Duration {
		o := officers[i]
		from := int64(rand.IntN(19_000))
		d, code, out := doInto(&bufs[i], o.token, "GET", fmt.Sprintf("/api/v1/cases/%s/annotations?evidence_id=%s&limit=100&from=%d", o.caseID, o.video, from), nil)
		// The page: this case's annotations at or after from, by time, at most 100.
		first := slices.IndexFunc(o.made, func(a benchNote) bool { return *a.StartMS >= from })
		if first < 0 {
			first = len(o.made)
		}
		want := o.made[first:min(first+100, len(o.made))]
		// An answer that is, byte for byte, the JSON array of the creates'
		// own answers for want passes every check below (each of them was
		// decoded and checked when it was made), without decoding 60 KB;
		// any other answer is decoded and checked field by field.
		if code == http.StatusOK && isPageOf(out, want) {
			pagesByBytes.Add(1)
			return d
		}
		var got []benchNote
		if code != http.StatusOK || json.Unmarshal(out, &got) != nil {
			fail("list case %d from %d: got %d %.200s, want 200 with a list", i, from, code, out)
			return d
		}
		if len(got) != len(want) {
			fail("list case %d from %d: got %d annotations, want %d", i, from, len(got), len(want))
			return d
		}
		for k := range want {
			if got[k].ID != want[k].ID || got[k].Body != want[k].Body {
				fail("list case %d from %d: item %d is %s %q, want %s %q", i, from, k, got[k].ID, got[k].Body, want[k].ID, want[k].Body)
				break
			}
		}
		return d
	})
	cpu2, gen2, pg2 := procCPU(pid), selfCPU(), postgresCPU()
	b.StopTimer()
	pct := func(l []time.Duration, p int) float64 { return float64(l[len(l)*p/100].Microseconds()) / 1000 }
	total := clients * perClient
	b.ReportMetric(pct(created, 50), "create-p50-ms")
	b.ReportMetric(pct(created, 99), "create-p99-ms")
	b.ReportMetric(pct(listed, 50), "list-p50-ms")
	b.ReportMetric(pct(listed, 99), "list-p99-ms")
	fmt.Printf("\nannotations on %s, %d inspectors (own user and login each) on their own cases, on loopback; load average %s:\n", dialect, clients, harness.LoadAverage())
	// The targets are annotationTargets': the summary table puts these
	// p99s against them.
	fmt.Printf("  create %d: p50 %.1f ms, p99 %.1f ms, %.0f/s\n", total, pct(created, 50), pct(created, 99), float64(total)/ctook.Seconds())
	fmt.Printf("  list 100 of %d a case: p50 %.1f ms, p99 %.1f ms, %.0f/s; %d of %d pages checked byte for byte, the rest decoded\n",
		perClient, pct(listed, 50), pct(listed, 99), float64(clients*pages)/ltook.Seconds(), pagesByBytes.Load(), clients*pages)
	fmt.Printf("  CPU seconds, server / load generator: creates %.2f / %.2f, pages %.2f / %.2f\n", cpu1-cpu0, gen1-gen0, cpu2-cpu1, gen2-gen1)
	if dialect == "postgres" {
		fmt.Printf("  CPU seconds of PostgreSQL's processes (on the same 2 cores): creates %.2f, pages %.2f\n", pg1-pg0, pg2-pg1)
	}
	b.ReportMetric(cpu2-cpu1, "list-server-CPU-s")
	b.ReportMetric(gen2-gen1, "list-loadgen-CPU-s")
	if failures.Load() > 0 {
		b.Fatalf("%d requests got wrong answers", failures.Load())
	}

	// The report of the first case.
	o := officers[0]
	_, code, _ := do(o.token, "POST", "/api/v1/cases/"+o.caseID+"/findings", []byte(`{"checklist_item": "fire-exits", "result": "pass"}`))
	if code != http.StatusCreated {
		b.Fatalf("finding: got %d, want 201", code)
	}
	d, code, pdf := do(o.token, "GET", "/api/v1/cases/"+o.caseID+"/report.pdf", nil)
	if code != http.StatusOK {
		b.Fatalf("report: got %d, want 200", code)
	}
	b.ReportMetric(d.Seconds(), "report-100-frames-s")
	figs := annotationFigures{createP50: pct(created, 50), createP99: pct(created, 99), createRate: float64(total) / ctook.Seconds(),
		listP50: pct(listed, 50), listP99: pct(listed, 99), listRate: float64(clients*pages) / ltook.Seconds(), report: d.Seconds()}
	fmt.Printf("  report.pdf with %d annotated 1280x720 frames: %.1f s\n", framed, d.Seconds())
	_, code, js := do(o.token, "GET", "/api/v1/cases/"+o.caseID+"/report.json", nil)
	var rep struct {
		Checklist []struct {
			ID          string `json:"id"`
			Annotations []struct {
				ID      string `json:"id"`
				StartMS int64  `json:"start_ms"`
				Frame   *int64 `json:"frame"`
			} `json:"annotations"`
		} `json:"checklist"`
	}
	if code != http.StatusOK || json.Unmarshal(js, &rep) != nil {
		b.Fatalf("report.json: got %d %.200s", code, js)
	}
	var wantIDs, gotIDs []string
	for _, a := range o.made {
		if a.j < framed {
			wantIDs = append(wantIDs, a.ID)
		}
	}
	var frames []int64
	for _, it := range rep.Checklist {
		for _, a := range it.Annotations {
			gotIDs = append(gotIDs, a.ID)
			// A frame of a 29.97 fps clip lasts 1001/30 ms: the annotation's
			// frame is the one its time falls in, or the next.
			if a.Frame == nil || float64(a.StartMS) < float64(*a.Frame-1)*1001/30 || float64(a.StartMS) > float64(*a.Frame+1)*1001/30 {
				b.Errorf("report.json: annotation %s at %d ms has frame %v", a.ID, a.StartMS, a.Frame)
				continue
			}
			frames = append(frames, *a.Frame)
		}
	}
	if !slices.Equal(gotIDs, wantIDs) || !slices.IsSorted(frames) {
		b.Fatalf("report.json annotations: got %d %v at frames %v, want the %d framed ones in time order %v", len(gotIDs), gotIDs, frames, framed, wantIDs)
	}
	file := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		b.Fatal(err)
	}
	imgs, pics := harness.ReportImages(b, file)
	if len(imgs) != len(frames) {
		b.Fatalf("report.pdf: got %d images, want %d (one per annotated frame)", len(imgs), len(frames))
	}
	for k, img := range imgs {
		if img.W != 1280 || img.H != 720 {
			b.Errorf("report.pdf image %d: got %dx%d, want 1280x720", k, img.W, img.H)
		}
		if got := testenv.FrameNumber(pics[k]); got != frames[k] {
			b.Errorf("report.pdf image %d: shows frame %d, want %d", k, got, frames[k])
		}
	}
	return figs
}

// isPageOf tells whether page is the JSON array of want's creates' answers
// (benchNote.raw), in that order, and a newline, as the server writes a
// list: "[" raw "," raw … "]\n".
func isPageOf(page []byte, want []benchNote) bool {
	rest, ok := bytes.CutPrefix(page, []byte("["))
	for k, a := range want {
		if !ok || a.raw == nil {
			return false
		}
		if rest, ok = bytes.CutPrefix(rest, a.raw); ok && k < len(want)-1 {
			rest, ok = bytes.CutPrefix(rest, []byte(","))
		}
	}
	return ok && string(rest) == "]\n"
}

// TestIsPageOf holds BenchmarkAnnotations10k's byte check of a page to
// accepting exactly the array of the creates' answers.
func TestIsPageOf(t *testing.T) {
	a := benchNote{raw: []byte(`{"id":"a","body":"x"}`)}
	b := benchNote{raw: []byte(`{"id":"b","body":"y"}`)}
	for _, tc := range []struct {
		page string
		want []benchNote
		ok   bool
	}{
		{"[" + string(a.raw) + "," + string(b.raw) + "]\n", []benchNote{a, b}, true},
		{"[" + string(a.raw) + "]\n", []benchNote{a}, true},
		{"[]\n", nil, true},
		{"[" + string(b.raw) + "," + string(a.raw) + "]\n", []benchNote{a, b}, false},
		{"[" + string(a.raw) + "]\n", []benchNote{a, b}, false},
		{"[" + string(a.raw) + "," + string(b.raw) + "]\n", []benchNote{a}, false},
		{"[" + string(a.raw) + string(b.raw) + "]\n", []benchNote{a, b}, false},
		{"[" + string(a.raw) + "," + string(b.raw) + "]", []benchNote{a, b}, false},
		{"null\n", nil, false},
		{"[" + string(a.raw) + "]\n", []benchNote{{}}, false},
	} {
		if got := isPageOf([]byte(tc.page), tc.want); got != tc.ok {
			t.Errorf("isPageOf(%q, %d notes): got %v, want %v", tc.page, len(tc.want), got, tc.ok)
		}
	}
}
