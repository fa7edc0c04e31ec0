package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"siteinspect/domain"
)

// TestPlaybackWhilePictured: a video still processing is refused playback
// (409 still_processing) until the pipeline marks it playable; from then
// on its original is served, before its poster exists (404 meanwhile).
func TestPlaybackWhilePictured(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	original := video(200_000)
	id := e.upload("appA", cs.ID, "site.mp4", original)
	path := "/api/v1/evidence/" + id

	w := e.req("appA", "GET", path+"/playback", nil, nil)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusConflict || body.Error.Code != "still_processing" {
		t.Fatalf("playback before playable: got %d %q, want 409 still_processing", w.Code, body.Error.Code)
	}

	if err := e.db.SetEvidencePlayable(context.Background(), id, nil, &domain.Derived{Playable: true}); err != nil {
		t.Fatal(err)
	}
	w = e.req("appA", "GET", path+"/playback", nil, nil)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), original) {
		t.Fatalf("playback once playable: got %d, %d bytes (equal %t); want 200 and the %d-byte original", w.Code, w.Body.Len(), bytes.Equal(w.Body.Bytes(), original), len(original))
	}
	if w := e.req("appA", "GET", path+"/poster", nil, nil); w.Code != http.StatusConflict {
		t.Fatalf("poster while processing: got %d, want 409", w.Code)
	}
	var ev domain.Evidence
	w = e.req("appA", "GET", path, nil, nil)
	if err := json.Unmarshal(w.Body.Bytes(), &ev); err != nil || ev.Status != domain.EvidenceProcessing || ev.Derived == nil || !ev.Derived.Playable {
		t.Fatalf("evidence: got %d %s, want processing and playable", w.Code, w.Body)
	}
}
