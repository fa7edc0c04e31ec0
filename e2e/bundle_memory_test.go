package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/storage"
)

// TestBundleOf2GiBRoundTripInFlatMemory: a case holding a 2 GiB original
// (a sparse file put in the disk store of a running server, recorded as
// evidence through the records) downloads as a bundle while the server
// process's resident memory grows by less than 64 MiB, and `siteinspect
// verify` checks that bundle with a peak resident memory under 96 MiB
// (verifyMaxRSS): both ends stream.
func TestBundleOf2GiBRoundTripInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2 GiB twice")
	}
	const size = 2 << 30
	ctx := context.Background()
	data := t.TempDir()
	p := harness.StartServer(t, "--data", data, "--jobs", "0")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	cs := app.NewCase()
	dir := t.TempDir()
	clip := filepath.Join(dir, "short.mp4")
	small := bytes.Repeat([]byte("0123456789abcdef"), 256)
	copy(small, "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1")
	if err := os.WriteFile(clip, small, 0o644); err != nil {
		t.Fatal(err)
	}
	app.MustUploadFile(cs.ID, clip)
	path := "/api/v1/cases/" + cs.ID
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	var me domain.User
	insp.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)

	// The 2 GiB original: an MP4 header, then a hole, in the server's
	// object directory, recorded through the same SQLite file.
	key := domain.EvidenceKey(cs.ID, "big")
	name := filepath.Join(data, "objects", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, small[:64], 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
	sum := fileSHA256(t, name)
	db, err := storage.OpenDB(ctx, filepath.Join(data, "siteinspect.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.AddObjectEvidence(ctx, domain.NewObjectEvidence{CaseID: cs.ID, Kind: domain.KindVideo, Filename: "walk.mp4",
		ContentType: "video/mp4", ObjectKey: key, SHA256: sum, Size: size, By: me.ID})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Download, sampling the server's resident memory.
	pid := p.Cmd.Process.Pid
	before := rssKiB(t, pid)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			if kb := rssKiB(t, pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	start := time.Now()
	resp := insp.Do("GET", path+"/bundle.zip", nil, nil)
	bundle := filepath.Join(dir, "bundle.zip")
	f, err := os.Create(bundle)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	f.Close()
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil || resp.StatusCode != http.StatusOK || n < size {
		t.Fatalf("bundle download: got %d, %d bytes, %v; want 200 and over 2 GiB", resp.StatusCode, n, err)
	}
	growth := peak.Load() - before
	t.Logf("server: %d MiB bundle in %s; resident %d MiB before, peak %d MiB (growth %d MiB)",
		n>>20, took.Round(time.Millisecond), before>>10, peak.Load()>>10, growth>>10)
	if growth >= 64<<10 {
		t.Errorf("the server's resident memory grew by %d MiB while the bundle streamed, want under 64 MiB", growth>>10)
	}

	// Verify offline, in a process of its own: its peak resident memory.
	start = time.Now()
	verify := exec.Command(harness.MustBinary(t), "verify", bundle)
	var out, errb bytes.Buffer
	verify.Stdout, verify.Stderr = &out, &errb
	err = verify.Run()
	took = time.Since(start)
	if err != nil || !strings.Contains(out.String(), "bundle intact: case "+cs.Number) {
		t.Fatalf("verify the 2 GiB bundle: got %v, stdout %q stderr %q; want it intact", err, out.String(), errb.String())
	}
	maxRSS := verify.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	t.Logf("verify: %s; peak resident %d MiB", took.Round(time.Millisecond), maxRSS>>10)
	if maxRSS >= verifyMaxRSS>>10 {
		t.Errorf("verify's peak resident memory was %d MiB on the 2 GiB bundle, want under %d MiB", maxRSS>>10, verifyMaxRSS>>20)
	}
}

// verifyMaxRSS bounds the verify command's peak resident memory on a
// 2 GiB bundle: the binary's own (about 30 MiB) and its buffers, far
// under a bundle's worth.
const verifyMaxRSS = 96 << 20

// rssKiB is the resident set size of process pid (VmRSS), in KiB.
func rssKiB(t *testing.T, pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0 // the process has ended; its last sample stands
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

func fileSHA256(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
