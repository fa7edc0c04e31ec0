package server_test

import (
	"bufio"
	"context"
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

// reqStatus is e.req for a request that may open an event stream where a
// refusal is wanted: the request ends as soon as its status is written,
// so such a stream shows as a 200 at once rather than a request that never
// returns (and 10 s bound the whole request anyway).
func (e *env) reqStatus(user, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := httptest.NewRequest(method, path, nil).WithContext(ctx)
	if user != "" {
		r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := &cancelOnStatus{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	e.srv.ServeHTTP(w, r)
	return w.ResponseRecorder
}

// cancelOnStatus ends its request (an event stream) once the status is
// written, however long the machine took to get there.
type cancelOnStatus struct {
	*httptest.ResponseRecorder
	cancel func()
}

func (c *cancelOnStatus) WriteHeader(code int) {
	c.ResponseRecorder.WriteHeader(code)
	c.cancel()
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
