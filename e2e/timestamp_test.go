package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
	"siteinspect/internal/tsatest"
)

// tsCounts reads "time-stamps: N verified, M pending, K failed" from audit
// verify's output.
var tsCountsRE = regexp.MustCompile(`time-stamps: (\d+) verified, (\d+) pending, (\d+) failed`)

// mustAuditTimestamps runs audit verify against data and returns how many
// tokens it verified and how many wait; it fails the test if verify fails.
func mustAuditTimestamps(t *testing.T, data, ca string) (verified, pending int) {
	t.Helper()
	out, errb, err := harness.Run(t, "", "audit", "verify", "--data", data, "--tsa-ca", ca)
	if err != nil {
		t.Fatalf("audit verify: %v\nstdout %s\nstderr %s", err, out, errb)
	}
	m := tsCountsRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify output %q: no time-stamp counts", out)
	}
	verified, _ = strconv.Atoi(m[1])
	pending, _ = strconv.Atoi(m[2])
	if m[3] != "0" {
		t.Errorf("audit verify: %s time-stamps failed, want 0", m[3])
	}
	return verified, pending
}

// waitTimestamps polls audit verify until want tokens are verified and none
// is pending.
func waitTimestamps(t *testing.T, data, ca string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, p := mustAuditTimestamps(t, data, ca)
		if v == want && p == 0 {
			return
		}
		if v > want || time.Now().After(deadline) {
			t.Fatalf("time-stamps: got %d verified, %d pending; want %d verified, 0 pending (within %s)", v, p, want, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTimestamps runs the service against a real TSA (openssl ts -reply):
// an upload and a decision get tokens; with the TSA stopped, an upload, the
// decision and the countersign still succeed and the case shows
// timestamp_pending; the tokens arrive once it is back; audit verify checks
// each token, and names the one whose covered hash was changed.
func TestTimestamps(t *testing.T) {
	tsa := tsatest.Start(t)
	data := t.TempDir()
	p := harness.StartServer(t, "--data", data, "--jobs", "1", "--tsa-url", tsa.URL, "--tsa-ca", tsa.CAFile, "--tsa-retry", "200ms")
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	insp := harness.Login(t, p.URL, "inspector", p.Demo["inspector"])
	rev := harness.Login(t, p.URL, "reviewer", p.Demo["reviewer"])
	dir := t.TempDir()
	pdf := filepath.Join(dir, "plan.pdf")
	if err := os.WriteFile(pdf, harness.MinimalPDF(1, "Floor plan"), 0o644); err != nil {
		t.Fatal(err)
	}

	// TSA up: the upload's token arrives and verifies.
	cs := app.NewCase()
	path := "/api/v1/cases/" + cs.ID
	app.MustUploadFile(cs.ID, pdf)
	waitTimestamps(t, data, tsa.CAFile, 1, 30*time.Second)

	// TSA down: nothing the officers do waits for it.
	tsa.Stop()
	exits := filepath.Join(dir, "exits.pdf")
	if err := os.WriteFile(exits, harness.MinimalPDF(1, "Fire exits"), 0o644); err != nil {
		t.Fatal(err)
	}
	app.MustUploadFile(cs.ID, exits)
	app.MustJSON("POST", path+"/submit", nil, http.StatusOK, nil)
	insp.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/assign", nil, http.StatusOK, nil)
	for _, item := range []string{"fire-exits", "guest-registration", "cctv-entrances", "valuables-storage"} {
		insp.MustJSON("POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	start := time.Now()
	insp.MustJSON("POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "符合条件"}, http.StatusOK, nil)
	rev.MustJSON("POST", path+"/countersign", map[string]any{"agree": true, "comment": "同意"}, http.StatusOK, nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("decision and countersign with the TSA down took %s, want well under 5s", d)
	}
	type shownCase struct {
		Status           string `json:"status"`
		TimestampPending *bool  `json:"timestamp_pending"`
	}
	var down shownCase
	insp.MustJSON("GET", path, nil, http.StatusOK, &down)
	if down.Status != "approved" || down.TimestampPending == nil || !*down.TimestampPending {
		t.Errorf("case with the TSA down: got status %q, timestamp_pending %v; want approved, true", down.Status, ptrString(down.TimestampPending))
	}
	if v, pend := mustAuditTimestamps(t, data, tsa.CAFile); v != 1 || pend != 3 {
		t.Errorf("time-stamps with the TSA down: got %d verified, %d pending; want 1, 3", v, pend)
	}

	// TSA back: the three waiting tokens arrive.
	tsa.Restart(t)
	waitTimestamps(t, data, tsa.CAFile, 4, 60*time.Second)
	var back shownCase
	insp.MustJSON("GET", path, nil, http.StatusOK, &back)
	if back.TimestampPending == nil || *back.TimestampPending {
		t.Errorf("case after the TSA returned: timestamp_pending %s, want false", ptrString(back.TimestampPending))
	}
	p.Stop(t)

	// A changed covered hash fails verification, naming the token; so
	// does an evidence item whose recorded hash was changed.
	db := testenv.OpenDBAt(t, filepath.Join(data, "siteinspect.db"))
	ctx := context.Background()
	var headID, headDigest, evTS, evID string
	if err := db.SQL().QueryRowContext(ctx, `SELECT id, digest FROM timestamps WHERE kind = 'audit_head' ORDER BY audit_seq LIMIT 1`).Scan(&headID, &headDigest); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT id, evidence_id FROM timestamps WHERE kind = 'evidence' ORDER BY created_at LIMIT 1`).Scan(&evTS, &evID); err != nil {
		t.Fatal(err)
	}
	var evSHA string
	if err := db.SQL().QueryRowContext(ctx, `SELECT sha256 FROM evidence WHERE id = ?`, evID).Scan(&evSHA); err != nil {
		t.Fatal(err)
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`UPDATE timestamps SET digest = ? WHERE id = ?`, strings.Repeat("ab", 32), headID)
	out, errb, err := harness.Run(t, "", "audit", "verify", "--data", data, "--tsa-ca", tsa.CAFile)
	if err == nil || !strings.Contains(err.Error(), headID) {
		t.Errorf("audit verify after changing time-stamp %s's digest: got err %v (stdout %q, stderr %q), want an error naming it", headID, err, out, errb)
	}
	// Without the CA the signers go unchecked, but a change still shows.
	if _, _, err := harness.Run(t, "", "audit", "verify", "--data", data); err == nil || !strings.Contains(err.Error(), headID) {
		t.Errorf("audit verify without --tsa-ca after changing time-stamp %s's digest: got err %v, want an error naming it", headID, err)
	}
	mustExec(`UPDATE timestamps SET digest = ? WHERE id = ?`, headDigest, headID)
	mustExec(`UPDATE evidence SET sha256 = ? WHERE id = ?`, strings.Repeat("cd", 32), evID)
	out, errb, err = harness.Run(t, "", "audit", "verify", "--data", data, "--tsa-ca", tsa.CAFile)
	if err == nil || !strings.Contains(err.Error(), evTS) || !strings.Contains(err.Error(), evID) {
		t.Errorf("audit verify after changing evidence %s's hash: got err %v (stdout %q, stderr %q), want an error naming time-stamp %s", evID, err, out, errb, evTS)
	}
	mustExec(`UPDATE evidence SET sha256 = ? WHERE id = ?`, evSHA, evID)
	if _, _, err := harness.Run(t, "", "audit", "verify", "--data", data, "--tsa-ca", tsa.CAFile); err != nil {
		t.Fatalf("audit verify with everything put back: %v", err)
	}
	// Cutting off the chain's end leaves a chain that verifies on its own;
	// the last head time-stamp, which vouches for an event that is gone,
	// gives it away.
	var lastHead string
	var lastSeq int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT id, audit_seq FROM timestamps WHERE kind = 'audit_head' ORDER BY audit_seq DESC LIMIT 1`).Scan(&lastHead, &lastSeq); err != nil {
		t.Fatal(err)
	}
	mustExec(`DELETE FROM audit_events WHERE seq >= ?`, lastSeq)
	out, errb, err = harness.Run(t, "", "audit", "verify", "--data", data, "--tsa-ca", tsa.CAFile)
	if err == nil || !strings.Contains(err.Error(), lastHead) || !strings.Contains(out, "audit chain intact") {
		t.Errorf("audit verify after cutting the chain at %d: got err %v (stdout %q, stderr %q), want the chain itself intact and an error naming time-stamp %s", lastSeq, err, out, errb, lastHead)
	} else {
		t.Logf("the chain cut at %d: %v", lastSeq, err)
	}
	db.Close()
}

func ptrString(b *bool) string {
	if b == nil {
		return "absent"
	}
	return strconv.FormatBool(*b)
}
