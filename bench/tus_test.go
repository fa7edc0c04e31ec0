package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/internal/harness"
)

// shapedProxy is a TCP proxy that makes every connection through it look
// like one over a mobile or office link: rtt of added round-trip latency
// (half each way) and at most rate bytes a second in each direction, per
// connection, with a bounded queue in front of the bottleneck.
type shapedProxy struct {
	ln     net.Listener
	target string
	rtt    time.Duration
	rate   float64
}

func newShapedProxy(tb testing.TB, target string, rtt time.Duration, rate float64) *shapedProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &shapedProxy{ln: ln, target: target, rtt: rtt, rate: rate}
	go p.serve()
	tb.Cleanup(func() { ln.Close() })
	return p
}

// URL is the proxy's base URL.
func (p *shapedProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *shapedProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe carries src to dst: each segment leaves no sooner than half the rtt
// after it came in, and no sooner than the bottleneck has sent the ones
// before it at rate.
func (p *shapedProxy) pipe(dst, src net.Conn) {
	type segment struct {
		b  []byte
		at time.Time
	}
	// 64 segments of at most 16 KiB: a 1 MiB queue at the bottleneck.
	queue := make(chan segment, 64)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 16<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- segment{buf[:n], time.Now().Add(p.rtt / 2)}
			}
			if err != nil {
				return
			}
		}
	}()
	free := time.Now() // when the bottleneck is free again
	for s := range queue {
		free = later(free, s.at).Add(time.Duration(float64(len(s.b)) / p.rate * float64(time.Second)))
		time.Sleep(time.Until(free))
		if _, err := dst.Write(s.b); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
	for range queue {
		// Drain so the reader ends.
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// tusHTTP is a bare tus client for the benchmark: safe to use from several
// goroutines (it returns errors instead of failing the test).
type tusHTTP struct {
	base, token string
	http        *http.Client
}

func (c *tusHTTP) send(method, path string, body []byte, hdr map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// upload sends data as one upload (partial or not) in PATCHes of chunk
// bytes and returns its URL and the last response.
func (c *tusHTTP) upload(caseID string, data []byte, chunk int, hdr map[string]string) (string, *http.Response, error) {
	h := map[string]string{"Upload-Length": strconv.Itoa(len(data))}
	for k, v := range hdr {
		h[k] = v
	}
	resp, err := c.send("POST", "/api/v1/cases/"+caseID+"/uploads", nil, h)
	if err != nil {
		return "", nil, err
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		return "", nil, fmt.Errorf("create: got %d, want 201", resp.StatusCode)
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		resp, err = c.send("PATCH", loc, data[off:end], map[string]string{"Upload-Offset": strconv.Itoa(off)})
		if err != nil {
			return "", nil, err
		}
		if resp.StatusCode != http.StatusNoContent {
			return "", nil, fmt.Errorf("PATCH at %d: got %d, want 204", off, resp.StatusCode)
		}
	}
	return loc, resp, nil
}

// uploadParallel sends data as n partial uploads at once and joins them;
// it returns the evidence id.
func (c *tusHTTP) uploadParallel(caseID string, data []byte, n, chunk int) (string, error) {
	step := (len(data) + n - 1) / n
	locs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		part := data[i*step : min(len(data), (i+1)*step)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			locs[i], _, errs[i] = c.upload(caseID, part, chunk, map[string]string{"Upload-Concat": "partial"})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	resp, err := c.send("POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
		"Upload-Concat":   "final;" + strings.Join(locs, " "),
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("bench.mp4")),
	})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Evidence-Id") == "" {
		return "", fmt.Errorf("final: got %d, Evidence-Id %q; want 201 and an id", resp.StatusCode, resp.Header.Get("Evidence-Id"))
	}
	return resp.Header.Get("Evidence-Id"), nil
}

// BenchmarkTusParallelUpload compares one file sent as 4 partial uploads
// at once (tus concatenation, what the page does from 64 MiB) with the
// same file as one upload, both through a proxy that adds 80 ms of
// round-trip latency and caps every connection at 20 Mbit/s, as a phone
// on 4G or an office proxy does. Both use tus.js's 8 MiB chunks. The
// server stores into MinIO. SITEINSPECT_BENCH_TUS_MIB sets the file size
// (default 24); docs/BENCHMARKS.md has the figures.
func BenchmarkTusParallelUpload(b *testing.B) {
	size := 24 << 20
	if v := os.Getenv("SITEINSPECT_BENCH_TUS_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib < 1 {
			b.Fatalf("SITEINSPECT_BENCH_TUS_MIB=%q: want a whole number of MiB", v)
		}
		size = mib << 20
	}
	const (
		rtt   = 80 * time.Millisecond
		rate  = 20e6 / 8 // 20 Mbit/s in bytes a second
		chunk = 8 << 20
		parts = 4
	)
	path, sum := harness.MakeSource(b, b.TempDir(), int64(size))
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	p := harness.StartServer(b, harness.S3Args(b)...)
	px := newShapedProxy(b, strings.TrimPrefix(p.URL, "http://"), rtt, rate)
	app := harness.Login(b, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	// A fresh transport per run: the single upload keeps one connection,
	// the parallel one opens its four.
	client := func() *tusHTTP {
		return &tusHTTP{base: px.URL(), token: app.Token, http: &http.Client{Transport: &http.Transport{}}}
	}
	var one, four time.Duration
	settleCPU(b)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, resp, err := client().upload(cs.ID, data, chunk, map[string]string{"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("bench.mp4"))})
		if err != nil {
			b.Fatalf("one connection: %v", err)
		}
		one += time.Since(start)
		single := resp.Header.Get("Evidence-Id")

		start = time.Now()
		joined, err := client().uploadParallel(cs.ID, data, parts, chunk)
		if err != nil {
			b.Fatalf("%d partial uploads: %v", parts, err)
		}
		four += time.Since(start)
		b.StopTimer()
		for _, id := range []string{single, joined} {
			var ev struct {
				SHA256 string `json:"sha256"`
				Size   int    `json:"size"`
			}
			resp := app.Do("GET", "/api/v1/evidence/"+id, nil, nil)
			json.NewDecoder(resp.Body).Decode(&ev)
			resp.Body.Close()
			if ev.SHA256 != sum || ev.Size != size {
				b.Fatalf("evidence %s: got sha256 %s size %d, want %s %d", id, ev.SHA256, ev.Size, sum, size)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	mibps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / (1 << 20) / d.Seconds() }
	ratio := mibps(four) / mibps(one)
	b.ReportMetric(mibps(one), "MiB/s-1conn")
	b.ReportMetric(mibps(four), "MiB/s-4partials")
	b.ReportMetric(ratio, "x")
	fmt.Printf("\n%d MiB through %v RTT, %.0f Mbit/s per connection (the cap is %.2f MiB/s):\n", size>>20, rtt, rate*8/1e6, rate/(1<<20))
	fmt.Printf("  one upload, one connection:  %6.2f MiB/s  (%v)\n", mibps(one), (one / time.Duration(b.N)).Round(time.Millisecond))
	fmt.Printf("  %d partial uploads + final:   %6.2f MiB/s  (%v)\n", parts, mibps(four), (four / time.Duration(b.N)).Round(time.Millisecond))
	fmt.Printf("  ratio %.2fx (target >= 2.5x): %s\n", ratio, verdict(ratio >= 2.5))
}
