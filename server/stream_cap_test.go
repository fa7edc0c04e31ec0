package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestEventStreamsCappedPerUser: every committed change wakes every open
// event stream, which then reads the database, so one applicant holding
// thousands of streams (each a cheap GET) made every commit of the office
// cost thousands of queries. A user holds at most 16 at once on a replica,
// the case's and the badge's together; the next is 429 too_many_streams,
// and closing one frees its place. Another user is not held by it.
func TestEventStreamsCappedPerUser(t *testing.T) {
	e := newEnv(t)
	ts := newHTTPServer(t, e)
	cs := e.newCase("appA")
	urls := []string{ts + "/api/v1/notifications/events", ts + "/api/v1/cases/" + cs.ID + "/events"}
	open := func(user, url string) *http.Response {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var held []*http.Response
	for i := range 16 {
		resp := open("appA", urls[i%2])
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: got %d, want 200", i+1, resp.StatusCode)
		}
		held = append(held, resp)
	}
	resp := open("appA", urls[1])
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusTooManyRequests || body.Error.Code != "too_many_streams" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("17th stream: got %d %q (Retry-After %q), want 429 too_many_streams with Retry-After",
			resp.StatusCode, body.Error.Code, resp.Header.Get("Retry-After"))
	}
	if resp := open("insp", urls[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("another user's stream: got %d, want 200", resp.StatusCode)
	}
	held[0].Body.Close()
	for i := 0; ; i++ {
		resp := open("appA", urls[0])
		if resp.StatusCode == http.StatusOK {
			break
		}
		if i == 50 {
			t.Fatalf("after closing one: got %d, want 200", resp.StatusCode)
		}
		resp.Body.Close()
		// The server notices the closed stream at its next write or its
		// request context's end; give it a moment.
		<-timeAfter(100)
	}
}

func timeAfter(ms int) <-chan time.Time { return time.After(time.Duration(ms) * time.Millisecond) }
