package media

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mustTools fails the test when a Debian package the media work needs is missing.
func mustTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			tb.Fatalf("%s not found: apt-get install -y ffmpeg poppler-utils libimage-exiftool-perl libheif-examples", n)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	r := Runner{Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := r.run(context.Background(), "sh", "-c", "sleep 100 & echo $! > "+pidFile+"; sleep 100")
	elapsed := time.Since(start)
	if !errors.Is(err, errTimeout) {
		t.Fatalf("got error %v, want a timeout", err)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("got return after %v, want promptly after the 300ms timeout", elapsed)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("read child pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("got background child %d still running, want it killed with the group", pid)
	}
}

func TestRunCancelReturnsContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := Runner{}.run(ctx, "sh", "-c", "sleep 100 & sleep 100")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("got return after %v, want promptly after cancel", d)
	}
}

func TestRunReapsBackgroundChildAfterExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	_, err := Runner{}.run(context.Background(), "sh", "-c", "sleep 100 >/dev/null 2>&1 & echo $! > "+pidFile)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	time.Sleep(100 * time.Millisecond)
	if pid == 0 || alive(pid) {
		t.Fatalf("got background child %d alive after the command returned, want it killed", pid)
	}
}

func TestRunReportsFailures(t *testing.T) {
	_, err := Runner{}.run(context.Background(), "sh", "-c", "echo oops >&2; exit 3")
	var ce *cmdError
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "oops") {
		t.Fatalf("got %v, want a cmdError quoting stderr", err)
	}
	_, err = Runner{}.run(context.Background(), "no-such-tool-here")
	if err == nil || !strings.Contains(err.Error(), "could not start") {
		t.Fatalf("got %v, want a could-not-start error", err)
	}
	out, err := Runner{}.run(context.Background(), "sh", "-c", "ulimit -v")
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(DefaultMemoryBytes/1024) {
		t.Fatalf("got ulimit -v %q (%v), want %d KiB", out, err, DefaultMemoryBytes/1024)
	}
}

// A watched command lives as long as its reported output time advances,
// past its idle limit many times over, and is stopped once it stops
// advancing (a repeated time is no progress), its process group with it.
func TestRunWatchedByProgress(t *testing.T) {
	lim := limits{wall: time.Minute, idle: 600 * time.Millisecond}
	start := time.Now()
	_, err := Runner{}.runWithin(context.Background(), lim, "sh", "-c",
		"for i in 1 2 3 4 5 6 7 8 9 10; do echo frame=$i; echo out_time_us=${i}000; sleep 0.25; done")
	if err != nil {
		t.Fatalf("progressing for %v under an idle limit of %v: %v", time.Since(start), lim.idle, err)
	}
	if took := time.Since(start); took < 2*lim.idle {
		t.Fatalf("the command took %v, want longer than twice the idle limit for the test to mean anything", took)
	}

	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start = time.Now()
	_, err = Runner{}.runWithin(context.Background(), lim, "sh", "-c",
		"sleep 100 & echo $! > "+pidFile+"; for i in 1 2 3 4 5 6 7 8; do echo out_time_us=5000; sleep 0.25; done; sleep 100")
	took := time.Since(start)
	if !errors.Is(err, errTimeout) || !strings.Contains(err.Error(), "no progress for 600ms") {
		t.Fatalf("got %v, want a timeout for no progress", err)
	}
	if took < lim.idle || took > 3*time.Second {
		t.Fatalf("stopped after %v, want soon after the idle limit (%v) with no time advancing", took, lim.idle)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for pid > 0 && alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 || alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("got background child %d of the stalled command alive, want it killed with the group", pid)
	}

	// The wall limit holds however steady the progress.
	start = time.Now()
	_, err = Runner{}.runWithin(context.Background(), limits{wall: 700 * time.Millisecond, idle: time.Minute}, "sh", "-c",
		"i=0; while true; do i=$((i+1)); echo out_time_us=$i; sleep 0.1; done")
	if !errors.Is(err, errTimeout) || !strings.Contains(err.Error(), "after 700ms") || time.Since(start) > 3*time.Second {
		t.Fatalf("got %v after %v, want a timeout after 700ms", err, time.Since(start))
	}
}

// What a pass over a whole video may take grows with the video.
func TestPassLimits(t *testing.T) {
	r := Runner{Timeout: 30 * time.Minute}
	if got := r.passLimits(60*60*1000, true); got.wall != 30*time.Minute+8*time.Hour || got.idle != 30*time.Minute {
		t.Errorf("an hour's video, watched: got %+v, want 8h30m in all and 30m without progress", got)
	}
	if got := r.passLimits(0, false); got.wall != 30*time.Minute || got.idle != 0 {
		t.Errorf("no length known: got %+v, want the timeout alone", got)
	}
	if got := r.limits(); got.wall != 30*time.Minute || got.idle != 0 {
		t.Errorf("other commands: got %+v, want the timeout alone", got)
	}
}
