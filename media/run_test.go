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
