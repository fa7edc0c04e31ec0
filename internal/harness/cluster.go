package harness

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for Handle

	"siteinspect/internal/testenv"
)

// Cluster is the deployment of deploy/compose.yaml on loopback, without
// containers: n siteinspect replicas, each with its own --data folder
// (nothing on one replica's disk is another's), on one PostgreSQL database
// and one MinIO bucket, behind HAProxy in round robin with no stickiness.
type Cluster struct {
	t        testing.TB
	pg       string
	Args     []string // every replica's flags but --listen, --data and --replica-id
	IDs      []string // the replicas' --replica-id
	Replicas []*Proc
	ports    []int
	Data     []string
	LB       string // the balancer's URL
	haproxy  *exec.Cmd
	Demo     map[string]string
	sql      *sql.DB
}

// HAProxyBinary is HAProxy's path, or the test fails saying how to
// install it.
func HAProxyBinary(tb testing.TB) string {
	tb.Helper()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy" // Debian's, off a non-root PATH
		if _, err := os.Stat(haproxy); err != nil {
			tb.Fatal("haproxy is not installed: run scripts/deps.sh test")
		}
	}
	return haproxy
}

// StartCluster starts n replicas (one after another: each --demo start
// gives the demo users new passwords, so the last one's hold) and HAProxy
// in front of them.
func StartCluster(t testing.TB, n int, extra ...string) *Cluster {
	t.Helper()
	haproxy := HAProxyBinary(t)
	c := &Cluster{t: t, pg: testenv.PostgresURL(t)}
	// A replica told to stop fails /readyz for --drain-grace while it still
	// serves, so that the balancer's checks (every 300 ms, out after 2
	// failures) take it out before it stops accepting. Live recordings go
	// to the object store a second at a time, so losing a replica loses at
	// most about a second of one.
	c.Args = append(append([]string{"--db", c.pg, "--jobs", "1", "--webrtc-loopback", "--drain-grace", "1s", "--live-segment", "1s"}, S3Args(t)...), extra...)
	for i := range n {
		c.ports = append(c.ports, testenv.FreePort(t))
		c.Data = append(c.Data, filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d", i+1)))
		c.IDs = append(c.IDs, fmt.Sprintf("r%d", i+1))
		c.Replicas = append(c.Replicas, nil)
		c.Start(i)
	}

	lbPort := testenv.FreePort(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend siteinspect
  bind 127.0.0.1:%d
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 300ms fall 2 rise 1
`, lbPort)
	for i, p := range c.ports {
		fmt.Fprintf(&cfg, "  server r%d 127.0.0.1:%d check\n", i+1, p)
	}
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c.haproxy = exec.Command(haproxy, "-f", file, "-db")
	var out bytes.Buffer
	c.haproxy.Stdout, c.haproxy.Stderr = &out, &out
	if err := c.haproxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.haproxy.Process.Kill(); c.haproxy.Wait() })
	c.LB = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	WaitFor(t, 10*time.Second, "HAProxy to pass requests", func() bool {
		resp, err := http.Get(c.LB + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// Start starts replica i on its own port and data folder. The first start
// of each makes the demo users (each --demo start gives them new passwords
// and so ends their sessions: the last one's hold); a restart does not, as
// a real deployment's does not.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	args := append([]string{"--listen", "127.0.0.1:" + strconv.Itoa(c.ports[i]), "--data", c.Data[i], "--replica-id", c.IDs[i]}, c.Args...)
	restart := c.Replicas[i] != nil
	if restart {
		args = append(args, "--demo=false")
	}
	c.Replicas[i] = StartServer(c.t, args...)
	if !restart {
		c.Demo = c.Replicas[i].Demo
	}
}

// Handle is the test's own handle on the cluster's database, opened at
// the first call.
func (c *Cluster) Handle(tb testing.TB) *sql.DB {
	tb.Helper()
	if c.sql == nil {
		db, err := sql.Open("pgx", c.pg)
		if err != nil {
			tb.Fatal(err)
		}
		db.SetMaxOpenConns(2)
		c.sql = db
		c.t.Cleanup(func() { db.Close() })
	}
	return c.sql
}

// Count runs a COUNT-like query on the cluster's database.
func (c *Cluster) Count(tb testing.TB, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := c.Handle(tb).QueryRow(q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// AuditIntact checks the chain as `siteinspect audit verify` sees it, and
// that its sequence has no gap.
func (c *Cluster) AuditIntact(t *testing.T) {
	t.Helper()
	events := c.Count(t, `SELECT COUNT(*) FROM audit_events`)
	if lo, hi := c.Count(t, `SELECT MIN(seq) FROM audit_events`), c.Count(t, `SELECT MAX(seq) FROM audit_events`); lo != 1 || hi != events {
		t.Errorf("audit seqs: got %d..%d for %d events, want 1..%d without gaps", lo, hi, events, events)
	}
	out, errb, err := Run(t, "", "audit", "verify", "--data", t.TempDir(), "--db", c.pg)
	if want := fmt.Sprintf("audit chain intact: %d events", events); err != nil || !strings.HasPrefix(out, want) {
		t.Errorf("audit verify: got %v %q %s, want %q", err, out, errb, want)
	}
}
