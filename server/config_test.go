package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// TestConfigServedWithoutLogin: GET /api/v1/config answers anyone with the
// office, its zone, the languages and the upload limits.
func TestConfigServedWithoutLogin(t *testing.T) {
	db := testenv.NewDB(t)
	d, err := objects.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(db, d, domain.UploadConfig{SpoolDir: t.TempDir(), PartSize: objects.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, officeName, wantName string }{
		{"named", "滨海新区行政审批局", "滨海新区行政审批局"},
		{"unnamed shows the code", "", "binhai"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{DB: db, Objects: d, Uploads: ups, Office: "binhai", OfficeName: tc.officeName, NumberPrefix: "BH", Location: shanghai})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/config", nil))
			if w.Code != http.StatusOK {
				t.Fatalf("GET /api/v1/config without login: got %d %s, want 200", w.Code, w.Body)
			}
			var got publicConfig
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", w.Body, err)
			}
			if got.Office != (publicOffice{Code: "binhai", Name: tc.wantName, NameZh: tc.wantName, NameEn: tc.wantName}) {
				t.Errorf("office: got %+v, want code binhai, name, name_zh and name_en %q", got.Office, tc.wantName)
			}
			if got.Timezone != "Asia/Shanghai" {
				t.Errorf("timezone: got %q, want Asia/Shanghai", got.Timezone)
			}
			if strings.Join(got.Languages, ",") != "zh,en" {
				t.Errorf("languages: got %v, want [zh en]", got.Languages)
			}
			if got.Limits.MaxUploadBytes != 8<<30 {
				t.Errorf("max_upload_bytes: got %d, want %d", got.Limits.MaxUploadBytes, int64(8<<30))
			}
			for k, v := range domain.DefaultLimits {
				if got.Limits.PerKind[k] != v {
					t.Errorf("per_kind[%s]: got %d, want %d", k, got.Limits.PerKind[k], v)
				}
			}
		})
	}
}

// TestErrorCodesPeopleMeet: the refusals a person meets in the UI carry a
// code of their own, not only their class's, so the UI can say them in
// the person's language.
func TestErrorCodesPeopleMeet(t *testing.T) {
	m := newMatrix(t)
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	draft := m.build(domain.StatusDraft)
	empty, err := m.db.CreateCase(context.Background(), m.users["appA"], "binhai", "BH", time.UTC,
		domain.NewCase{PermitType: "hotel", SiteName: "Harbour Hotel", SiteAddress: "1 Harbour Rd"})
	if err != nil {
		t.Fatal(err)
	}
	inReview := m.build(domain.StatusInReview)
	for _, tc := range []struct {
		name, user, method, path, body string
		hdr                            map[string]string
		wantStatus                     int
		wantCode                       string
	}{
		{"wrong password", "", "POST", "/api/v1/auth/login", `{"username":"appA","password":"not-the-password"}`, jsonHdr, 401, "bad_credentials"},
		{"no password", "", "POST", "/api/v1/auth/login", `{"username":"appA","password":""}`, jsonHdr, 400, "credentials_required"},
		{"officer opens a case", "insp", "POST", "/api/v1/cases", `{"permit_type":"hotel","site_name":"x","site_address":"y"}`, jsonHdr, 403, "applicants_only"},
		{"unknown permit type", "appA", "POST", "/api/v1/cases", `{"permit_type":"casino","site_name":"x","site_address":"y"}`, jsonHdr, 400, "unknown_permit_type"},
		{"no site name", "appA", "POST", "/api/v1/cases", `{"permit_type":"hotel","site_name":"","site_address":"y"}`, jsonHdr, 400, "field_required"},
		{"empty file", "appA", "POST", "/api/v1/cases/" + draft.cs.ID + "/uploads", "", map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": "0", "Upload-Metadata": "filename YS5tcDQ="}, 400, "upload_length_invalid"},
		{"submit without evidence", "appA", "POST", "/api/v1/cases/" + empty.ID + "/submit", "", nil, 422, "no_evidence"},
		{"failed finding without a note", "insp", "POST", "/api/v1/cases/" + inReview.cs.ID + "/findings", `{"checklist_item":"fire-exits","result":"fail"}`, jsonHdr, 400, "finding_note_required"},
		{"decision before findings", "insp", "POST", "/api/v1/cases/" + inReview.cs.ID + "/decision", `{"outcome":"reject","summary":"no"}`, jsonHdr, 422, "findings_incomplete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, code, w := m.send(tc.user, tc.method, tc.path, []byte(tc.body), tc.hdr)
			if got != tc.wantStatus || code != tc.wantCode {
				t.Errorf("got %d %s (%s), want %d %s", got, code, strings.TrimSpace(w.Body.String()), tc.wantStatus, tc.wantCode)
			}
		})
	}
}

// loginPageCodes are the codes the login page can meet before strings.js
// has loaded: a sign-in's own, a server in trouble, and the classes
// errorText falls back on for a code it does not know.
var loginPageCodes = map[string]bool{
	"bad_credentials": true, "credentials_required": true, "rate_limited": true,
	"database_unavailable": true, "draining": true, "internal": true,
	"unauthenticated": true, "forbidden": true, "not_found": true, "invalid": true, "unavailable": true,
}

// TestEveryErrorCodeIsTranslatedAndDocumented reads the codes the server
// and the domain and storage give (coded errors, Code constants, the class codes) and
// checks that the UI's table says each in Chinese and English and that
// docs/ERRORS.md lists it: a new code with neither fails here.
func TestEveryErrorCodeIsTranslatedAndDocumented(t *testing.T) {
	codes := map[string]bool{}
	for _, k := range errorKinds {
		codes[k.code] = true
	}
	for _, c := range statusCodes {
		codes[c] = true
	}
	codes["internal"] = true
	literal := regexp.MustCompile(`(?:newCodedError\([^,]+|Coded\([\w.]+), "([a-z_]+)"`)
	constant := regexp.MustCompile(`\bCode\w+\s*=\s*"([a-z_]+)"`)
	for _, glob := range []string{"*.go", "../domain/*.go", "../storage/*.go", "../storage/*/*.go"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range []*regexp.Regexp{literal, constant} {
				for _, m := range re.FindAllSubmatch(b, -1) {
					codes[string(m[1])] = true
				}
			}
		}
	}
	if len(codes) < 60 {
		t.Fatalf("found %d codes in the sources, want at least 60: is the scan broken?", len(codes))
	}
	for c := range loginPageCodes {
		if !codes[c] {
			t.Errorf("loginPageCodes names %q, which the server never gives", c)
		}
	}
	// i18n.js holds what the login page can meet; strings.js, loaded
	// before any later page draws, the rest.
	core, err := os.ReadFile("../web/static/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	later, err := os.ReadFile("../web/static/strings.js")
	if err != nil {
		t.Fatal(err)
	}
	i18n := slices.Concat(core, later)
	doc, err := os.ReadFile("../docs/ERRORS.md")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for c := range codes {
		entry := regexp.MustCompile(`(?m)^  ` + c + `: \{ zh: '(?:[^'\\]|\\.)*\p{Han}(?:[^'\\]|\\.)*', en: '(?:[^'\\]|\\.)+' \},$`)
		if !entry.Match(i18n) {
			missing = append(missing, c+" (web/static/i18n.js or strings.js, zh and en)")
		}
		// The codes a sign-in and a server in trouble give, and the
		// classes errorText falls back on, show before strings.js loads.
		if loginPageCodes[c] && !entry.Match(core) {
			missing = append(missing, c+" (web/static/i18n.js itself: the login page can meet it)")
		}
		if !strings.Contains(string(doc), "| `"+c+"` |") {
			missing = append(missing, c+" (docs/ERRORS.md)")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("code %s: missing", m)
	}
}
