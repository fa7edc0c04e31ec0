package server

import (
	"net/http"
	"testing"
)

// TestJSONContentTypes: a JSON body is taken with application/json or an
// application/<x>+json type, parameters (charset) and case aside, or with
// no Content-Type; any other type, including names that merely begin
// with application/json, is refused with 415 unsupported_media_type.
func TestJSONContentTypes(t *testing.T) {
	m := newMatrix(t)
	body := []byte(`{"permit_type":"hotel","site_name":"Harbour Hotel","site_address":"1 Harbour Rd"}`)
	for _, tt := range []struct {
		ct     string
		status int
	}{
		{"", http.StatusCreated},
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"Application/JSON;charset=UTF-8", http.StatusCreated},
		{"application/merge-patch+json", http.StatusCreated},
		{"application/vnd.siteinspect.case+json; charset=utf-8", http.StatusCreated},
		{"application/jsonx", http.StatusUnsupportedMediaType},
		{"application/json-seq", http.StatusUnsupportedMediaType},
		{"application/jsonx; charset=utf-8", http.StatusUnsupportedMediaType},
		{"application/json/x", http.StatusUnsupportedMediaType},
		{"application/+json", http.StatusUnsupportedMediaType},
		{"application/x+jsonx", http.StatusUnsupportedMediaType},
		{"text/json", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
	} {
		hdr := map[string]string{}
		if tt.ct != "" {
			hdr["Content-Type"] = tt.ct
		}
		status, code, w := m.send("appA", "POST", "/api/v1/cases", body, hdr)
		if status != tt.status || tt.status == http.StatusUnsupportedMediaType && code != "unsupported_media_type" {
			t.Errorf("Content-Type %q: got %d %s %s, want %d", tt.ct, status, code, w.Body, tt.status)
		}
	}
}
