package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to count rows
)

// cluster is the deployment of deploy/compose.yaml on loopback, without
// containers: n siteinspect replicas, each with its own --data folder
// (nothing on one replica's disk is another's), on one PostgreSQL database
// and one MinIO bucket, behind HAProxy in round robin with no stickiness.
type cluster struct {
	t        *testing.T
	pg       string
	args     []string // every replica's flags but --listen and --data
	replicas []*proc
	ports    []int
	data     []string
	lb       string // the balancer's URL
	haproxy  *exec.Cmd
	demo     map[string]string
}

// freePort returns a loopback port nobody listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts n replicas (one after another: each --demo start
// gives the demo users new passwords, so the last one's hold) and HAProxy
// in front of them.
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy" // Debian's, off a non-root PATH
		if _, err := os.Stat(haproxy); err != nil {
			t.Fatal("haproxy is not installed: run scripts/deps.sh test")
		}
	}
	c := &cluster{t: t, pg: testenv.PostgresURL(t)}
	c.args = append(append([]string{"--db", c.pg, "--jobs", "1"}, s3Args(t)...), extra...)
	for i := range n {
		c.ports = append(c.ports, freePort(t))
		c.data = append(c.data, filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d", i+1)))
		c.replicas = append(c.replicas, nil)
		c.start(i)
	}
	c.demo = c.replicas[n-1].Demo

	lbPort := freePort(t)
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
  option httpchk GET /healthz
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
	c.lb = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	waitFor(t, 10*time.Second, "HAProxy to pass requests", func() bool {
		resp, err := http.Get(c.lb + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// start starts replica i on its own port and data folder.
func (c *cluster) start(i int) {
	c.t.Helper()
	args := append([]string{"--listen", "127.0.0.1:" + strconv.Itoa(c.ports[i]), "--data", c.data[i]}, c.args...)
	c.replicas[i] = startServer(c.t, args...)
}

// db opens the cluster's database, to count rows.
func (c *cluster) db() *sql.DB {
	c.t.Helper()
	db, err := sql.Open("pgx", c.pg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// count runs a COUNT-like query on the cluster's database.
func (c *cluster) count(q string, args ...any) int64 {
	c.t.Helper()
	var n int64
	if err := c.db().QueryRow(q, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// auditIntact checks the chain as `siteinspect audit verify` sees it, and
// that its sequence has no gap.
func (c *cluster) auditIntact() {
	c.t.Helper()
	events := c.count(`SELECT COUNT(*) FROM audit_events`)
	if lo, hi := c.count(`SELECT MIN(seq) FROM audit_events`), c.count(`SELECT MAX(seq) FROM audit_events`); lo != 1 || hi != events {
		c.t.Errorf("audit seqs: got %d..%d for %d events, want 1..%d without gaps", lo, hi, events, events)
	}
	out, errb, err := runCmd(c.t, "audit", "verify", "--data", c.t.TempDir(), "--db", c.pg)
	if want := fmt.Sprintf("audit chain intact: %d events", events); err != nil || !strings.HasPrefix(out, want) {
		c.t.Errorf("audit verify: got %v %q %s, want %q", err, out, errb, want)
	}
}

// TestCluster runs three replicas behind HAProxy (round robin, no
// stickiness) on one PostgreSQL and one MinIO, all on loopback, and checks
// that any replica serves any request and that losing one loses nothing.
func TestCluster(t *testing.T) {
	c := startCluster(t, 3)
	app := login(t, c.lb, "applicant", c.demo["applicant"])

	// A reviewed case on a two-page PDF, through the balancer.
	review := app.newCase()
	pdfFile := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(pdfFile, minimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	pdfID := app.mustUploadFile(review.ID, pdfFile)
	if ev := app.mustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("pdf: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
	app.mustJSON("POST", "/api/v1/cases/"+review.ID+"/submit", nil, http.StatusOK, nil)
	insp := login(t, c.lb, "inspector", c.demo["inspector"])
	rev := login(t, c.lb, "reviewer", c.demo["reviewer"])
	insp.mustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)
	rev.mustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)

	t.Run("50 clients annotate through the balancer", func(t *testing.T) {
		const clients, each = 50, 4
		// Each client its own session (logins one after another: parallel
		// logins of one user count against its login limit until checked).
		tokens := make([]string, clients)
		for i := range clients {
			user := []string{"inspector", "reviewer"}[i%2]
			tokens[i] = login(t, c.lb, user, c.demo[user]).token
		}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var lat []time.Duration
		start := time.Now()
		for i := range clients {
			wg.Go(func() {
				for k := range each {
					t0 := time.Now()
					code, out, err := tryJSON(hc, c.lb, tokens[i], "POST", "/api/v1/evidence/"+pdfID+"/annotations",
						map[string]any{"body": fmt.Sprintf("client %d note %d", i, k), "page": 1 + k%2})
					d := time.Since(t0)
					if err != nil || code != http.StatusCreated {
						t.Errorf("client %d note %d: got %d %s %v, want 201", i, k, code, out, err)
						continue
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		if len(lat) > 0 {
			t.Logf("%d annotations by %d clients through 3 replicas in %s: p50 %s, p99 %s", len(lat), clients, time.Since(start).Round(time.Millisecond),
				lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond))
		}
		if got := c.count(`SELECT COUNT(DISTINCT body) FROM annotations WHERE evidence_id = $1`, pdfID); got != clients*each {
			t.Errorf("annotations stored: got %d distinct, want %d", got, clients*each)
		}
		c.auditIntact()
	})

	t.Run("30 uploads in a burst are processed once each", func(t *testing.T) {
		const n = 30
		draft := app.newCase()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id, err := tryUpload(hc, c.lb, app.token, draft.ID, fmt.Sprintf("doc-%02d.pdf", i), minimalPDF(1, fmt.Sprintf("Document %d", i)))
				if err != nil {
					t.Errorf("upload %d: %v", i, err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id == "" {
				continue
			}
			if ev := app.mustEvidenceDone(id, 2*time.Minute); ev.Status != domain.EvidenceReady {
				t.Errorf("evidence %s: got %q (%s), want ready", id, ev.Status, ev.StatusReason)
			}
		}
		jobs := `FROM jobs j JOIN evidence e ON e.id = j.evidence_id WHERE e.case_id = $1`
		if got := c.count(`SELECT COUNT(*) `+jobs, draft.ID); got != n {
			t.Errorf("jobs: got %d, want %d", got, n)
		}
		if got := c.count(`SELECT COUNT(*) `+jobs+` AND j.state = 'done' AND j.attempts = 1`, draft.ID); got != n {
			t.Errorf("jobs done at their first attempt: got %d, want %d", got, n)
		}
	})
	_ = rev
}
