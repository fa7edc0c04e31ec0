package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// newEnvStoppable is newEnv (with reports) whose MinIO is reached through
// a testenv.Front, so the test can stop the store under the server.
func newEnvStoppable(t *testing.T) (*env, *testenv.Front) {
	t.Helper()
	cfg := testenv.MinIOConfig(t)
	front := testenv.NewFront(t, cfg.Endpoint)
	cfg.Endpoint = front.Addr()
	m, err := objects.NewMinIO(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.objects = m
	if e.ups, err = storage.NewUploads(e.db, m, domain.UploadConfig{SpoolDir: filepath.Join(t.TempDir(), "spool-front"), PartSize: objects.MinPartSize}); err != nil {
		t.Fatal(err)
	}
	e.withReports(m)
	return e, front
}

// TestBundleStoreDown: with the object store down, a bundle is refused
// with 503 storage_unavailable before its status goes out, not answered
// 200 with an archive cut short; and neither its download nor the reports
// in it are recorded as issued.
func TestBundleStoreDown(t *testing.T) {
	e, front := newEnvStoppable(t)
	cs, _ := e.decidedCase()
	actions := func() map[string]int {
		events, err := e.db.CaseAudit(context.Background(), cs.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, ev := range events {
			n[ev.Action]++
		}
		return n
	}
	before := actions()
	front.Stop()
	w := e.req("lijian", "GET", "/api/v1/cases/"+cs.ID+"/bundle.zip", nil, nil)
	var got struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &got)
	if w.Code != http.StatusServiceUnavailable || got.Error.Code != domain.CodeStorageUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("bundle with the store down: got %d %.200q (Retry-After %q), want 503 %s with Retry-After",
			w.Code, w.Body, w.Header().Get("Retry-After"), domain.CodeStorageUnavailable)
	}
	after := actions()
	for _, a := range []string{"bundle.downloaded", "report.issued"} {
		if after[a] != before[a] {
			t.Errorf("%s events: got %d after the refused bundle, want %d as before", a, after[a], before[a])
		}
	}
}

// TestReportStoreDown: a report whose pictures cannot be fetched because
// the object store is down is refused 503 storage_unavailable, not issued
// without them (a code recorded for a report the next try would draw
// whole); one whose picture cannot be made while the store answers (here:
// its page image is missing) is still served without it.
func TestReportStoreDown(t *testing.T) {
	e, front := newEnvStoppable(t)
	r := e.reviewCase()
	e.json("insp", "POST", "/api/v1/evidence/"+r.pdf+"/annotations", map[string]any{"body": "消防通道未标注", "page": 2, "checklist_item": "fire-exits",
		"shape": map[string]any{"type": "rect", "points": [][2]float64{{0.1, 0.2}, {0.4, 0.6}}}}, http.StatusCreated, nil)
	path := r.path + "/report.pdf"
	if w := e.req("insp", "GET", path, nil, nil); w.Code != http.StatusOK {
		t.Fatalf("report with the store up: got %d %.200q, want 200", w.Code, w.Body)
	}
	issued := len(e.issuedEvents(r.cs.ID))
	front.Stop()
	w := e.req("insp", "GET", path, nil, nil)
	var got struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &got)
	if w.Code != http.StatusServiceUnavailable || got.Error.Code != domain.CodeStorageUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("report with the store down: got %d %.200q (Retry-After %q), want 503 %s with Retry-After",
			w.Code, w.Body, w.Header().Get("Retry-After"), domain.CodeStorageUnavailable)
	}
	if n := len(e.issuedEvents(r.cs.ID)); n != issued {
		t.Errorf("report.issued events: got %d after the refused report, want %d as before", n, issued)
	}
}
