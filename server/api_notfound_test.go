package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"siteinspect/server"
	"siteinspect/web"
)

// TestUnknownAPIPathIsJSON: with the UI served, an address under /api/
// that is no API route (another version, a typo) is answered 404 not_found
// in the API's JSON, not by the UI's plain-text 404.
func TestUnknownAPIPathIsJSON(t *testing.T) {
	e := newEnv(t)
	ui, err := web.FS()
	if err != nil {
		t.Fatal(err)
	}
	if e.srv, err = server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Web: ui}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v2/cases", "/api/x", "/api"} {
		w := e.req("appA", "GET", p, nil, nil)
		var got struct {
			Error struct{ Code string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusNotFound || err != nil || got.Error.Code != "not_found" {
			t.Errorf("GET %s: got %d %q, want 404 not_found in JSON", p, w.Code, w.Body)
		}
	}
	if w := e.req("", "GET", "/no/such/page", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /no/such/page: got %d, want the UI's 404", w.Code)
	}
}
