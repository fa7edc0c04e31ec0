package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// auditCounts counts the audit events of every action, from the store.
func (e *env) auditCounts() map[string]int {
	e.t.Helper()
	rows, err := e.db.SQL().QueryContext(context.Background(), `SELECT action, COUNT(*) FROM audit_events GROUP BY action`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var action string
		var n int
		if err := rows.Scan(&action, &n); err != nil {
			e.t.Fatal(err)
		}
		out[action] = n
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// A link on another site that an officer follows (an applicant's e-mail,
// a web page) carries the officer's SameSite=Lax session cookie on the
// top-level navigation: it must not issue a report, download a bundle or
// open evidence in the officer's name. A cookie session's GET of a route
// that records an audit event is refused with 403 cross_site_request when
// the browser says Sec-Fetch-Site: cross-site, and records nothing; the
// same request from the UI's own origin, the same site, the address bar
// (none), a client that sends no Sec-Fetch-Site, or a bearer token is
// served and recorded as before.
func TestCrossSiteGETRefused(t *testing.T) {
	e := newEnv(t)
	e.withReports(nil)
	cs, ev := e.decidedCase()
	refused := func(t *testing.T, user, method, path string) {
		t.Helper()
		before := e.auditCounts()
		w := e.req("", method, path, nil, map[string]string{"Cookie": "siteinspect_session=" + e.tokens[user], "Sec-Fetch-Site": "cross-site"})
		var apiErr struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(w.Body.Bytes(), &apiErr)
		if w.Code != http.StatusForbidden || apiErr.Error.Code != "cross_site_request" ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || bytes.Contains(w.Body.Bytes(), []byte("%PDF")) {
			t.Errorf("cookie %s with Sec-Fetch-Site cross-site: got %d %s %.80q, want 403 cross_site_request in JSON",
				method, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
		if cd := w.Header().Get("Content-Disposition"); cd != "" {
			t.Errorf("the refusal carries Content-Disposition %q", cd)
		}
		if after := e.auditCounts(); total(after) != total(before) {
			t.Errorf("refused cross-site %s recorded events: got %v, want %v", method, after, before)
		}
	}
	// A PDF's page (an evidence.read): refused before the handler looks
	// at the item (this one is a video, which has no pages).
	t.Run("pages", func(t *testing.T) { refused(t, "lijian", "GET", "/api/v1/evidence/"+ev+"/pages/1") })
	for _, r := range []struct {
		name, user, path, action string
	}{
		{"report.pdf", "lijian", "/api/v1/cases/" + cs.ID + "/report.pdf", "report.issued"},
		{"report.json", "lijian", "/api/v1/cases/" + cs.ID + "/report.json", "report.issued"},
		{"bundle.zip", "lijian", "/api/v1/cases/" + cs.ID + "/bundle.zip", "bundle.downloaded"},
		{"content", "lijian", "/api/v1/evidence/" + ev + "/content?download=1", "evidence.read"},
		{"playback", "lijian", "/api/v1/evidence/" + ev + "/playback", "evidence.read"},
		{"audit", "admin", "/api/v1/audit", "audit.searched"},
		{"audit.csv", "admin", "/api/v1/audit.csv", "audit.exported"},
	} {
		t.Run(r.name, func(t *testing.T) {
			cookie := "siteinspect_session=" + e.tokens[r.user]
			refused(t, r.user, "GET", r.path)

			for _, ok := range []struct {
				name string
				user string
				hdr  map[string]string
			}{
				{"cookie, same-origin", "", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}},
				{"cookie, same-site", "", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-site"}},
				{"cookie, typed address (none)", "", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "none"}},
				{"cookie, no Sec-Fetch-Site", "", map[string]string{"Cookie": cookie}},
				{"bearer token, cross-site", r.user, map[string]string{"Sec-Fetch-Site": "cross-site"}},
			} {
				before := e.auditCounts()
				w := e.req(ok.user, "GET", r.path, nil, ok.hdr)
				if w.Code != http.StatusOK {
					t.Errorf("%s: got %d %.200s, want 200", ok.name, w.Code, w.Body)
					continue
				}
				if got := e.auditCounts()[r.action]; got != before[r.action]+1 {
					t.Errorf("%s: %s events went from %d to %d, want one more", ok.name, r.action, before[r.action], got)
				}
			}
		})
	}
}
