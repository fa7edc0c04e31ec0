package server

import (
	"errors"
	"net/http/httptest"
	"testing"
)

// TestWebSocketRequestChecked: the requests websocket.Accept would refuse
// in plain text get the API's coded refusals first; a WebSocket from the
// page's own origin (or a client that sends none) passes.
func TestWebSocketRequestChecked(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		status  int
		code    string
	}{
		{"a plain GET", nil, 426, "websocket_required"},
		{"Upgrade without Connection", map[string]string{"Upgrade": "websocket"}, 426, "websocket_required"},
		{"another site's page", map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket", "Origin": "https://evil.example"}, 403, "origin_not_allowed"},
		{"the page's own origin", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Origin": "https://site.example"}, 0, ""},
		{"no Origin (a phone app)", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, 0, ""},
	} {
		r := httptest.NewRequest("GET", "https://site.example/api/v1/live/x/ws", nil)
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		err := checkWebSocketRequest(r)
		var he *httpError
		switch {
		case tt.status == 0 && err != nil:
			t.Errorf("%s: got %v, want it let through", tt.name, err)
		case tt.status != 0 && (!errors.As(err, &he) || he.status != tt.status || he.code != tt.code):
			t.Errorf("%s: got %#v, want %d %s", tt.name, err, tt.status, tt.code)
		}
	}
}
