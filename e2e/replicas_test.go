package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/server"
)

// sseEvent is one Server-Sent Event as a subscriber received it.
type sseEvent struct {
	id     int64
	action string
	data   string
	at     time.Time
}

// subscribe opens a case's event stream on base as token, resuming after
// lastID (0: from the start), and sends each event to the channel it
// returns until the stream ends or the test does.
func subscribe(t *testing.T, base, token, caseID string, lastID int64) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/v1/cases/"+caseID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events on %s: got %d, want 200", base, resp.StatusCode)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				e.id, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				e.action = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			case line == "" && e.id > 0:
				e.at = time.Now()
				out <- e
				e = sseEvent{}
			}
		}
	}()
	return out
}

// TestReplicasShareEventsAndSessions runs two servers on one PostgreSQL
// database and one MinIO bucket, as two replicas behind a balancer:
//   - A runs with --jobs 0: it serves HTTP only, so a PDF uploaded to it
//     stays processing until B (--jobs 1) starts and processes it; then
//     B's worker claims a job queued through A within 500 ms;
//   - an officer's SSE subscriber on B receives each annotation made
//     through A within 1 s, in order, and resumes by event id;
//   - a logout on A makes the token fail on B within 2 s (B had the
//     session cached).
func TestReplicasShareEventsAndSessions(t *testing.T) {
	pg := testenv.PostgresURL(t)
	s3 := harness.S3Args(t)
	a := harness.StartServer(t, append([]string{"--db", pg, "--jobs", "0"}, s3...)...)
	app := harness.Login(t, a.URL, "applicant", a.Demo["applicant"])
	cs := app.NewCase()
	pdfFile := t.TempDir() + "/plan.pdf"
	if err := os.WriteFile(pdfFile, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	pdfID := app.MustUploadFile(cs.ID, pdfFile)
	time.Sleep(3 * time.Second)
	var ev domain.Evidence
	app.MustJSON("GET", "/api/v1/evidence/"+pdfID, nil, http.StatusOK, &ev)
	if ev.Status != domain.EvidenceProcessing {
		t.Fatalf("evidence 3 s after upload to a --jobs 0 server alone: got %q, want %q (nothing processes it)", ev.Status, domain.EvidenceProcessing)
	}

	b := harness.StartServer(t, append([]string{"--db", pg, "--jobs", "1"}, s3...)...)
	// B's --demo gave the demo users new passwords, which ended their
	// sessions on every replica: A refuses the old token.
	if resp := app.Do("GET", "/api/v1/me", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("A, applicant's token after B reset the password: got %d, want 401", resp.StatusCode)
	}
	demo := b.Demo
	app = harness.Login(t, a.URL, "applicant", demo["applicant"])
	if ev := app.MustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("pdf after B started: got %q (%s), want ready (B's worker)", ev.Status, ev.StatusReason)
	}
	// A job queued through A is claimed by B's worker at once: B hears
	// A's commit (wakeOnChanges), it does not wait for its 2 s poll.
	records := testenv.OpenDBAt(t, pg)
	for i := range 3 {
		id := app.MustUploadFile(cs.ID, pdfFile)
		queued := time.Now()
		for {
			var state string
			if err := records.SQL().QueryRow(`SELECT state FROM jobs WHERE evidence_id = ?`, id).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if state != domain.JobQueued {
				break
			}
			if time.Since(queued) > 3*time.Second {
				t.Fatalf("upload %d through A: its job still queued after 3 s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		took := time.Since(queued)
		t.Logf("upload %d through A: B's worker claimed its job %v after the upload answered", i, took.Round(time.Millisecond))
		if took > 500*time.Millisecond {
			t.Fatalf("upload %d through A: B claimed its job after %v, want < 500 ms (woken by A's commit, not its 2 s poll)", i, took)
		}
		app.MustEvidenceDone(id, time.Minute)
	}
	app.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/submit", nil, http.StatusOK, nil)
	insp := harness.Login(t, a.URL, "inspector", demo["inspector"])
	insp.MustJSON("POST", "/api/v1/cases/"+cs.ID+"/assign", nil, http.StatusOK, nil)

	// The officer watches the case on B and annotates through A.
	events := subscribe(t, b.URL, insp.Token, cs.ID, 0)
	var last int64
	backlog := time.After(time.Second)
drain:
	for {
		select {
		case e := <-events:
			last = e.id
		case <-backlog:
			break drain
		}
	}
	const notes = 6
	var ids []int64
	var worst time.Duration
	for i := range notes {
		body := "note " + strconv.Itoa(i)
		began := time.Now()
		var ann domain.Annotation
		insp.MustJSON("POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": body, "page": 1}, http.StatusCreated, &ann)
		made := time.Now()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("annotation %d: B's stream ended", i)
			}
			if e.action != "annotation.created" || !strings.Contains(e.data, ann.ID) {
				t.Fatalf("annotation %d: B's next event is %d %s %s, want annotation.created of %s", i, e.id, e.action, e.data, ann.ID)
			}
			if e.id <= last {
				t.Fatalf("annotation %d: event id %d after %d, want increasing", i, e.id, last)
			}
			last = e.id
			ids = append(ids, e.id)
			lag := max(0, e.at.Sub(made))
			worst = max(worst, lag)
			t.Logf("annotation %d through A: POST took %v, B's subscriber had it %v after the POST answered", i, made.Sub(began).Round(time.Millisecond), lag.Round(time.Microsecond))
		case <-time.After(time.Second):
			t.Fatalf("annotation %d made through A: no event on B within 1 s of the POST's answer", i)
		}
	}
	t.Logf("SSE on B, annotations made through A: worst %v after the POST answered", worst.Round(time.Microsecond))

	// Resuming on B from the first annotation's id gives the rest, in order.
	again := subscribe(t, b.URL, insp.Token, cs.ID, ids[0])
	for _, want := range ids[1:] {
		select {
		case e := <-again:
			if e.id != want {
				t.Fatalf("resumed after %d: got event %d (%s), want %d", ids[0], e.id, e.action, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("resumed after %d: event %d did not come", ids[0], want)
		}
	}

	// A logout on A: B, which has the session cached, refuses it within 2 s.
	rev := harness.Login(t, a.URL, "reviewer", demo["reviewer"])
	onB := harness.WithToken(t, b.URL, rev.Token)
	var me domain.User
	onB.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)
	onB.MustJSON("GET", "/api/v1/me", nil, http.StatusOK, &me)
	began := time.Now()
	if resp := rev.Do("POST", "/api/v1/auth/logout", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on A: got %d, want 204", resp.StatusCode)
	}
	loggedOut := time.Now()
	for {
		resp := onB.Do("GET", "/api/v1/me", nil, nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("B, /me after the logout on A: got %d, want 200 then 401", resp.StatusCode)
		}
		if time.Since(loggedOut) > 2*time.Second {
			t.Fatal("B still accepts the token 2 s after the logout on A")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("logout on A (answered in %v): B refused the token %v after the answer",
		loggedOut.Sub(began).Round(time.Millisecond), time.Since(loggedOut).Round(time.Microsecond))
}

// readyz asks base's /readyz and returns the status and the error code.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var body errorBody
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("readyz: %d %q is not API.md's error body: %v", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, body.Error.Code
}

// mustReadyz polls /readyz until it answers status (and code) and says how
// long that took.
func mustReadyz(t *testing.T, base string, status int, code string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		got, gotCode := readyz(t, base)
		if got == status && gotCode == code {
			return time.Since(began)
		}
		if time.Since(began) > within {
			t.Fatalf("readyz: got %d %q after %v, want %d %q", got, gotCode, within, status, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyzObjectStoreAndDrain: /readyz fails while MinIO is stopped and
// recovers when it is back; on SIGTERM it answers 503 draining at once
// while the other routes still serve for --drain-grace, new connections
// are refused after it, a PATCH in flight across the whole drain
// finishes, and the process exits cleanly.
func TestReadyzObjectStoreAndDrain(t *testing.T) {
	const grace = 3 * time.Second
	m := mustOwnMinIO(t)
	data := t.TempDir()
	p := harness.StartServer(t, append(m.serveArgs(), "--data", data, "--drain-grace", grace.String())...)
	mustReadyz(t, p.URL, http.StatusOK, "", 5*time.Second)

	m.stop()
	took := mustReadyz(t, p.URL, http.StatusServiceUnavailable, domain.CodeStorageUnavailable, 5*time.Second)
	t.Logf("MinIO stopped: /readyz 503 %s after %v", domain.CodeStorageUnavailable, took.Round(time.Millisecond))
	m.start()
	took = mustReadyz(t, p.URL, http.StatusOK, "", 5*time.Second)
	t.Logf("MinIO back: /readyz 200 after %v", took.Round(time.Millisecond))

	// A PATCH whose body is half sent when SIGTERM comes.
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	pdf := harness.MinimalPDF(3, "Drained")
	loc := app.CreateUpload(cs.ID, "drained.pdf", int64(len(pdf)))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", p.URL+loc, pr)
	req.ContentLength = int64(len(pdf))
	req.Header.Set("Authorization", "Bearer "+app.Token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	type result struct {
		status   int
		evidence string
		err      error
	}
	patched := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			patched <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		patched <- result{status: resp.StatusCode, evidence: resp.Header.Get("Evidence-Id")}
	}()
	half := len(pdf) / 2
	if _, err := pw.Write(pdf[:half]); err != nil {
		t.Fatal(err)
	}

	term := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	took = mustReadyz(t, p.URL, http.StatusServiceUnavailable, server.CodeDraining, time.Second)
	t.Logf("SIGTERM: /readyz 503 draining after %v", took.Round(time.Millisecond))
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for time.Since(term) < grace-500*time.Millisecond {
		resp, err := fresh.Get(p.URL + "/api/v1/config")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/config %v into the drain grace: got %v %v, want 200", time.Since(term).Round(time.Millisecond), resp, err)
		}
		resp.Body.Close()
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(time.Second) // the grace is over: the listener is closed
	if resp, err := fresh.Get(p.URL + "/api/v1/config"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET /api/v1/config %v after SIGTERM (grace %v): got %d, want the connection refused", time.Since(term).Round(time.Millisecond), grace, resp.StatusCode)
	}
	select {
	case <-p.Done():
		t.Fatal("the server exited with a PATCH in flight")
	default:
	}
	if _, err := pw.Write(pdf[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-patched
	if r.err != nil || r.status != http.StatusNoContent || r.evidence == "" {
		t.Fatalf("PATCH across the drain: got %d (Evidence-Id %q) %v, want 204 with an Evidence-Id", r.status, r.evidence, r.err)
	}
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not exit within 15 s of its last request")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code after SIGTERM: got %d, want 0\n%s", code, p.Log())
	}
	t.Logf("exited %v after SIGTERM (grace %v), the PATCH in flight finished first", time.Since(term).Round(time.Millisecond), grace)

	// The bytes were kept: a server started again on the same data has them.
	q := harness.StartServer(t, append(m.serveArgs(), "--data", data)...)
	harness.Login(t, q.URL, "applicant", q.Demo["applicant"]).MustSameContent(r.evidence, pdf)
}
