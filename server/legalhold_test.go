package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"

	"github.com/minio/minio-go/v7"
)

// TestLegalHoldOverHTTP: the case's inspector sets the hold with a reason
// and an administrator lifts it; both are audited; the case's retention
// shows the hold; the applicant may neither hold nor read it; a hold with
// no reason, a second hold and a lift of no hold are refused by code.
func TestLegalHoldOverHTTP(t *testing.T) {
	m := newMatrix(t)
	f := m.build(domain.StatusApproved)
	path := "/api/v1/cases/" + f.cs.ID + "/legal-hold"
	js := map[string]string{"Content-Type": "application/json"}

	for _, tc := range []struct {
		name, user, method, body string
		wantStatus               int
		wantCode                 string
	}{
		{"no reason", "insp", "POST", `{}`, http.StatusBadRequest, storage.CodeHoldReasonRequired},
		{"applicant", "appA", "POST", `{"reason":"x"}`, http.StatusForbidden, domain.CodeNotPermitted},
		{"other office", "inspOther", "POST", `{"reason":"x"}`, http.StatusNotFound, "not_found"},
		{"lift of no hold", "insp", "DELETE", `{"reason":"x"}`, http.StatusConflict, storage.CodeHoldNotSet},
		{"set", "insp", "POST", `{"reason":"administrative appeal 2026-17"}`, http.StatusOK, ""},
		{"set again", "rev", "POST", `{"reason":"again"}`, http.StatusConflict, storage.CodeHoldAlreadySet},
	} {
		got, code, w := m.send(tc.user, tc.method, path, []byte(tc.body), js)
		if got != tc.wantStatus || code != tc.wantCode {
			t.Errorf("%s: got %d %s %s, want %d %s", tc.name, got, code, w.Body, tc.wantStatus, tc.wantCode)
		}
	}
	got, _, w := m.send("rev", "GET", "/api/v1/cases/"+f.cs.ID+"/retention", nil, nil)
	var st storage.RetentionStatus
	if err := json.Unmarshal(w.Body.Bytes(), &st); got != http.StatusOK || err != nil {
		t.Fatalf("retention: got %d %s", got, w.Body)
	}
	if !st.LegalHold.On || st.LegalHold.By != m.users["insp"].ID || st.LegalHold.Reason != "administrative appeal 2026-17" ||
		st.RetentionDays != 180 || st.WORM || st.Purged != nil {
		t.Errorf("retention: got %+v, want held by the inspector with the reason, 180 days, no WORM (disk), not purged", st)
	}
	if got, _, _ := m.send("appA", "GET", "/api/v1/cases/"+f.cs.ID+"/retention", nil, nil); got != http.StatusForbidden {
		t.Errorf("applicant reads the retention: got %d, want 403", got)
	}
	if got, code, w := m.send("admin", "DELETE", path, []byte(`{"reason":"appeal decided"}`), js); got != http.StatusOK {
		t.Fatalf("lift: got %d %s %s", got, code, w.Body)
	}
	if n := m.audited(f.cs.ID, storage.AuditLegalHoldSet); n != 1 {
		t.Errorf("hold set events: got %d, want 1", n)
	}
	if n := m.audited(f.cs.ID, storage.AuditLegalHoldLifted); n != 1 {
		t.Errorf("hold lifted events: got %d, want 1", n)
	}
}

// TestHealthWarnsOfUnlockedBucket: a MinIO bucket made without object
// locking is healthy but /healthz says originals are not WORM; a bucket
// siteinspect made (locked) has no warning.
func TestHealthWarnsOfUnlockedBucket(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	for _, locked := range []bool{true, false} {
		cfg := testenv.MinIOConfig(t)
		if !locked {
			probe, err := objects.NewMinIO(ctx, objects.MinIOConfig{Endpoint: cfg.Endpoint, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Bucket: cfg.Bucket + "-probe"})
			if err != nil {
				t.Fatal(err)
			}
			if err := probe.Client().MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		store, err := objects.NewMinIO(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ups, err := storage.NewUploads(db, store, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{DB: db, Objects: store, Uploads: ups, Office: "binhai", NumberPrefix: "BH"})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		warned := strings.Contains(w.Body.String(), "object_store_not_locked")
		if w.Code != http.StatusOK || warned == locked {
			t.Errorf("healthz with a bucket locked=%v: got %d %s, want 200 and a warning only without locking", locked, w.Code, w.Body)
		}
	}
}
