package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestWrongMethodIs405: a method no route of an existing API address takes
// is answered 405 method_not_allowed with Allow (ERRORS.md), not 404
// not_found as if the address did not exist; an address no route takes is
// still 404.
func TestWrongMethodIs405(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	for _, tt := range []struct{ method, path, allow string }{
		{"DELETE", "/api/v1/cases", "GET, POST"},
		{"PUT", "/api/v1/me", "GET"},
		{"POST", "/api/v1/cases/" + cs.ID, "GET"},
	} {
		w := e.req("appA", tt.method, tt.path, nil, nil)
		var got struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != http.StatusMethodNotAllowed || got.Error.Code != "method_not_allowed" || !strings.Contains(w.Header().Get("Allow"), tt.allow) {
			t.Errorf("%s %s: got %d %.200q (Allow %q), want 405 method_not_allowed with Allow holding %s", tt.method, tt.path, w.Code, w.Body, w.Header().Get("Allow"), tt.allow)
		}
	}
	if w := e.req("appA", "GET", "/api/v1/nope", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /api/v1/nope: got %d, want 404", w.Code)
	}
}
