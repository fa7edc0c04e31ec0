// Package harness runs siteinspect as the end-to-end tests, the benchmarks
// and the command tests meet it: the binary built once per run, servers
// started as child processes on loopback (each with its own --data folder,
// and its own PostgreSQL database when SITEINSPECT_TEST_DB=postgres), and a
// client that logs in and speaks the API and tus.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"siteinspect/domain"
	"siteinspect/internal/pgtest"
	"siteinspect/internal/smtptest"
	"siteinspect/internal/testenv"
	"siteinspect/storage/objects"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// MustBinary builds siteinspect once per test run, so tests can run it as a
// separate process and kill it.
func MustBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "siteinspect-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "siteinspect")
		out, err := exec.Command("go", "build", "-o", binPath, "siteinspect").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// Proc is a siteinspect server running as a child process.
type Proc struct {
	Cmd    *exec.Cmd
	URL    string
	Demo   map[string]string // username → password, with --demo
	stderr *bytes.Buffer
	log    *lockedWriter // the writer of stderr
	done   chan struct{}
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Log is what the process has written to its stderr so far.
func (p *Proc) Log() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return p.stderr.String()
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)
var demoRE = regexp.MustCompile(`^\s+\w+\s+(\S+)\s+password: (\S+)$`)

// StartServer runs `siteinspect serve --listen 127.0.0.1:0 --demo` with the
// extra args (and a fresh --data folder unless they name one), waits for
// its URL and stops it (SIGTERM) at cleanup.
func StartServer(tb testing.TB, args ...string) *Proc {
	tb.Helper()
	return StartServerBinary(tb, MustBinary(tb), args...)
}

// StartServerBinary is StartServer with the server binary bin (another
// commit's build, for a benchmark that compares two).
func StartServerBinary(tb testing.TB, bin string, args ...string) *Proc {
	tb.Helper()
	if !slices.Contains(args, "--data") {
		// Never the shared ./data: each server gets its own records.
		args = append([]string{"--data", tb.TempDir()}, args...)
	}
	args = append(args, postgresFor(tb, args)...)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--demo"}, args...)...)
	// bcrypt's minimum: at the default cost the six demo users and the
	// logins cost each server start a second or more of CPU (a build of
	// an older commit, for a benchmark, ignores the variable).
	cmd.Env = append(os.Environ(), "SITEINSPECT_PASSWORD_COST=4")
	if _, bench := tb.(*testing.B); bench {
		// A benchmark uploads more than a company may in a day
		// (--company-daily-bytes, --company-daily-uploads); an older
		// build ignores the variables.
		cmd.Env = append(cmd.Env, "SITEINSPECT_COMPANY_DAILY_BYTES=1125899906842624", "SITEINSPECT_COMPANY_DAILY_UPLOADS=1000000000")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Demo: map[string]string{}, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.log = &lockedWriter{w: p.stderr}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := demoRE.FindStringSubmatch(line); m != nil {
				p.Demo[m[1]] = m[2]
			}
			if m := listenRE.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.URL = <-urlc:
	case <-p.done:
		tb.Fatalf("server exited before listening:\n%s", p.Log())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		tb.Fatalf("server did not start within 30s:\n%s", p.Log())
	}
	tb.Cleanup(func() { p.Stop(tb) })
	return p
}

// pgForData maps a --data folder to the PostgreSQL database its servers
// keep their records in, so that a server started again on the same folder
// (a restart, a kill) finds them.
var pgForData sync.Map

// postgresFor is the --db argument a server started with args gets when
// the run selects PostgreSQL (SITEINSPECT_TEST_DB=postgres, inside
// scripts/with-postgres.sh): a fresh database per --data folder, kept for
// the run (subtests may share a folder). It is nil on SQLite or when args
// name a --db.
func postgresFor(tb testing.TB, args []string) []string {
	tb.Helper()
	if !testenv.OnPostgres() || slices.Contains(args, "--db") {
		return nil
	}
	i := slices.Index(args, "--data")
	data := args[i+1]
	if u, ok := pgForData.Load(data); ok {
		return []string{"--db", u.(string)}
	}
	u := pgtest.URLForRun(tb)
	pgForData.Store(data, u)
	return []string{"--db", u}
}

// stop asks the server to shut down and waits for it.
func (p *Proc) Stop(tb testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
		tb.Errorf("server did not stop within 40s of SIGTERM")
	}
}

// kill ends the server with SIGKILL, as a crash would.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// lockedWriter serialises the writes of several goroutines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// S3Args are the serve flags that put objects into a fresh test bucket.
func S3Args(tb testing.TB) []string { return S3Flags(testenv.MinIOConfig(tb)) }

// S3Flags are the serve flags that put objects into c's bucket.
func S3Flags(c objects.MinIOConfig) []string {
	return []string{"--s3-endpoint", c.Endpoint, "--s3-access-key", c.AccessKey, "--s3-secret-key", c.SecretKey, "--s3-bucket", c.Bucket}
}

// Client talks to a running server as one user with a bearer token.
type Client struct {
	TB    testing.TB
	Base  string
	Token string
	HTTP  *http.Client
}

// WithToken is a Client of base that sends token: a login's, or a
// phone's publish token.
func WithToken(tb testing.TB, base, token string) *Client {
	return &Client{TB: tb, Base: base, Token: token, HTTP: &http.Client{}}
}

// Anonymous is a Client of base that has not logged in.
func Anonymous(tb testing.TB, base string) *Client { return WithToken(tb, base, "") }

// Login logs in as username and returns the Client holding its token.
func Login(tb testing.TB, base, username, password string) *Client {
	tb.Helper()
	c := Anonymous(tb, base)
	var out struct {
		Token string `json:"token"`
	}
	c.MustJSON("POST", "/api/v1/auth/login", map[string]string{"username": username, "password": password}, http.StatusOK, &out)
	c.Token = out.Token
	return c
}

// do sends a request and returns the response (body unread).
func (c *Client) Do(method, path string, body io.Reader, hdr map[string]string) *http.Response {
	c.TB.Helper()
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		c.TB.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cl, ok := hdr["Content-Length"]; ok {
		req.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.TB.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// mustJSON sends JSON, checks the status and decodes the answer into out.
func (c *Client) MustJSON(method, path string, in any, wantStatus int, out any) {
	c.TB.Helper()
	var body io.Reader
	hdr := map[string]string{}
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	resp := c.Do(method, path, body, hdr)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.TB.Fatalf("%s %s: got %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.TB.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// newCase opens a draft hotel case and returns it.
func (c *Client) NewCase() domain.Case {
	c.TB.Helper()
	var cs domain.Case
	c.MustJSON("POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "Harbour Hotel 港湾酒店", "site_address": "1 Harbour Rd, Binhai"}, http.StatusCreated, &cs)
	return cs
}

// createUpload starts a tus upload and returns its path.
func (c *Client) CreateUpload(caseID, filename string, size int64) string {
	c.TB.Helper()
	resp := c.Do("POST", "/api/v1/cases/"+caseID+"/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(size, 10),
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte(filename)),
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		c.TB.Fatalf("create upload: got %d, want 201", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v1/uploads/") {
		c.TB.Fatalf("create upload: Location %q", loc)
	}
	return loc
}

// patch sends one tus PATCH and returns the response (body closed).
func (c *Client) Patch(loc string, offset int64, body io.Reader, length int64) *http.Response {
	c.TB.Helper()
	resp := c.Do("PATCH", loc, body, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type": "application/offset+octet-stream", "Content-Length": strconv.FormatInt(length, 10),
	})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// offset asks the server where an upload stands (tus HEAD).
func (c *Client) Offset(loc string) int64 {
	c.TB.Helper()
	resp := c.Do("HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.TB.Fatalf("HEAD %s: got %d, want 200", loc, resp.StatusCode)
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		c.TB.Fatalf("HEAD %s: Upload-Offset %q", loc, resp.Header.Get("Upload-Offset"))
	}
	return n
}

// ListKeys lists the object keys under prefix, relative to it, sorted.
func ListKeys(tb testing.TB, m *objects.MinIO, prefix string) []string {
	tb.Helper()
	var keys []string
	for o := range m.Client().ListObjects(context.Background(), m.Bucket(), minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			tb.Fatal(o.Err)
		}
		keys = append(keys, strings.TrimPrefix(o.Key, prefix))
	}
	slices.Sort(keys)
	return keys
}

// Run runs the binary with args (a command other than serve: user add,
// audit verify, verify) to its end, stdin as its standard input, and
// returns what it wrote to stdout and stderr; the error of a non-zero exit
// carries stderr (where the binary prints its error).
func Run(tb testing.TB, stdin string, args ...string) (string, string, error) {
	tb.Helper()
	cmd := exec.Command(MustBinary(tb), args...)
	cmd.Env = append(os.Environ(), "SITEINSPECT_PASSWORD_COST=4")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %v: %w: %s", filepath.Base(cmd.Path), args, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// Main is a test package's TestMain: it runs m as testenv.Main does (a
// MinIO this package started is stopped at the end), then removes the
// binaries MustBinary and smtptest built (50 and 8 MB a run, left in the
// temp folder otherwise).
func Main(m interface{ Run() int }) { testenv.Main(removeBinaries{m}) }

type removeBinaries struct{ m interface{ Run() int } }

func (r removeBinaries) Run() int {
	code := r.m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	smtptest.RemoveBinary()
	return code
}
