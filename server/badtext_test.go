package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestNULAndBrokenUTF8Refused: a NUL character (or, in the address, bytes
// that are not UTF-8) anywhere a request carries text is refused with 400
// text_invalid before it reaches the database, whichever database it is:
// PostgreSQL refuses such text itself, with an error that was a 500 here,
// on the unauthenticated login too. An escaped backslash that only reads
// "\u0000" is text like any other.
func TestNULAndBrokenUTF8Refused(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	var a struct {
		ID string `json:"id"`
	}
	e.json("insp", "POST", "/api/v1/evidence/"+r.video+"/annotations", map[string]any{"body": "ok", "start_ms": 10}, http.StatusCreated, &a)
	note := a.ID
	for _, tt := range []struct {
		name, user, method, path, body string
		want                           int
		code                           string
	}{
		{"NUL in an id", "appA", "GET", "/api/v1/cases/a%00b", "", 400, "text_invalid"},
		{"not UTF-8 in a search", "insp", "GET", "/api/v1/cases?q=%ff", "", 400, "text_invalid"},
		{"NUL in a query key", "insp", "GET", "/api/v1/cases?q%00=x", "", 400, "text_invalid"},
		{"NUL in an upload's id", "appA", "HEAD", "/api/v1/uploads/a%00b", "", 400, ""}, // a HEAD has no body
		{"NUL in the login", "", "POST", "/api/v1/auth/login", `{"username":"a\u0000","password":"x"}`, 400, "text_invalid"},
		{"NUL in a case field", "appA", "POST", "/api/v1/cases", `{"permit_type":"hotel","site_name":"a\u0000b","site_address":"1 Rd"}`, 400, "text_invalid"},
		{"NUL in a merge patch", "insp", "PATCH", "/api/v1/annotations/" + note, `{"body":"a\u0000"}`, 400, "text_invalid"},
		{"an escaped backslash", "appA", "POST", "/api/v1/cases", `{"permit_type":"hotel","site_name":"a\\u0000b","site_address":"1 Rd"}`, 201, ""},
	} {
		hdr := map[string]string{"Content-Type": "application/json"}
		if tt.method == "PATCH" {
			hdr["If-Match"] = `"1"`
		}
		w := e.req(tt.user, tt.method, tt.path, strings.NewReader(tt.body), hdr)
		var got struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != tt.want || got.Error.Code != tt.code {
			t.Errorf("%s: got %d %q (%.200s), want %d %q", tt.name, w.Code, got.Error.Code, w.Body.String(), tt.want, tt.code)
		}
	}
	var made struct {
		SiteName string `json:"site_name"`
	}
	w := e.req("appA", "POST", "/api/v1/cases", strings.NewReader(`{"permit_type":"hotel","site_name":"a\\u0000b","site_address":"1 Rd"}`), map[string]string{"Content-Type": "application/json"})
	json.Unmarshal(w.Body.Bytes(), &made)
	if w.Code != http.StatusCreated || made.SiteName != `a\u0000b` {
		t.Errorf("a site name that reads a\\u0000b: got %d %q", w.Code, made.SiteName)
	}
}

// TestBadQueryParametersRefused: a filter or cursor that means nothing is
// 400 with its code, not an empty page or the first one; on the event
// stream (?after= or Last-Event-ID), not the whole trail from its start.
func TestBadQueryParametersRefused(t *testing.T) {
	e := newEnv(t)
	r := e.reviewCase()
	for _, tt := range []struct {
		name, user, path, lastEventID, code string
	}{
		{"a notification cursor never given", "appA", "/api/v1/notifications?before=garbage", "", "bad_cursor"},
		{"another user's notification as cursor", "insp", "/api/v1/notifications?before=" + e.firstNotification("appA"), "", "bad_cursor"},
		{"an unknown severity", "insp", r.path + "/annotations?severity=bogus", "", "bad_filter"},
		{"a seq that is not a number", "insp", r.path + "/audit?after=garbage", "", "bad_cursor"},
		{"a negative seq on the stream", "insp", r.path + "/events?after=-1", "", "bad_cursor"},
		{"an unreadable Last-Event-ID", "insp", r.path + "/events", "garbage", "bad_cursor"},
		{"a negative Last-Event-ID", "insp", r.path + "/events?after=1", "-5", "bad_cursor"},
	} {
		hdr := map[string]string{}
		if tt.lastEventID != "" {
			hdr["Last-Event-ID"] = tt.lastEventID
		}
		// A stream opened where a refusal is wanted answers 200 at once
		// (reqStatus), instead of a request that never returns.
		w := e.reqStatus(tt.user, "GET", tt.path, hdr)
		var got struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != http.StatusBadRequest || got.Error.Code != tt.code {
			t.Errorf("%s: got %d %.200s, want 400 %s", tt.name, w.Code, w.Body, tt.code)
		}
	}
	var page struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.json("appA", "GET", "/api/v1/notifications?before="+e.firstNotification("appA"), nil, http.StatusOK, &page)
}

// firstNotification is the id of the user's newest notification.
func (e *env) firstNotification(user string) string {
	e.t.Helper()
	var page struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.json(user, "GET", "/api/v1/notifications", nil, http.StatusOK, &page)
	if len(page.Items) == 0 {
		e.t.Fatalf("%s has no notification", user)
	}
	return page.Items[0].ID
}
