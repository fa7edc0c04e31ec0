package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to count rows
)

// TestCluster runs three replicas behind HAProxy (round robin, no
// stickiness) on one PostgreSQL and one MinIO, all on loopback, and checks
// that any replica serves any request and that losing one loses nothing.
func TestCluster(t *testing.T) {
	c := harness.StartCluster(t, 3)
	app := harness.Login(t, c.LB, "applicant", c.Demo["applicant"])

	// A reviewed case on a two-page PDF, through the balancer.
	review := app.NewCase()
	pdfFile := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(pdfFile, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	pdfID := app.MustUploadFile(review.ID, pdfFile)
	if ev := app.MustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("pdf: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
	app.MustJSON("POST", "/api/v1/cases/"+review.ID+"/submit", nil, http.StatusOK, nil)
	insp := harness.Login(t, c.LB, "inspector", c.Demo["inspector"])
	rev := harness.Login(t, c.LB, "reviewer", c.Demo["reviewer"])
	insp.MustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)
	rev.MustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)

	t.Run("50 clients annotate through the balancer", func(t *testing.T) {
		const clients, each = 50, 4
		// Each client its own session (logins one after another: parallel
		// logins of one user count against its login limit until checked).
		tokens := make([]string, clients)
		for i := range clients {
			user := []string{"inspector", "reviewer"}[i%2]
			tokens[i] = harness.Login(t, c.LB, user, c.Demo[user]).Token
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
					code, out, err := harness.TryJSON(hc, c.LB, tokens[i], "POST", "/api/v1/evidence/"+pdfID+"/annotations",
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
		if got := c.Count(t, `SELECT COUNT(DISTINCT body) FROM annotations WHERE evidence_id = $1`, pdfID); got != clients*each {
			t.Errorf("annotations stored: got %d distinct, want %d", got, clients*each)
		}
		c.AuditIntact(t)
	})

	t.Run("30 uploads in a burst are processed once each", func(t *testing.T) {
		const n = 30
		draft := app.NewCase()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id, err := tryUpload(hc, c.LB, app.Token, draft.ID, fmt.Sprintf("doc-%02d.pdf", i), harness.MinimalPDF(1, fmt.Sprintf("Document %d", i)))
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
			if ev := app.MustEvidenceDone(id, 2*time.Minute); ev.Status != domain.EvidenceReady {
				t.Errorf("evidence %s: got %q (%s), want ready", id, ev.Status, ev.StatusReason)
			}
		}
		jobs := `FROM jobs j JOIN evidence e ON e.id = j.evidence_id WHERE e.case_id = $1`
		if got := c.Count(t, `SELECT COUNT(*) `+jobs, draft.ID); got != n {
			t.Errorf("jobs: got %d, want %d", got, n)
		}
		if got := c.Count(t, `SELECT COUNT(*) `+jobs+` AND j.state = 'done' AND j.attempts = 1`, draft.ID); got != n {
			t.Errorf("jobs done at their first attempt: got %d, want %d", got, n)
		}
	})

	t.Run("a tus-js-client upload survives the SIGKILL of its replica", func(t *testing.T) {
		modules := mustTusJS(t)
		dir := t.TempDir()
		const size = 200 << 20
		file, sum := harness.MakeSource(t, dir, size)
		script := filepath.Join(dir, "tus.js")
		if err := os.WriteFile(script, []byte(tusJSScript), 0o644); err != nil {
			t.Fatal(err)
		}
		cs := app.NewCase()
		// 8 MiB PATCHes, each balanced on its own, and retries that outlast
		// a dead replica's upload lease, as a browser's would be set.
		node := exec.Command("node", script, "whole", file, c.LB+"/api/v1/cases/"+cs.ID+"/uploads",
			`{"chunkSize": 8388608, "retryDelays": [0, 1000, 2000, 4000, 8000, 8000, 8000]}`)
		node.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(modules, "node_modules"), "SITEINSPECT_TOKEN="+app.Token)
		stdout, err := node.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		node.Stderr = &stderr
		start := time.Now()
		if err := node.Start(); err != nil {
			t.Fatal(err)
		}
		events := make(chan tusJSEvent, 64)
		go func() {
			defer close(events)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var e tusJSEvent
				if json.Unmarshal(sc.Bytes(), &e) == nil {
					events <- e
				}
			}
		}()
		// Once a quarter is in, kill whichever replica is receiving bytes.
		killed := -1
		var last tusJSEvent
		for e := range events {
			last = e
			if killed >= 0 || e.Event != "patch" || e.Offset < size/4 {
				continue
			}
			before := make([]float64, len(c.Replicas))
			for i, p := range c.Replicas {
				before[i] = mustMetric(t, p.URL, metricUploadBytes)
			}
			time.Sleep(150 * time.Millisecond)
			for i, p := range c.Replicas {
				if mustMetric(t, p.URL, metricUploadBytes) > before[i] {
					killed = i
				}
			}
			if killed < 0 {
				continue // between PATCHes: try at the next one
			}
			c.Replicas[killed].Kill()
			t.Logf("SIGKILLed replica %d at offset %d MiB, %s in", killed+1, e.Offset>>20, time.Since(start).Round(time.Millisecond))
		}
		if err := node.Wait(); err != nil || last.Event != "success" || last.EvidenceID == "" {
			t.Fatalf("tus-js-client: %v, last event %+v\n%s", err, last, &stderr)
		}
		if killed < 0 {
			t.Fatal("no replica was caught receiving bytes: the kill never happened")
		}
		t.Logf("200 MiB uploaded through the balancer in %s despite the kill", time.Since(start).Round(time.Millisecond))
		var ev domain.Evidence
		app.MustJSON("GET", "/api/v1/evidence/"+last.EvidenceID, nil, http.StatusOK, &ev)
		if ev.SHA256 != sum || ev.Size != size {
			t.Errorf("stored evidence: sha256 %s size %d, want %s and %d", ev.SHA256, ev.Size, sum, int64(size))
		}
		resp := app.Do("GET", "/api/v1/evidence/"+last.EvidenceID+"/content", nil, nil)
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if got := hex.EncodeToString(h.Sum(nil)); err != nil || n != size || got != sum {
			t.Errorf("stored object read back: %d bytes, sha256 %s, %v; want %d bytes, %s", n, got, err, int64(size), sum)
		}
		c.Start(killed) // the rest of the test runs on three again
	})

	t.Run("a rolling restart loses nothing", func(t *testing.T) {
		const annotators, uploaders = 3, 2
		draft := app.NewCase()
		tokens := make([]string, annotators)
		for i := range tokens {
			user := []string{"inspector", "reviewer"}[i%2]
			tokens[i] = harness.Login(t, c.LB, user, c.Demo[user]).Token
		}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
		// retryable says whether a client may send the request again: the
		// balancer's 502/503/504 while a replica goes away, an upload's
		// lease (409/423) or a limit (429), a dropped connection.
		retryable := func(code int, err error) bool {
			return err != nil || code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout ||
				code == http.StatusConflict || code == http.StatusLocked || code == http.StatusTooManyRequests
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var made, uploaded []string
		retries := map[string]int{}
		for i := range annotators {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					body := fmt.Sprintf("restart %d note %d", i, k)
					for {
						code, out, err := harness.TryJSON(hc, c.LB, tokens[i], "POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": body, "page": 1})
						if code == http.StatusCreated {
							mu.Lock()
							made = append(made, body)
							mu.Unlock()
							break
						}
						if !retryable(code, err) {
							t.Errorf("annotation %q: got %d %s %v, not a retryable answer", body, code, out, err)
							return
						}
						mu.Lock()
						retries[fmt.Sprintf("annotate %d %v", code, err != nil)]++
						mu.Unlock()
						time.Sleep(200 * time.Millisecond)
					}
				}
			})
		}
		for i := range uploaders {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("restart-%d-%d.pdf", i, k)
					for {
						// A whole upload again: a client that lost one starts over.
						id, err := tryUpload(hc, c.LB, app.Token, draft.ID, name, harness.MinimalPDF(1, name))
						if err == nil {
							mu.Lock()
							uploaded = append(uploaded, id)
							mu.Unlock()
							break
						}
						mu.Lock()
						retries["upload "+err.Error()[:min(len(err.Error()), 40)]]++
						mu.Unlock()
						time.Sleep(200 * time.Millisecond)
					}
				}
			})
		}
		time.Sleep(time.Second)
		for i := range c.Replicas {
			t0 := time.Now()
			c.Replicas[i].Stop(t)
			c.Start(i)
			t.Logf("replica %d restarted in %s", i+1, time.Since(t0).Round(time.Millisecond))
			time.Sleep(time.Second)
		}
		close(stop)
		wg.Wait()
		t.Logf("during the rolling restart: %d annotations, %d uploads; retried: %v", len(made), len(uploaded), retries)
		if len(made) == 0 || len(uploaded) == 0 {
			t.Fatalf("got %d annotations and %d uploads, want some of each", len(made), len(uploaded))
		}
		for _, body := range made {
			if n := c.Count(t, `SELECT COUNT(*) FROM annotations WHERE body = $1`, body); n != 1 {
				t.Errorf("annotation %q answered 201: stored %d times, want once", body, n)
			}
		}
		for _, id := range uploaded {
			if n := c.Count(t, `SELECT COUNT(*) FROM evidence WHERE id = $1`, id); n != 1 {
				t.Errorf("evidence %s answered 204: stored %d times, want once", id, n)
			}
		}
		c.AuditIntact(t)
	})

	t.Run("events and logouts reach every replica", func(t *testing.T) {
		// An officer's subscriber on replica 2 sees what is made through
		// replica 1 within 1 s.
		events := subscribe(t, c.Replicas[1].URL, insp.Token, review.ID, 0)
		drain := time.After(2 * time.Second) // the backlog of earlier events
	backlog:
		for {
			select {
			case <-events:
			case <-drain:
				break backlog
			}
		}
		for k := range 5 {
			body := fmt.Sprintf("seen everywhere %d", k)
			code, out, err := harness.TryJSON(http.DefaultClient, c.Replicas[0].URL, insp.Token, "POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": body, "page": 1})
			answered := time.Now()
			if err != nil || code != http.StatusCreated {
				t.Fatalf("annotation through replica 1: got %d %s %v", code, out, err)
			}
			deadline := time.After(time.Second)
		wait:
			for {
				select {
				case e := <-events:
					if e.action == "annotation.created" && strings.Contains(e.data, body) {
						t.Logf("annotation %d through replica 1 reached the subscriber on replica 2 %s after its answer", k, e.at.Sub(answered).Round(100*time.Microsecond))
						break wait
					}
				case <-deadline:
					t.Fatalf("annotation %q made through replica 1 did not reach the subscriber on replica 2 within 1 s", body)
				}
			}
		}
		// A logout through replica 3 ends the session on replicas 1 and 2
		// within 2 s, though both have just used (and cached) it.
		sess := harness.Login(t, c.LB, "inspector", c.Demo["inspector"])
		for _, k := range []int{0, 1} {
			if code, out, err := harness.TryJSON(http.DefaultClient, c.Replicas[k].URL, sess.Token, "GET", "/api/v1/cases/"+review.ID, nil); err != nil || code != http.StatusOK {
				t.Fatalf("session on replica %d before the logout: got %d %s %v", k+1, code, out, err)
			}
		}
		if code, out, err := harness.TryJSON(http.DefaultClient, c.Replicas[2].URL, sess.Token, "POST", "/api/v1/auth/logout", nil); err != nil || code/100 != 2 {
			t.Fatalf("logout through replica 3: got %d %s %v", code, out, err)
		}
		loggedOut := time.Now()
		for _, k := range []int{0, 1} {
			for {
				code, _, err := harness.TryJSON(http.DefaultClient, c.Replicas[k].URL, sess.Token, "GET", "/api/v1/cases/"+review.ID, nil)
				if err == nil && code == http.StatusUnauthorized {
					t.Logf("logout through replica 3 cut the session on replica %d after %s", k+1, time.Since(loggedOut).Round(100*time.Microsecond))
					break
				}
				if time.Since(loggedOut) > 2*time.Second {
					t.Fatalf("replica %d still accepts the session 2 s after the logout (last %d %v)", k+1, code, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})

	t.Run("live: the owner dies and the phone reconnects through the balancer", func(t *testing.T) {
		media := testenv.MustRTCMedia(t)
		_, officer, caseID := harness.LiveCase(t, &harness.Proc{URL: c.LB, Demo: c.Demo})
		var ls harness.LiveSession
		officer.MustJSON("POST", "/api/v1/cases/"+caseID+"/live", nil, http.StatusCreated, &ls)
		pub1 := testenv.Publish(t, testenv.CodecVP8, harness.WHIP(t, c.LB, ls))
		defer pub1.PC.Close()
		var ownerID string
		if err := c.Handle(t).QueryRow(`SELECT owner FROM live_sessions WHERE id = $1`, ls.ID).Scan(&ownerID); err != nil {
			t.Fatal(err)
		}
		owner := slices.Index(c.IDs, ownerID)
		if owner < 0 {
			t.Fatalf("session owner %q is none of the replicas %v", ownerID, c.IDs)
		}
		var others []int
		for i := range c.Replicas {
			if i != owner {
				others = append(others, i)
			}
		}
		sent1c := make(chan time.Duration, 1)
		go func() { sent1c <- pub1.Send(t, media, 4*time.Second) }()
		// Viewers on the two other replicas, forwarded to the owner.
		for _, k := range others {
			v := testenv.View(t, harness.WHEP(t, c.Replicas[k].URL, ls.ID, officer.Token))
			t.Logf("viewer on replica %d (owner replica %d): first video after %s", k+1, owner+1, waitVideo(t, v, 5*time.Second))
			defer v.PC.Close()
		}
		sent1 := <-sent1c

		c.Replicas[owner].Kill()
		killed := time.Now()
		pub1.PC.Close()
		pub2 := testenv.Publish(t, testenv.CodecVP8, retrying(t, harness.WHIP(t, c.LB, ls), 20*time.Second))
		reconnected := time.Now()
		defer pub2.PC.Close()
		sent2c := make(chan time.Duration, 1)
		go func() { sent2c <- pub2.Send(t, media, 4*time.Second) }()
		for _, k := range others {
			v := testenv.View(t, retrying(t, harness.WHEP(t, c.Replicas[k].URL, ls.ID, officer.Token), 5*time.Second))
			defer v.PC.Close()
			waitVideo(t, v, 5*time.Second)
			if again := time.Since(reconnected); again > 5*time.Second {
				t.Errorf("viewer on replica %d received video again %s after the reconnect, want within 5 s", k+1, again)
			} else {
				t.Logf("viewer on replica %d receives video again %s after the reconnect (publisher back %s after the kill)", k+1, again.Round(time.Millisecond), reconnected.Sub(killed).Round(time.Millisecond))
			}
		}
		sent2 := <-sent2c
		var ended struct {
			Evidence *domain.Evidence `json:"evidence"`
		}
		officer.MustJSON("POST", "/api/v1/live/"+ls.ID+"/end", nil, http.StatusOK, &ended)
		if ended.Evidence == nil {
			t.Fatal("end: no recording")
		}
		rec := officer.MustEvidenceDone(ended.Evidence.ID, 2*time.Minute)
		if rec.Status != domain.EvidenceReady || rec.Media == nil || rec.Media.DurationMS == nil {
			t.Fatalf("recording: got %s (%s), want ready with a duration", rec.Status, rec.StatusReason)
		}
		got := time.Duration(*rec.Media.DurationMS) * time.Millisecond
		// Segments are stored as they close (--live-segment 1s): the one in
		// flight on the owner when it died is lost, at most a segment and
		// the wait for its keyframe. The probed length of the joined
		// recording also leaves out up to a frame where its two halves meet
		// and at its end (30 fps: 33 ms each; one run lost 2.02 s in all).
		published := sent1 + sent2
		t.Logf("published %s (%s through the owner, %s after the takeover); the recording lasts %s", published, sent1, sent2, got)
		if want := published - 2*time.Second - 2*time.Second/30; got < want || got > published+published/20 {
			t.Errorf("recording lasts %s; want at least %s (what was published less the segment in flight) and at most %s", got, want, published)
		}
		if n := c.Count(t, `SELECT COUNT(*) FROM evidence WHERE case_id = $1 AND kind = 'recording'`, caseID); n != 1 {
			t.Errorf("recording evidence items: got %d, want 1", n)
		}
		c.Start(owner)
	})
	_ = rev
}
