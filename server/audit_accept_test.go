package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"siteinspect/storage"
)

// getAccept gets path as user with an Accept header.
func (e *statsEnv) getAccept(user, path, accept string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w
}

// TestOfficeAuditAcceptCSV: GET /api/v1/audit with Accept: text/csv (or an
// Accept whose q values prefer it) streams the same filters' events as CSV
// (API.md "Office"), from below a cursor when given; JSON otherwise; the
// roles refused stay refused.
func TestOfficeAuditAcceptCSV(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	e.at("2026-03-10", "09:00")
	for _, target := range []string{"one", "two", "three"} {
		_, err := e.db.RecordAudit(ctx, storage.Audit{ActorID: e.users["insp"].ID, Action: "auth.login", Target: target})
		e.must(err)
	}
	const path = "/api/v1/audit?action=auth.login&actor=insp&lang=en"
	targets := func(w *httptest.ResponseRecorder) []string {
		t.Helper()
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("got %d %q %s, want 200 text/csv", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(w.Body.Bytes(), []byte("\xEF\xBB\xBF")))).ReadAll()
		e.must(err)
		if len(rows) == 0 || rows[0][0] != "seq" {
			t.Fatalf("got rows %q, want the English header first", rows)
		}
		var out []string
		for _, r := range rows[1:] {
			if r[5] != "auth.login" || r[3] != "insp" {
				t.Errorf("got row %q, want only insp's auth.login (the filters)", r)
			}
			out = append(out, r[8])
		}
		return out
	}
	for _, accept := range []string{"text/csv", "text/csv; charset=utf-8", "application/json;q=0.5, text/csv", "text/csv, */*;q=0.1", "text/*", "text/csv, */*"} {
		if got := targets(e.getAccept("sup", path, accept)); strings.Join(got, ",") != "three,two,one" {
			t.Errorf("Accept %q: got targets %q, want three,two,one", accept, got)
		}
	}
	for _, accept := range []string{"", "application/json", "*/*", "text/csv;q=0.2, application/json", "text/csv;q=0, */*", "application/json, text/csv"} {
		w := e.getAccept("sup", path, accept)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("Accept %q: got %d %q, want 200 JSON", accept, w.Code, w.Header().Get("Content-Type"))
		}
		if !strings.Contains(w.Header().Get("Vary"), "Accept") {
			t.Errorf("Accept %q: got Vary %q, want Accept", accept, w.Header().Get("Vary"))
		}
	}
	// A cursor from a JSON page: the CSV goes on below it.
	_, page, next := e.auditPage("sup", path+"&limit=1")
	if len(page) != 1 || next == "" {
		t.Fatalf("first page: got %d events next %q, want 1 and a next page", len(page), next)
	}
	if got := targets(e.getAccept("sup", path+"&cursor="+strconv.FormatInt(page[0].Seq, 10), "text/csv")); strings.Join(got, ",") != "two,one" {
		t.Errorf("CSV from the cursor: got %q, want two,one", got)
	}
	if w := e.getAccept("sup", path+"&cursor=x", "text/csv"); w.Code != http.StatusBadRequest {
		t.Errorf("CSV with a bad cursor: got %d, want 400", w.Code)
	}
	// Still the supervisors' and admins' only.
	if w := e.getAccept("insp", path, "text/csv"); w.Code != http.StatusForbidden {
		t.Errorf("an inspector asking for CSV: got %d %s, want 403", w.Code, w.Body)
	}
}
