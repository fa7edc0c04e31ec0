package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"siteinspect/internal/testenv"
)

// BenchmarkAnnotations10k: 50 concurrent inspectors' clients create 10,000
// annotations on one case through the API, then list them a page at a
// time; and the report of the case, with 100 annotated frames, is timed.
// Targets: create p99 < 30 ms, list p99 < 50 ms.
func BenchmarkAnnotations10k(b *testing.B) {
	if testing.Short() {
		b.Skip("makes 10,000 annotations; not in -short")
	}
	const total, clients, framed = 10_000, 50, 100
	srv := startServer(b, append([]string{"--jobs", "1"}, s3Args(b)...)...)
	app := login(b, srv.URL, "applicant", srv.Demo["applicant"])
	insp := login(b, srv.URL, "inspector", srv.Demo["inspector"])
	cs := app.newCase()
	vid := app.mustUploadFile(cs.ID, testenv.MakeMP4(b, b.TempDir(), 20, "1280x720"))
	app.mustEvidenceDone(vid, 5*time.Minute)
	app.mustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	insp.mustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", map[string]string{}, http.StatusOK, nil)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}
	do := func(method, path string, body []byte) (time.Duration, int) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+insp.token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	// Spread over the clip: the first 100 at distinct frames, tied to a
	// checklist item with a shape, so the report draws 100 frames.
	body := func(i int) []byte {
		a := map[string]any{"body": fmt.Sprintf("annotation %d: 消防通道检查", i), "start_ms": (i * 1999) % 19_000, "severity": "info"}
		if i < framed {
			a["start_ms"] = 100 + i*180
			a["checklist_item"] = "fire-exits"
			a["shape"] = map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.1}, {0.5, 0.5}}}
		}
		out, _ := json.Marshal(a)
		return out
	}
	run := func(n int, f func(i int) (time.Duration, int)) ([]time.Duration, time.Duration) {
		var next atomic.Int64
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					d, code := f(i)
					if code >= 300 {
						b.Errorf("request %d: status %d", i, code)
						return
					}
					lat[i] = d
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		slices.Sort(lat)
		return lat, took
	}
	b.ResetTimer()
	created, ctook := run(total, func(i int) (time.Duration, int) {
		return do("POST", "/api/v1/evidence/"+vid+"/annotations", body(i))
	})
	listed, ltook := run(5_000, func(int) (time.Duration, int) {
		return do("GET", fmt.Sprintf("/api/v1/cases/%s/annotations?evidence_id=%s&limit=100&from=%d", cs.ID, vid, rand.IntN(19_000)), nil)
	})
	b.StopTimer()
	insp.mustJSON("POST", "/api/v1/cases/"+cs.ID+"/findings", map[string]any{"checklist_item": "fire-exits", "result": "pass"}, http.StatusCreated, nil)
	d, code := do("GET", "/api/v1/cases/"+cs.ID+"/report.pdf", nil)
	if code != http.StatusOK {
		b.Fatalf("report: status %d", code)
	}
	pct := func(l []time.Duration, p int) float64 { return float64(l[len(l)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(pct(created, 50), "create-p50-ms")
	b.ReportMetric(pct(created, 99), "create-p99-ms")
	b.ReportMetric(pct(listed, 50), "list-p50-ms")
	b.ReportMetric(pct(listed, 99), "list-p99-ms")
	b.ReportMetric(d.Seconds(), "report-100-frames-s")
	fmt.Printf("\nannotations, %d concurrent clients on loopback:\n", clients)
	fmt.Printf("  create %d: p50 %.1f ms, p99 %.1f ms (target < 30: %s), %.0f/s\n", total, pct(created, 50), pct(created, 99), verdict(pct(created, 99) < 30), float64(total)/ctook.Seconds())
	fmt.Printf("  list 100 of %d: p50 %.1f ms, p99 %.1f ms (target < 50: %s), %.0f/s\n", total, pct(listed, 50), pct(listed, 99), verdict(pct(listed, 99) < 50), 5000/ltook.Seconds())
	fmt.Printf("  report.pdf with %d annotated frames: %.1f s\n", framed, d.Seconds())
}
