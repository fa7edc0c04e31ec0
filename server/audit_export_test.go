package server

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestOfficeAuditExportStreams exports a trail of 400,000 events
// (SITEINSPECT_AUDIT_EXPORT_EVENTS; 1,000,000 gives the 174 MiB file in
// BENCHMARKS.md, and takes a minute on PostgreSQL, too long for make test),
// written straight into the database, through a real HTTP server, and holds
// the export to flat memory: the heap, sampled every 20 ms while the file is
// read, never grows by more than 32 MiB over its level before the request,
// though the file is about 70 MiB, so a built-then-sent export fails; and the
// first row arrives well before the last (streamed, not built and then sent).
func TestOfficeAuditExportStreams(t *testing.T) {
	n := 400000
	if v := os.Getenv("SITEINSPECT_AUDIT_EXPORT_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("SITEINSPECT_AUDIT_EXPORT_EVENTS: %v", err)
		}
	}
	e := newStatsEnv(t)
	ctx := context.Background()
	cs := e.submit("2026-03-10", "09:00")
	head, _, err := e.db.AuditHead(ctx)
	e.must(err)
	start := time.Now()
	series := `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?) `
	if e.db.Dialect() == "postgres" {
		series = `WITH g(n) AS (SELECT generate_series(1, ?::bigint)) `
	}
	// Every other event on the case, the rest logins of the supervisor;
	// a Chinese target and one a spreadsheet would run, to be defused.
	_, err = e.db.SQL().ExecContext(ctx, rebind(e.db.Dialect(), series+`INSERT INTO audit_events (seq, case_id, actor_id, action, target, data, at, prev_hash, hash)
		SELECT ? + g.n, CASE WHEN g.n % 2 = 0 THEN ? ELSE NULL END, ?, 'evidence.read', CASE WHEN g.n % 3 = 0 THEN '=1+1' ELSE '现场照片' END,
			'{"n":' || g.n || '}', ? + g.n, '', 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' FROM g`),
		n, head, cs.ID, e.users["sup"].ID, e.now.UnixMilli())
	e.must(err)
	if e.db.Dialect() == "postgres" {
		// As autovacuum would after such an import: the planner then
		// knows the table's size whenever this test runs.
		_, err = e.db.SQL().ExecContext(ctx, `ANALYZE audit_events`)
		e.must(err)
	}
	t.Logf("%s: wrote %d events in %s", e.db.Dialect(), n, time.Since(start).Round(time.Millisecond))

	srv := httptest.NewServer(e.s)
	defer srv.Close()
	// Both addresses of the export: audit.csv, and API.md's GET
	// /api/v1/audit with Accept: text/csv.
	for _, r := range []struct{ path, accept string }{
		{"/api/v1/audit.csv?action=evidence.read", ""},
		{"/api/v1/audit?action=evidence.read", "text/csv"},
	} {
		t.Run(r.path, func(t *testing.T) { exportFlat(t, e, srv.URL+r.path, r.accept, n) })
	}
}

// exportFlat gets the export at url (with accept, when not empty) and
// holds it to flat memory and streaming (TestOfficeAuditExportStreams).
func exportFlat(t *testing.T, e *statsEnv, url, accept string, n int) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens["sup"])
	if accept != "" {
		req.Header.Set("Accept", accept)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()

	t0 := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: got %d, want 200", res.StatusCode)
	}
	r := bufio.NewReaderSize(res.Body, 64<<10)
	var rows, defused, size int
	var first time.Duration
	for {
		line, err := r.ReadSlice('\n')
		size += len(line)
		if len(line) > 0 && rows == 1 {
			first = time.Since(t0)
		}
		if len(line) > 0 {
			rows++
			if bytes.Contains(line, []byte(",'=1+1,")) {
				defused++
			}
		}
		if err != nil {
			break
		}
	}
	total := time.Since(t0)
	close(stop)
	<-sampled

	if rows != n+1 {
		t.Fatalf("got %d lines, want the header and %d events", rows, n)
	}
	if want := n / 3; defused != want {
		t.Errorf("got %d defused =1+1 cells, want %d", defused, want)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("%d events, %.1f MiB of CSV in %s (first row after %s); heap %.1f MiB before, peak %.1f MiB (+%.1f MiB)",
		n, float64(size)/(1<<20), total.Round(time.Millisecond), first.Round(time.Millisecond),
		float64(base)/(1<<20), float64(peak.Load())/(1<<20), float64(growth)/(1<<20))
	if n >= 400000 && size < 64<<20 {
		t.Errorf("got %d bytes of CSV, want over 64 MiB (twice the heap bound) for %d events (is the fixture right?)", size, n)
	}
	if growth > 32<<20 {
		t.Errorf("heap grew by %.1f MiB during the export, want at most 32 MiB (memory must stay flat)", float64(growth)/(1<<20))
	}
	// A built-then-sent export gives its first row at the end; a streamed
	// one within milliseconds, or after PostgreSQL's first fetch (0.5 s of
	// 5 s once, in the PostgreSQL pass beside the raced storage tests).
	if first > total/2 {
		t.Errorf("first row after %s of %s, want it within the first half (streamed)", first, total)
	}
}

// rebind turns ? into $1, $2, … for PostgreSQL.
func rebind(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	var b bytes.Buffer
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
