package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestLoginLongUsername: a login whose username is longer than any account
// may have (here 50 Chinese characters, 150 bytes) is answered 401
// bad_credentials on either database; its limiter key, cut to 128 bytes,
// is cut between characters, not inside one, which PostgreSQL refused
// as text that is not UTF-8 (400 text_invalid).
func TestLoginLongUsername(t *testing.T) {
	e := newEnv(t)
	body, _ := json.Marshal(map[string]string{"username": strings.Repeat("界", 50), "password": "whatever"})
	w := e.req("", "POST", "/api/v1/auth/login", strings.NewReader(string(body)), map[string]string{"Content-Type": "application/json"})
	var got struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &got)
	if w.Code != http.StatusUnauthorized || got.Error.Code != "bad_credentials" {
		t.Fatalf("login with a 50-character Chinese username: got %d %.200s, want 401 bad_credentials", w.Code, w.Body)
	}
}
