package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var jsonMarshal = json.Marshal

// newHTTPServer serves the env's server on a real loopback socket (SSE
// needs a streaming connection, not a recorder).
func newHTTPServer(t *testing.T, e *env) string {
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

// openEvents opens an event stream at url with a bearer token, resuming
// after lastID when it is not "", and returns the response and its reader.
func openEvents(t *testing.T, url, token, lastID string) (*http.Response, func() string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, sseReader(t, resp)
}

// sseReader returns a function that reads the next event block, failing
// the test if none arrives within 5 s.
func sseReader(t *testing.T, resp *http.Response) func() string {
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: got %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	blocks := make(chan string, 100)
	go func() {
		defer close(blocks)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var b strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				if b.Len() > 0 {
					blocks <- b.String()
				}
				b.Reset()
				continue
			}
			b.WriteString(sc.Text() + "\n")
		}
	}()
	return func() string {
		t.Helper()
		select {
		case b, ok := <-blocks:
			if !ok {
				t.Fatal("event stream ended")
			}
			return b
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
		return ""
	}
}

func sseID(block string) string {
	for _, l := range strings.Split(block, "\n") {
		if v, ok := strings.CutPrefix(l, "id: "); ok {
			return v
		}
	}
	return ""
}
