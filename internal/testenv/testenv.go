// Package testenv gives tests the real services they run against: a MinIO
// server (the one `make test` started, or one this package starts from
// bin/minio), fresh buckets, and media made with ffmpeg.
package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// The environment `make test` sets to share one MinIO among all packages.
const (
	EnvEndpoint  = "SITEINSPECT_TEST_S3_ENDPOINT"
	EnvAccessKey = "SITEINSPECT_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "SITEINSPECT_TEST_S3_SECRET_KEY"
)

var (
	once    sync.Once
	server  *exec.Cmd
	srvDir  string
	cfg     objects.MinIOConfig
	initErr error
)

// Main runs the package's tests and stops any MinIO this package started.
// Call it from TestMain with its *testing.M, or with a wrapper whose Run
// does more around m.Run (package bench prints its benchmarks' summary).
func Main(m interface{ Run() int }) {
	code := m.Run()
	removeRTCMedia()
	if server != nil {
		server.Process.Kill()
		server.Wait()
		os.RemoveAll(srvDir)
	}
	os.Exit(code)
}

// RepoRoot is the folder holding go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startMinIO(tb testing.TB) {
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		cfg = objects.MinIOConfig{Endpoint: ep, AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey)}
		return
	}
	bin := filepath.Join(RepoRoot(tb), "bin", "minio")
	if _, err := os.Stat(bin); err != nil {
		initErr = fmt.Errorf("MinIO is not built at %s: run `make test` (it builds and starts it) or `make minio`", bin)
		return
	}
	srvDir, initErr = os.MkdirTemp("", "siteinspect-minio-")
	if initErr != nil {
		return
	}
	port, console := FreePort(tb), FreePort(tb)
	cfg = objects.MinIOConfig{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: "siteinspect-test", SecretKey: "siteinspect-test-secret"}
	server = exec.Command(bin, "server", srvDir, "--quiet", "--address", cfg.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", console))
	server.Env = append(os.Environ(), "MINIO_ROOT_USER="+cfg.AccessKey, "MINIO_ROOT_PASSWORD="+cfg.SecretKey, "MINIO_BROWSER=off")
	if initErr = server.Start(); initErr != nil {
		return
	}
	initErr = WaitHTTP("http://"+cfg.Endpoint+"/minio/health/live", 60*time.Second)
}

// WaitHTTP polls url until it answers 200 or the timeout passes.
func WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last error: %v)", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MinIOConfig returns how to reach the test MinIO, with a fresh bucket
// name for this test (created when the store is opened).
func MinIOConfig(tb testing.TB) objects.MinIOConfig {
	tb.Helper()
	once.Do(func() { startMinIO(tb) })
	if initErr != nil {
		tb.Fatalf("MinIO: %v", initErr)
	}
	c := cfg
	c.Bucket = "t-" + strings.ToLower(rand.Text()[:20])
	return c
}

// NewMinIO opens a MinIO store on a fresh bucket.
func NewMinIO(tb testing.TB) *objects.MinIO {
	tb.Helper()
	m, err := objects.NewMinIO(context.Background(), MinIOConfig(tb))
	if err != nil {
		tb.Fatalf("open MinIO: %v", err)
	}
	return m
}

// NewDB opens a fresh database: a SQLite file in a temp folder, or a
// PostgreSQL database when SITEINSPECT_TEST_DB=postgres (see OnPostgres).
func NewDB(tb testing.TB) *storage.DB {
	tb.Helper()
	if OnPostgres() {
		return NewPostgresDB(tb)
	}
	return NewSQLiteDB(tb)
}

// NewSQLiteDB opens a fresh SQLite file in a temp folder.
func NewSQLiteDB(tb testing.TB) *storage.DB {
	tb.Helper()
	return openSeeded(tb, filepath.Join(tb.TempDir(), "test.db"))
}

// FFmpeg runs ffmpeg with args, failing the test with its output on error.
func FFmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// MakeMP4 writes an H.264/AAC MP4 test clip of the given length and size
// into dir and returns its path.
func MakeMP4(tb testing.TB, dir string, seconds int, size string) string {
	tb.Helper()
	p := filepath.Join(dir, fmt.Sprintf("clip-%ds-%s.mp4", seconds, size))
	FFmpeg(tb, "-f", "lavfi", "-i", "testsrc=size="+size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", p)
	return p
}

// NewMinIOFor opens the bucket named in serve flags (as s3Args builds
// them), to look at what a server process stored.
func NewMinIOFor(tb testing.TB, serveArgs []string) *objects.MinIO {
	tb.Helper()
	c := MinIOConfig(tb)
	for i := 0; i+1 < len(serveArgs); i++ {
		if serveArgs[i] == "--s3-bucket" {
			c.Bucket = serveArgs[i+1]
		}
	}
	m, err := objects.NewMinIO(context.Background(), c)
	if err != nil {
		tb.Fatalf("open MinIO: %v", err)
	}
	return m
}
