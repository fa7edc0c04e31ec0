package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/server"
)

// readyz asks /readyz and returns the status and the error code (empty
// when ready).
func (e *env) readyz() (int, string) {
	e.t.Helper()
	w := e.req("", "GET", "/readyz", nil, nil)
	var body struct {
		Status string `json:"status"`
		Error  struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("readyz: %d %q is not JSON: %v", w.Code, w.Body, err)
	}
	if w.Code == http.StatusOK && body.Status != "ready" {
		e.t.Fatalf("readyz: got 200 %s, want status ready", w.Body)
	}
	return w.Code, body.Error.Code
}

// TestReadyzDrain: /readyz answers 200 while the database and the object
// store answer; after Drain it answers 503 draining, while the other
// routes, /healthz included, go on serving.
func TestReadyzDrain(t *testing.T) {
	e := newEnv(t)
	if code, reason := e.readyz(); code != http.StatusOK {
		t.Fatalf("readyz before drain: got %d %s, want 200", code, reason)
	}
	if observed := e.srv.Drain(); !observed {
		t.Fatal("Drain after a /readyz: got observed false, want true")
	}
	if code, reason := e.readyz(); code != http.StatusServiceUnavailable || reason != server.CodeDraining {
		t.Fatalf("readyz while draining: got %d %q, want 503 %q", code, reason, server.CodeDraining)
	}
	if w := e.req("", "GET", "/healthz", nil, nil); w.Code != http.StatusOK {
		t.Fatalf("healthz while draining: got %d, want 200", w.Code)
	}
	var me domain.User
	e.json("insp", "GET", "/api/v1/me", nil, http.StatusOK, &me)
	if me.Username != "insp" {
		t.Fatalf("me while draining: got %q, want insp", me.Username)
	}
}

// TestReadyzDatabaseGone: once the database stops answering, /readyz says
// so within its cache time (1 s) plus a ping.
func TestReadyzDatabaseGone(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.readyz(); code != http.StatusOK {
		t.Fatalf("readyz: got %d, want 200", code)
	}
	e.db.Close()
	began := time.Now()
	for {
		code, reason := e.readyz()
		if code == http.StatusServiceUnavailable {
			if reason != domain.CodeDatabaseUnavailable {
				t.Fatalf("readyz without a database: got 503 %q, want %q", reason, domain.CodeDatabaseUnavailable)
			}
			break
		}
		if time.Since(began) > 3*time.Second {
			t.Fatalf("readyz without a database: still %d after 3 s, want 503", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("readyz answered 503 %s %v after the database closed", domain.CodeDatabaseUnavailable, time.Since(began).Round(time.Millisecond))
}

// TestEndStreamsEndsEventStreams: a case's event stream, which never ends
// by itself, ends when the server shuts down (EndStreams), so that
// http.Server.Shutdown does not wait for it; its client goes on elsewhere
// from its Last-Event-ID.
func TestEndStreamsEndsEventStreams(t *testing.T) {
	e := newEnv(t)
	cs := e.newCase("appA")
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/cases/"+cs.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["appA"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: got %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ended := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				ended <- err
				return
			}
		}
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before EndStreams: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	began := time.Now()
	e.srv.EndStreams()
	select {
	case <-ended:
		t.Logf("stream ended %v after EndStreams", time.Since(began).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatal("the stream still runs 2 s after EndStreams, want it ended")
	}
}
