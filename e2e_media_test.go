package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// toolProcs lists the pids of media tools whose command line mentions dir
// (the server's work folder): the ones our jobs started.
func toolProcs(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(string(b), dir) {
			continue
		}
		switch filepath.Base(args[0]) {
		case "ffmpeg", "ffprobe", "pdftoppm", "pdfinfo", "pdftotext", "prlimit":
			pids = append(pids, pid)
		}
	}
	return pids
}

// mustEvidenceDone polls until the evidence leaves processing.
func (c *client) mustEvidenceDone(id string, within time.Duration) storage.Evidence {
	c.tb.Helper()
	deadline := time.Now().Add(within)
	for {
		var ev storage.Evidence
		c.mustJSON("GET", "/api/v1/evidence/"+id, nil, http.StatusOK, &ev)
		if ev.Status != storage.EvidenceProcessing {
			return ev
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("evidence %s still processing after %s", id, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mustUploadFile uploads a file in one PATCH and returns the evidence id.
func (c *client) mustUploadFile(caseID, path string) string {
	c.tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		c.tb.Fatal(err)
	}
	loc := c.createUpload(caseID, filepath.Base(path), int64(len(data)))
	resp := c.patch(loc, 0, bytes.NewReader(data), int64(len(data)))
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") == "" {
		c.tb.Fatalf("upload %s: got %d, want 204 with Evidence-Id", path, resp.StatusCode)
	}
	return resp.Header.Get("Evidence-Id")
}

// makeHEVC writes an HEVC MP4 (not playable in browsers: it needs a proxy).
func makeHEVC(tb testing.TB, dir, name string, seconds int, size string) string {
	p := filepath.Join(dir, name)
	testenv.FFmpeg(tb, "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", fmt.Sprint(seconds), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", p)
	return p
}

// TestTranscodeSurvivesKill: the server is killed with SIGKILL while ffmpeg
// makes a proxy; after a restart the job runs again, the evidence ends
// ready, and no tool process, temp file or stray object is left.
func TestTranscodeSurvivesKill(t *testing.T) {
	data := t.TempDir()
	s3 := s3Args(t)
	args := append([]string{"--data", data, "--jobs", "1"}, s3...)
	p := startServer(t, args...)
	app := login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.newCase()
	src := makeHEVC(t, t.TempDir(), "long.mp4", 20, "1280x720")
	id := app.mustUploadFile(cs.ID, src)
	work := filepath.Join(data, "work")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if procs := toolProcs(work); len(procs) > 0 && proxyRunning(procs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no proxy transcode seen within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	// The tools die with the server (their parent-death signal), not later.
	gone := time.Now().Add(5 * time.Second)
	for len(toolProcs(work)) > 0 {
		if time.Now().After(gone) {
			t.Fatalf("media tools still running 5s after the server was killed: %v", toolProcs(work))
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2 := startServer(t, args...)
	app2 := login(t, p2.URL, "applicant", p2.Demo["applicant"])
	ev := app2.mustEvidenceDone(id, 3*time.Minute)
	if ev.Status != storage.EvidenceReady || ev.Derived == nil || !ev.Derived.Proxy {
		t.Fatalf("after restart: got status %q (%s) derived %+v, want ready with a proxy", ev.Status, ev.StatusReason, ev.Derived)
	}
	resp := app2.do("GET", "/api/v1/evidence/"+id+"/playback", nil, map[string]string{"Range": "bytes=0-7"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("playback: got %d %s, want 206 video/mp4", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Fatalf("work folder after the job: got %d entries, want none", len(entries))
	}
	m := testenv.NewMinIOFor(t, s3)
	keys := listKeys(t, m, "cases/"+cs.ID+"/evidence/"+id+"/")
	want := []string{"derived/filmstrip.jpg", "derived/poster.jpg", "derived/proxy.mp4", "original"}
	if !slices.Equal(keys, want) {
		t.Fatalf("objects of the evidence: got %v, want %v", keys, want)
	}
}

func proxyRunning(pids []int) bool {
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(b), "proxy") {
			return true
		}
	}
	return false
}

// TestMediaBurst: 20 uploads at once do not start 20 ffmpegs — tools run
// one at a time (--jobs 1) — and the API stays responsive meanwhile.
func TestMediaBurst(t *testing.T) {
	data := t.TempDir()
	p := startServer(t, append([]string{"--data", data, "--jobs", "1"}, s3Args(t)...)...)
	app := login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.newCase()
	dir := t.TempDir()
	var files []string
	for i := range 20 {
		files = append(files, makeHEVC(t, dir, fmt.Sprintf("clip-%02d.mp4", i), 2, "640x360"))
	}
	work := filepath.Join(data, "work")
	stop := make(chan struct{})
	var maxTools int
	var lat []time.Duration
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			maxTools = max(maxTools, countTools(toolProcs(work)))
			start := time.Now()
			resp := app.do("GET", "/api/v1/cases/"+cs.ID, nil, nil)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ids := make([]string, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i] = app.mustUploadFile(cs.ID, f) }()
	}
	wg.Wait()
	for _, id := range ids {
		if ev := app.mustEvidenceDone(id, 3*time.Minute); ev.Status != storage.EvidenceReady || !ev.Derived.Proxy {
			t.Errorf("evidence %s: got %q (%s), want ready with a proxy", id, ev.Status, ev.StatusReason)
		}
	}
	close(stop)
	sampler.Wait()
	if maxTools != 1 {
		t.Errorf("media tools at once: got at most %d, want exactly 1 (the --jobs bound)", maxTools)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("GET /api/v1/cases/{id} during the burst: %d requests, p50 %s, p99 %s", len(lat), lat[len(lat)/2], p99)
	if p99 > 100*time.Millisecond {
		t.Errorf("p99 latency of a cheap GET during the burst: got %s, want < 100ms", p99)
	}
}

// countTools counts running tools, not the prlimit wrappers around them.
func countTools(pids []int) int {
	n := 0
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if name := filepath.Base(strings.Split(string(b), "\x00")[0]); name != "prlimit" {
			n++
		}
	}
	return n
}
