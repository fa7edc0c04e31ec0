package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// tryUpload sends a whole file as one tus upload (create, then one PATCH)
// and returns the evidence id; it may run on any goroutine.
func tryUpload(hc *http.Client, base, token, caseID, filename string, data []byte) (string, error) {
	req, _ := http.NewRequest("POST", base+"/api/v1/cases/"+caseID+"/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(filename)))
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create upload: got %d, want 201", resp.StatusCode)
	}
	req, _ = http.NewRequest("PATCH", base+resp.Header.Get("Location"), bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = hc.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") == "" {
		return "", fmt.Errorf("patch: got %d (Evidence-Id %q), want 204 with an Evidence-Id", resp.StatusCode, resp.Header.Get("Evidence-Id"))
	}
	return resp.Header.Get("Evidence-Id"), nil
}

// TestTwoServersOnePostgres runs two server processes on one PostgreSQL
// database and one MinIO bucket, and has them take, at the same time:
// 50 officers (25 logins of the inspector, 25 of the reviewer, each its
// own session, split across both servers) annotating one case, 10 uploads
// to a draft case and 40 new cases. Afterwards each server lists every
// annotation (whichever server took it), every write is there once, the
// audit chain verifies, its sequence has no gap, and no two cases share a
// number.
func TestTwoServersOnePostgres(t *testing.T) {
	const annotators, perAnnotator, uploaders, creators, perCreator = 50, 4, 10, 20, 2
	pg := testenv.PostgresURL(t)
	s3 := harness.S3Args(t)
	args := append([]string{"--db", pg, "--jobs", "1"}, s3...)
	// One after the other: each --demo start gives the demo users new
	// passwords, so the second server's are the ones that hold.
	srv := []*harness.Proc{harness.StartServer(t, args...)}
	srv = append(srv, harness.StartServer(t, args...))
	demo := srv[1].Demo
	app := harness.Login(t, srv[0].URL, "applicant", demo["applicant"])
	insp := harness.Login(t, srv[1].URL, "inspector", demo["inspector"])
	rev := harness.Login(t, srv[0].URL, "reviewer", demo["reviewer"])

	// The reviewed case: a two-page PDF, submitted, both officers assigned.
	review := app.NewCase()
	pdfFile := t.TempDir() + "/plan.pdf"
	if err := os.WriteFile(pdfFile, harness.MinimalPDF(2, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}
	pdfID := app.MustUploadFile(review.ID, pdfFile)
	if ev := app.MustEvidenceDone(pdfID, 2*time.Minute); ev.Status != domain.EvidenceReady {
		t.Fatalf("pdf: got %q (%s), want ready", ev.Status, ev.StatusReason)
	}
	app.MustJSON("POST", "/api/v1/cases/"+review.ID+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)
	rev.MustJSON("POST", "/api/v1/cases/"+review.ID+"/assign", nil, http.StatusOK, nil)
	draft := app.NewCase()
	// listBodies lists the PDF's annotations through server k (each
	// server keeps a cache of annotations: warm both before the writes).
	listBodies := func(k int) map[string]bool {
		t.Helper()
		var list []domain.Annotation
		c := harness.WithToken(t, srv[k].URL, insp.Token)
		c.MustJSON("GET", "/api/v1/evidence/"+pdfID+"/annotations", nil, http.StatusOK, &list)
		out := map[string]bool{}
		for _, a := range list {
			out[a.Body] = true
		}
		return out
	}
	for k := range srv {
		if got := listBodies(k); len(got) != 0 {
			t.Fatalf("server %d lists %d annotations before any was made, want 0", k, len(got))
		}
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	var mu sync.Mutex
	var numbers []string
	// Officers log in first, one after another (parallel logins of one
	// user count against its login limit until each is checked), each its
	// own session on its own server; then everybody starts at once.
	tokens := make([]string, annotators)
	for i := range annotators {
		user := []string{"inspector", "reviewer"}[i/(annotators/2)%2]
		tokens[i] = harness.Login(t, srv[i%2].URL, user, demo[user]).Token
	}
	for i := range annotators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := srv[i%2].URL
			user := []string{"inspector", "reviewer"}[i/(annotators/2)%2]
			<-ready
			for k := range perAnnotator {
				body := fmt.Sprintf("officer %d note %d", i, k)
				code, out, err := harness.TryJSON(hc, base, tokens[i], "POST", "/api/v1/evidence/"+pdfID+"/annotations", map[string]any{"body": body, "page": 1 + k%2})
				if err != nil || code != http.StatusCreated {
					t.Errorf("officer %d (%s) annotation %d: got %d %s %v, want 201", i, user, k, code, out, err)
				}
			}
		}()
	}
	for i := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			if _, err := tryUpload(hc, srv[i%2].URL, app.Token, draft.ID, fmt.Sprintf("doc-%d.pdf", i), harness.MinimalPDF(1, fmt.Sprintf("Document %d", i))); err != nil {
				t.Errorf("upload %d: %v", i, err)
			}
		}()
	}
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			for k := range perCreator {
				code, out, err := harness.TryJSON(hc, srv[i%2].URL, app.Token, "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": fmt.Sprintf("Site %d-%d", i, k), "site_address": "1 Harbour Rd"})
				var cs domain.Case
				if err != nil || code != http.StatusCreated || json.Unmarshal(out, &cs) != nil || cs.Number == "" {
					t.Errorf("create case %d-%d: got %d %s %v, want 201 with a number", i, k, code, out, err)
					continue
				}
				mu.Lock()
				numbers = append(numbers, cs.Number)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	close(ready)
	wg.Wait()
	t.Logf("%d annotations, %d uploads, %d cases through two servers in %s", annotators*perAnnotator, uploaders, creators*perCreator, time.Since(start).Round(time.Millisecond))
	// Each server lists every annotation, whichever server took it.
	for k := range srv {
		got := listBodies(k)
		missing := 0
		for i := range annotators {
			for n := range perAnnotator {
				if !got[fmt.Sprintf("officer %d note %d", i, n)] {
					missing++
				}
			}
		}
		if len(got) != annotators*perAnnotator || missing > 0 {
			t.Errorf("server %d lists %d annotations, %d of those made missing; want all %d", k, len(got), missing, annotators*perAnnotator)
		}
	}
	for _, p := range srv {
		p.Stop(t)
	}

	db := testenv.OpenDBAt(t, pg)
	count := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if got, want := count(`SELECT COUNT(*) FROM annotations WHERE case_id = $1`, review.ID), int64(annotators*perAnnotator); got != want {
		t.Errorf("annotations on the case: got %d, want %d", got, want)
	}
	if got, want := count(`SELECT COUNT(DISTINCT body) FROM annotations WHERE case_id = $1`, review.ID), int64(annotators*perAnnotator); got != want {
		t.Errorf("distinct annotation bodies: got %d, want %d", got, want)
	}
	if got, want := count(`SELECT COUNT(*) FROM audit_events WHERE action = 'annotation.created'`), int64(annotators*perAnnotator); got != want {
		t.Errorf("annotation.created audit events: got %d, want %d", got, want)
	}
	if got, want := count(`SELECT COUNT(*) FROM evidence WHERE case_id = $1`, draft.ID), int64(uploaders); got != want {
		t.Errorf("evidence on the draft: got %d, want %d", got, want)
	}
	if got, want := count(`SELECT COUNT(*) FROM sessions`), int64(annotators+3); got != want {
		t.Errorf("sessions: got %d, want %d (a login each)", got, want)
	}
	if got, want := count(`SELECT COUNT(*) FROM cases`), int64(creators*perCreator+2); got != want {
		t.Errorf("cases: got %d, want %d", got, want)
	}
	if got, want := count(`SELECT COUNT(DISTINCT number) FROM cases`), count(`SELECT COUNT(*) FROM cases`); got != want {
		t.Errorf("distinct case numbers: got %d of %d cases, want all different", got, want)
	}
	seen := map[string]bool{}
	for _, n := range numbers {
		if seen[n] {
			t.Errorf("case number %s given twice", n)
		}
		seen[n] = true
	}
	events := count(`SELECT COUNT(*) FROM audit_events`)
	if lo, hi := count(`SELECT MIN(seq) FROM audit_events`), count(`SELECT MAX(seq) FROM audit_events`); lo != 1 || hi != events {
		t.Errorf("audit seqs: got %d..%d for %d events, want 1..%d without gaps", lo, hi, events, events)
	}
	out, errb, err := harness.Run(t, "", "audit", "verify", "--data", t.TempDir(), "--db", pg)
	if want := fmt.Sprintf("audit chain intact: %d events", events); err != nil || !bytes.HasPrefix([]byte(out), []byte(want)) {
		t.Errorf("audit verify: got %v %q %s, want %q", err, out, errb, want)
	}
}
