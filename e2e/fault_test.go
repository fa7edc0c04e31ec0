package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
)

// Fault tests: the whole service, over HTTP, while one of its stores
// fails under it. Each failure must answer a retryable status with a
// stable code, record nothing half-done, and let the client finish once
// the store is back.

// ownMinIO is a MinIO server of one test's own, which the test may stop
// and start again on the same port and folder.
type ownMinIO struct {
	tb            testing.TB
	bin, dir      string
	addr, console string
	cmd           *exec.Cmd
	done          chan struct{}
	log           bytes.Buffer
}

const ownMinIOUser, ownMinIOPassword = "fault-test", "fault-test-secret"

// mustOwnMinIO starts a MinIO from bin/minio on a free loopback port with a
// fresh folder, and stops it at cleanup.
func mustOwnMinIO(tb testing.TB) *ownMinIO {
	tb.Helper()
	bin := filepath.Join(testenv.RepoRoot(tb), "bin", "minio")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("MinIO is not built at %s: run scripts/deps.sh test", bin)
	}
	m := &ownMinIO{tb: tb, bin: bin, dir: tb.TempDir(),
		addr:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb)),
		console: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb))}
	m.start()
	tb.Cleanup(m.stop)
	return m
}

// start runs the server and waits until it is ready for requests.
func (m *ownMinIO) start() {
	m.tb.Helper()
	m.cmd = exec.Command(m.bin, "server", m.dir, "--quiet", "--address", m.addr, "--console-address", m.console)
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+ownMinIOUser, "MINIO_ROOT_PASSWORD="+ownMinIOPassword, "MINIO_BROWSER=off")
	m.log.Reset()
	m.cmd.Stdout, m.cmd.Stderr = &m.log, &m.log
	if err := m.cmd.Start(); err != nil {
		m.tb.Fatalf("start MinIO: %v", err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.done)
	if err := testenv.WaitHTTP("http://"+m.addr+"/minio/health/ready", 60*time.Second); err != nil {
		m.stop()
		m.tb.Fatalf("MinIO on %s: %v\n%s", m.addr, err, m.log.String())
	}
}

// stop kills the server, as a crash or a pulled cable would, and waits
// for it to exit.
func (m *ownMinIO) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// serveArgs are the serve flags that store objects in this MinIO.
func (m *ownMinIO) serveArgs() []string {
	return []string{"--s3-endpoint", m.addr, "--s3-access-key", ownMinIOUser, "--s3-secret-key", ownMinIOPassword, "--s3-bucket", "fault"}
}

// errorBody is API.md's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// mustRetryable checks resp is a retryable failure: the status, a
// Retry-After of whole seconds, and the stable code.
func mustRetryable(tb testing.TB, what string, resp *http.Response, body []byte, wantStatus int, wantCode string) {
	tb.Helper()
	var eb errorBody
	json.Unmarshal(body, &eb)
	if resp.StatusCode != wantStatus || eb.Error.Code != wantCode {
		tb.Fatalf("%s: got %d %s, want %d with code %q", what, resp.StatusCode, body, wantStatus, wantCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
		tb.Fatalf("%s: got Retry-After %q, want a number of seconds", what, resp.Header.Get("Retry-After"))
	}
}

// TestFaultObjectStoreStops: MinIO dies in the middle of a multipart tus
// upload. The PATCH that needs it answers 503 storage_unavailable with
// Retry-After; the upload keeps the offset it acknowledged; once MinIO is
// back on the same port and folder the client resumes from HEAD and the
// object is byte-exact.
func TestFaultObjectStoreStops(t *testing.T) {
	m := mustOwnMinIO(t)
	_, data := mustNoisyMP4(t, t.TempDir(), "2")
	const part = 5 * mib
	if len(data) < 2*part+mib {
		t.Fatalf("test video: got %d bytes, want more than two 5 MiB parts", len(data))
	}
	p := harness.StartServer(t, append(m.serveArgs(), "--part-size-mib", "5")...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	loc := app.CreateUpload(cs.ID, "site.mp4", int64(len(data)))

	// Part 1 reaches MinIO while it runs.
	app.MustPatch(loc, data, 0, part+mib)

	m.stop()
	// This chunk fills part 2, which cannot be stored.
	began := time.Now()
	resp, body := app.PatchBody(loc, part+mib, data[part+mib:2*part+mib])
	t.Logf("PATCH with MinIO down: %d %s after %v", resp.StatusCode, bytes.TrimSpace(body), time.Since(began))
	mustRetryable(t, "PATCH with MinIO down", resp, body, http.StatusServiceUnavailable, domain.CodeStorageUnavailable)
	// The bytes received are acknowledged only as far as they are kept:
	// part 2 waits in the spool, so the offset may include it.
	off := app.Offset(loc)
	t.Logf("offset with MinIO down: %d", off)
	if off < part+mib || off > 2*part+mib {
		t.Fatalf("offset after the failed PATCH: got %d, want between %d and %d", off, part+mib, 2*part+mib)
	}
	var got struct {
		State string `json:"state"`
	}
	app.MustJSON("GET", "/api/v1/uploads/"+loc[len("/api/v1/uploads/"):], nil, http.StatusOK, &got)
	if got.State != domain.UploadOpen {
		t.Fatalf("upload state with MinIO down: got %q, want %q", got.State, domain.UploadOpen)
	}

	m.start()
	resp = app.MustPatch(loc, data, app.Offset(loc), int64(len(data)))
	id := resp.Header.Get("Evidence-Id")
	if id == "" {
		t.Fatal("last PATCH: got no Evidence-Id, want the new evidence item")
	}
	app.MustSameContent(id, data)
}

// TestFaultDatabaseLocked: another process holds SQLite's write lock (a
// BEGIN IMMEDIATE that never ends, as a stuck backup or a hand-run sqlite3
// would). Opening a case answers 503 database_unavailable once the
// server's busy timeout runs out; after the lock is gone the same request
// succeeds, and every case has its audit event: nothing was half-written.
func TestFaultDatabaseLocked(t *testing.T) {
	data := t.TempDir()
	p := harness.StartServer(t, "--data", data)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	app.NewCase()

	// The test's own connection waits its turn (the server may be
	// writing, a login or a job, when it asks); once it holds the lock,
	// the server's write must fail fast and cleanly.
	lock, err := sql.Open("sqlite", "file:"+filepath.Join(data, "siteinspect.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	ctx := context.Background()
	conn, err := lock.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	in, _ := json.Marshal(map[string]string{"permit_type": "hotel", "site_name": "Locked Hotel", "site_address": "2 Harbour Rd"})
	resp := app.Do("POST", "/api/v1/cases", bytes.NewReader(in), map[string]string{"Content-Type": "application/json"})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mustRetryable(t, "POST /cases with the database locked", resp, body, http.StatusServiceUnavailable, domain.CodeDatabaseUnavailable)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("release the write lock: %v", err)
	}
	conn.Close()

	app.NewCase()
	var cases, created, orphans int
	for q, v := range map[string]*int{
		`SELECT COUNT(*) FROM cases`:                                      &cases,
		`SELECT COUNT(*) FROM audit_events WHERE action = 'case.created'`: &created,
		`SELECT COUNT(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.case_id = c.id AND a.action = 'case.created')`: &orphans,
	} {
		if err := lock.QueryRowContext(ctx, q).Scan(v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if cases != 2 || created != 2 || orphans != 0 {
		t.Fatalf("after the lock: got %d cases, %d case.created events, %d cases without one; want 2, 2, 0", cases, created, orphans)
	}
	db, err := storage.OpenDB(ctx, filepath.Join(data, "siteinspect.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain after the lock: %v (after %d good events)", err, n)
	}
}

// mustTmpfs mounts a tmpfs of size bytes on a fresh folder and unmounts it
// at cleanup (after anything registered later, such as a server using it,
// has stopped).
func mustTmpfs(tb testing.TB, size int64) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "small")
	if err := os.Mkdir(dir, 0o750); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			tb.Skipf("mount a tmpfs: %v (this test needs root)", err)
		}
		tb.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// freeBytes is the space left on the file system holding dir.
func freeBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		tb.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestFaultDiskFull: the data disk (which holds the tus spool) fills up
// during a PATCH. It answers 507 disk_full with Retry-After, the offset
// HEAD reports stays one the server can finish from, and once space is
// freed the upload resumes and completes byte-exact.
func TestFaultDiskFull(t *testing.T) {
	_, data := mustNoisyMP4(t, t.TempDir(), "2")
	const part = 5 * mib
	small := mustTmpfs(t, 8*mib)
	// The database lives elsewhere: this is the spool's disk filling up.
	args := append([]string{"--data", small, "--db", filepath.Join(t.TempDir(), "siteinspect.db"), "--part-size-mib", "5"}, harness.S3Args(t)...)
	p := harness.StartServer(t, args...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	loc := app.CreateUpload(cs.ID, "site.mp4", int64(len(data)))
	app.MustPatch(loc, data, 0, mib)

	// Leave 2 MiB free, then send 3 MiB more.
	filler := filepath.Join(small, "filler")
	if err := os.WriteFile(filler, make([]byte, freeBytes(t, small)-2*mib), 0o600); err != nil {
		t.Fatalf("fill the disk: %v", err)
	}
	resp, body := app.PatchBody(loc, mib, data[mib:4*mib])
	t.Logf("PATCH on a full disk: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	mustRetryable(t, "PATCH on a full disk", resp, body, http.StatusInsufficientStorage, domain.CodeDiskFull)
	off := app.Offset(loc)
	t.Logf("offset after the full disk: %d", off)
	if off < mib || off > 4*mib {
		t.Fatalf("offset after the full disk: got %d, want between %d and %d", off, mib, 4*mib)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Chunks end on part boundaries, so the spool never holds more than
	// one part on the 8 MiB disk.
	var last *http.Response
	for from := off; from < int64(len(data)); {
		to := min((from/part+1)*part, int64(len(data)))
		last = app.MustPatch(loc, data, from, to)
		from = to
	}
	id := last.Header.Get("Evidence-Id")
	if id == "" {
		t.Fatal("last PATCH: got no Evidence-Id, want the new evidence item")
	}
	app.MustSameContent(id, data)
}
