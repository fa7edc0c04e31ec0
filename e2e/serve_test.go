package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"siteinspect/domain"
	"siteinspect/internal/harness"
	"siteinspect/internal/testenv"
)

// TestServeUploadAndPlayback runs the real binary against MinIO: an
// applicant uploads a generated MP4 in one PATCH and reads it back whole.
func TestServeUploadAndPlayback(t *testing.T) {
	p := harness.StartServer(t, harness.S3Args(t)...)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	cs := app.NewCase()
	video := testenv.MakeMP4(t, t.TempDir(), 2, "320x240")
	data, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	loc := app.CreateUpload(cs.ID, "现场.mp4", int64(len(data)))
	resp := app.Patch(loc, 0, bytes.NewReader(data), int64(len(data)))
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Evidence-Id") == "" {
		t.Fatalf("PATCH: got %d, Evidence-Id %q; want 204 with an id", resp.StatusCode, resp.Header.Get("Evidence-Id"))
	}
	var ev domain.Evidence
	app.MustJSON("GET", "/api/v1/evidence/"+resp.Header.Get("Evidence-Id"), nil, http.StatusOK, &ev)
	sum := sha256.Sum256(data)
	if ev.SHA256 != hex.EncodeToString(sum[:]) || ev.Size != int64(len(data)) || ev.Kind != domain.KindVideo || ev.Filename != "现场.mp4" {
		t.Fatalf("evidence: got %+v, want sha256 %x size %d kind video", ev, sum, len(data))
	}
	got := app.Do("GET", "/api/v1/evidence/"+ev.ID+"/content", nil, nil)
	defer got.Body.Close()
	body, _ := io.ReadAll(got.Body)
	if got.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("content: got %d with %d bytes, want 200 with the %d bytes uploaded", got.StatusCode, len(body), len(data))
	}
}

// TestDemoPasswordsSurviveRestart: `serve --demo` restarted on the same
// data folder prints the same passwords, and the sessions made before the
// restart still work (a new password would have ended them). The file
// that keeps them is readable by its owner only.
func TestDemoPasswordsSurviveRestart(t *testing.T) {
	data := t.TempDir()
	p := harness.StartServer(t, "--data", data)
	app := harness.Login(t, p.URL, "applicant", p.Demo["applicant"])
	app.NewCase()
	p.Stop(t)
	q := harness.StartServer(t, "--data", data)
	for user, pw := range p.Demo {
		if q.Demo[user] != pw {
			t.Errorf("%s after the restart: got password %q, want %q kept", user, q.Demo[user], pw)
		}
	}
	if len(p.Demo) < 4 {
		t.Fatalf("demo users: got %v, want every role", p.Demo)
	}
	app.Base = q.URL
	var cases []map[string]any
	app.MustJSON("GET", "/api/v1/cases", nil, http.StatusOK, &cases)
	if len(cases) != 1 {
		t.Errorf("the session made before the restart lists %d cases, want 1", len(cases))
	}
	fi, err := os.Stat(filepath.Join(data, "demo-passwords.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo-passwords.json: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}
