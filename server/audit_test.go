package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"siteinspect/domain"
	"siteinspect/storage"
)

// auditPage gets path as user and returns the status, the events and the
// rel="next" address of the Link header ("" when none).
func (e *statsEnv) auditPage(user, path string) (int, []storage.OfficeAuditEvent, string) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+e.tokens[user])
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return w.Code, nil, ""
	}
	var out []storage.OfficeAuditEvent
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, w.Body)
	}
	next := ""
	if m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(w.Header().Get("Link")); m != nil {
		next = m[1]
	} else if l := w.Header().Get("Link"); l != "" {
		e.t.Fatalf("GET %s: got Link %q, want <uri>; rel=\"next\"", path, l)
	}
	return w.Code, out, next
}

// walk follows rel="next" from path and returns every event's seq in the
// order met.
func (e *statsEnv) walk(user, path string) []int64 {
	e.t.Helper()
	var seqs []int64
	for pages := 0; path != ""; pages++ {
		if pages > 200 {
			e.t.Fatal("more than 200 pages: the cursor does not advance")
		}
		code, page, next := e.auditPage(user, path)
		if code != http.StatusOK {
			e.t.Fatalf("GET %s: got %d, want 200", path, code)
		}
		for _, ev := range page {
			seqs = append(seqs, ev.Seq)
		}
		path = next
	}
	return seqs
}

// TestOfficeAuditRolesAndWalk: a supervisor of the office and an admin
// read the office's trail, page after page through rel="next", each event
// exactly once; a supervisor of another office, officers and applicants
// are refused; another office's case never shows; every search is itself
// an event.
func TestOfficeAuditRolesAndWalk(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		cs := e.submit("2026-03-10", "09:0"+string(rune('0'+i)))
		e.take(cs, "insp")
	}
	other, err := e.db.CreateCase(ctx, e.users["appA"], "elsewhere", "EW", e.loc, domainNewCase())
	e.must(err)

	for _, tc := range []struct {
		user string
		want int
	}{{"sup", 200}, {"admin", 200}, {"supOther", 403}, {"insp", 403}, {"rev", 403}, {"appA", 403}} {
		for _, path := range []string{"/api/v1/audit", "/api/v1/audit.csv"} {
			code, _ := e.get(tc.user, path)
			if code != tc.want {
				t.Errorf("%s GET %s: got %d, want %d", tc.user, path, code, tc.want)
			}
		}
	}
	code, body := e.get("insp", "/api/v1/audit")
	if code != http.StatusForbidden || !strings.Contains(string(body), `"office_not_permitted"`) {
		t.Errorf("inspector: got %d %s, want 403 office_not_permitted", code, body)
	}

	// What the office's trail holds now, read straight from the records.
	want, _, err := e.db.FindAudit(ctx, storage.AuditQuery{Office: "binhai", Limit: 100000})
	e.must(err)
	if len(want) < 10 {
		t.Fatalf("got %d events in the fixture, want at least 10", len(want))
	}
	var wantSeqs []int64
	for _, ev := range want {
		if ev.CaseID == other.ID {
			t.Fatalf("got event %d of another office's case in binhai's trail", ev.Seq)
		}
		wantSeqs = append(wantSeqs, ev.Seq)
	}
	got := e.walk("sup", "/api/v1/audit?limit=3")
	if !slices.Equal(got, wantSeqs) {
		t.Errorf("walk in pages of 3:\ngot  %v\nwant %v", got, wantSeqs)
	}
	// The walk's own searches (audit.searched) came after its first page,
	// so none is in it: one a page, by the supervisor, above the newest
	// event the walk met.
	searched, _, err := e.db.FindAudit(ctx, storage.AuditQuery{Office: "binhai", Action: "audit.searched", Actor: "sup", Limit: 1000})
	e.must(err)
	var own int
	for _, ev := range searched {
		if ev.Seq > wantSeqs[0] {
			own++
		}
	}
	if pages := (len(wantSeqs) + 2) / 3; own != pages {
		t.Errorf("got %d audit.searched events by sup after the walk began, want one for each of its %d pages", own, pages)
	}
	var data map[string]any
	e.must(json.Unmarshal(searched[0].Data, &data))
	if data["cursor"] == nil || data["office"] != "binhai" {
		t.Errorf("got the last page's audit.searched data %v, want its cursor and office", data)
	}
}

func domainNewCase() domain.NewCase {
	return domain.NewCase{PermitType: "hotel", SiteName: "Harbour Hotel", SiteAddress: "1 Harbour Rd"}
}

// TestOfficeAuditFilters: each filter over HTTP, and the refusals of bad
// values with their codes.
func TestOfficeAuditFilters(t *testing.T) {
	e := newStatsEnv(t)
	csA := e.submit("2026-03-10", "09:00") // case.created, evidence, case.status …
	e.take(csA, "insp")
	csB := e.submit("2026-03-11", "23:30") // Shanghai: 03-11; UTC: 03-11 15:30
	e.take(csB, "insp2")

	count := func(path string) []storage.OfficeAuditEvent {
		t.Helper()
		var all []storage.OfficeAuditEvent
		for path != "" {
			code, page, next := e.auditPage("sup", path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", path, code)
			}
			all, path = append(all, page...), next
		}
		return all
	}
	byCase := count("/api/v1/audit?case=" + csA.Number)
	if len(byCase) == 0 {
		t.Fatalf("case %s: got no events, want its trail", csA.Number)
	}
	for _, ev := range byCase {
		if ev.CaseID != csA.ID || ev.CaseNumber != csA.Number {
			t.Errorf("case filter: got event of case %s (%s), want only %s", ev.CaseID, ev.CaseNumber, csA.Number)
		}
	}
	for _, ev := range count("/api/v1/audit?actor=insp2") {
		if ev.ActorName != "insp2" || ev.CaseID != csB.ID {
			t.Errorf("actor filter: got %s by %s on %s, want only insp2's on case B", ev.Action, ev.ActorName, ev.CaseID)
		}
	}
	if n := len(count("/api/v1/audit?actor=insp2")); n == 0 {
		t.Error("actor filter: got no events of insp2, want the assignment")
	}
	for _, ev := range count("/api/v1/audit?action=case.*") {
		if !strings.HasPrefix(ev.Action, "case.") {
			t.Errorf("action prefix: got %s", ev.Action)
		}
	}
	// Office days in Shanghai: case B's events (23:30 on 03-11 there, 15:30
	// in UTC) are 03-11's, not 03-12's, though 03-11 in UTC too.
	day := func(from, to string) map[string]bool {
		cases := map[string]bool{}
		for _, ev := range count("/api/v1/audit?from=" + from + "&to=" + to) {
			if ev.CaseID != "" {
				cases[ev.CaseID] = true
			}
		}
		return cases
	}
	if got := day("2026-03-11", "2026-03-11"); !got[csB.ID] || got[csA.ID] {
		t.Errorf("office day 03-11: got cases %v, want B (%s) only", got, csB.ID)
	}
	if got := day("2026-03-10", "2026-03-10"); got[csB.ID] || !got[csA.ID] {
		t.Errorf("office day 03-10: got cases %v, want A (%s) only", got, csA.ID)
	}
	if got := day("2026-03-12", "2026-03-12"); len(got) != 0 {
		t.Errorf("office day 03-12: got cases %v, want none", got)
	}
	// RFC 3339 instants, both included: case B's events are at 15:30Z.
	if got := day("2026-03-11T15:30:00Z", "2026-03-11T15:30:00Z"); !got[csB.ID] || got[csA.ID] {
		t.Errorf("instant 15:30Z..15:30Z: got cases %v, want B only", got)
	}

	for _, tc := range []struct{ path, code string }{
		{"/api/v1/audit?from=yesterday", "bad_time"},
		{"/api/v1/audit?to=2026-13-01", "bad_time"},
		{"/api/v1/audit?limit=0", "bad_limit"},
		{"/api/v1/audit?limit=1001", "bad_limit"},
		{"/api/v1/audit?cursor=abc", "bad_cursor"},
		{"/api/v1/audit.csv?from=x", "bad_time"},
	} {
		code, body := e.get("sup", tc.path)
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
			t.Errorf("GET %s: got %d %s, want 400 %s", tc.path, code, body, tc.code)
		}
	}
}

// TestOfficeAuditCSV: the export is UTF-8 with a BOM, RFC 4180 with CRLF,
// times in the office's zone, Chinese intact, cells a spreadsheet would
// run as formulas defused, and the export itself audited.
func TestOfficeAuditCSV(t *testing.T) {
	e := newStatsEnv(t)
	ctx := context.Background()
	evil, err := e.db.CreateUser(ctx, "evil", "password-evil", "inspector", "=HYPERLINK(\"http://x\")", "binhai")
	e.must(err)
	zh, err := e.db.CreateUser(ctx, "zhang", "password-zhang", "inspector", "张三", "binhai")
	e.must(err)
	e.at("2026-03-10", "23:45") // 15:45 UTC
	for _, a := range []storage.Audit{
		{ActorID: evil.ID, Action: "auth.login", Target: "+1-2"},
		{ActorID: zh.ID, Action: "auth.login", Target: "@SUM(A1)"},
		{ActorID: zh.ID, Action: "auth.login", Target: "-3, \"quoted\"\nline"},
	} {
		_, err := e.db.RecordAudit(ctx, a)
		e.must(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/audit.csv?action=auth.login&lang=en", nil)
	r.Header.Set("Authorization", "Bearer "+e.tokens["sup"])
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("export: got %d %s, want 200", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("got Content-Type %q, want text/csv; charset=utf-8", ct)
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="audit-binhai-`) {
		t.Errorf("got Content-Disposition %q, want an attachment audit-binhai-…", cd)
	}
	body := w.Body.Bytes()
	if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
		t.Fatalf("got the file starting %q, want the UTF-8 BOM", body[:min(8, len(body))])
	}
	if !bytes.Contains(body, []byte("\r\n")) {
		t.Error("got no CRLF line ends, want RFC 4180's")
	}
	rows, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	e.must(err)
	wantHeader := []string{"seq", "time", "zone", "actor", "actor name", "action", "case number", "case id", "target", "data", "hash"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("got header %q, want %q", rows[0], wantHeader)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want the header and 3 logins: %q", len(rows), rows)
	}
	type cell struct{ actor, name, target string }
	var got []cell
	for _, row := range rows[1:] {
		got = append(got, cell{row[3], row[4], row[8]})
		if row[1] != "2026-03-10 23:45:00.000" || row[2] != "Asia/Shanghai" {
			t.Errorf("got time %q %q, want 2026-03-10 23:45:00.000 Asia/Shanghai (the office's zone, not UTC)", row[1], row[2])
		}
		if row[5] != "auth.login" || len(row[10]) != 64 {
			t.Errorf("got action %q hash %q, want auth.login and a SHA-256", row[5], row[10])
		}
	}
	want := []cell{
		{"zhang", "张三", "'-3, \"quoted\"\nline"},
		{"zhang", "张三", "'@SUM(A1)"},
		{"evil", "'=HYPERLINK(\"http://x\")", "'+1-2"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got cells\n%q\nwant\n%q", got, want)
	}
	// The export was recorded, with its filter.
	ex, _, err := e.db.FindAudit(ctx, storage.AuditQuery{Office: "binhai", Action: "audit.exported", Limit: 10})
	e.must(err)
	if len(ex) != 1 || ex[0].ActorName != "sup" || !strings.Contains(string(ex[0].Data), `"action":"auth.login"`) {
		t.Errorf("got audit.exported events %+v, want one by sup naming its filter", ex)
	}
	// Chinese headers by default.
	code, zhBody := e.get("sup", "/api/v1/audit.csv")
	if code != http.StatusOK || !bytes.HasPrefix(zhBody, []byte("\xEF\xBB\xBF序号,时间,")) {
		t.Errorf("got %d %q, want 200 and the Chinese header", code, zhBody[:min(40, len(zhBody))])
	}
}

// TestCSVSafe: cells a spreadsheet could run as a formula, also behind
// spaces or typed full-width by a Chinese input method, get an apostrophe;
// others are left as they are.
func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1":               "'=1+1",
		" =HYPERLINK(\"x\")": "' =HYPERLINK(\"x\")",
		"\u3000＝1+1":         "'\u3000＝1+1",
		"＋1":                 "'＋1",
		"－1":                 "'－1",
		"＠SUM(A1)":           "'＠SUM(A1)",
		"@x":                 "'@x",
		"\tx":                "'\tx",
		"\nx":                "'\nx",
		"张三":                 "张三",
		"a=b":                "a=b",
		"":                   "",
		"   ":                "   ",
		// Bidi controls show as U+FFFD, as in the UI.
		"invoice\u202Efdp.hta": "invoice\uFFFDfdp.hta",
		"\u2066=1+1\u2069":     "\uFFFD=1+1\uFFFD",
		"\u202B张三\u202C":       "\uFFFD张三\uFFFD",
		"a\u200Db":             "a\u200Db", // a joiner, not a control of order: kept
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q): got %q, want %q", in, got, want)
		}
	}
}
