package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/pipeline"
	"siteinspect/server"
	"siteinspect/storage/objects"
)

// withReports rebuilds e's server with the real report maker and objects
// (the default test server has no reports), keeping its records and logins.
func (e *env) withReports(objects objects.ObjectStore) {
	e.t.Helper()
	if objects == nil {
		objects = e.objects
	}
	reports := &pipeline.Reports{DB: e.db, Objects: objects, WorkDir: e.t.TempDir(), Location: time.UTC,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv, err := server.New(server.Config{DB: e.db, Objects: objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", Location: time.UTC,
		Reports: reports, PublicURL: "https://permits.example.gov/"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
}

// person adds a user with a display name and logs them in.
func (e *env) person(username, role, display, org string) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.db.CreateUser(ctx, username, "password-"+username, domain.Role(role), display, org)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.db.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	e.users[username], e.tokens[username] = u, tok
}

// personal is what a verification answer must never show.
var personal = []string{"周明远", "海滨酒店管理有限公司", "滨海新区港湾路88号", "港湾大酒店", "李检查", "王复核", "zhouapp", "lijian", "wangfu"}

// people adds an applicant and two officers with names and a company.
func (e *env) people() {
	e.t.Helper()
	e.person("zhouapp", "applicant", "周明远", "海滨酒店管理有限公司")
	e.person("lijian", "inspector", "李检查", "binhai")
	e.person("wangfu", "reviewer", "王复核", "binhai")
}

// decidedCase is an approved, countersigned hotel case of people with
// names, company and address, and one ready video.
func (e *env) decidedCase() (domain.Case, string) {
	e.t.Helper()
	e.people()
	var cs domain.Case
	e.json("zhouapp", "POST", "/api/v1/cases", map[string]string{"permit_type": "hotel", "site_name": "港湾大酒店", "site_address": "滨海新区港湾路88号"}, http.StatusCreated, &cs)
	ev := e.upload("zhouapp", cs.ID, "walk.mp4", video(4000))
	dur := int64(10_000)
	if err := e.db.SetEvidenceResult(context.Background(), ev, domain.EvidenceReady, "", &domain.Media{DurationMS: &dur}, &domain.Derived{}); err != nil {
		e.t.Fatal(err)
	}
	path := "/api/v1/cases/" + cs.ID
	e.json("zhouapp", "POST", path+"/submit", nil, http.StatusOK, nil)
	e.json("lijian", "POST", path+"/assign", nil, http.StatusOK, nil)
	e.json("wangfu", "POST", path+"/assign", nil, http.StatusOK, nil)
	for _, item := range []string{"cctv-entrances", "fire-exits", "guest-registration", "valuables-storage"} {
		e.json("lijian", "POST", path+"/findings", map[string]any{"checklist_item": item, "result": "pass"}, http.StatusCreated, nil)
	}
	e.json("lijian", "POST", path+"/decision", map[string]any{"outcome": "approve", "summary": "符合条件"}, http.StatusOK, nil)
	e.json("wangfu", "POST", path+"/countersign", map[string]any{"agree": true, "comment": "同意"}, http.StatusOK, &cs)
	if cs.Status != domain.StatusApproved {
		e.t.Fatalf("decided case: got %q, want approved", cs.Status)
	}
	return cs, ev
}

// issuedEvents returns the case's report.issued events.
func (e *env) issuedEvents(caseID string) []map[string]any {
	e.t.Helper()
	events, err := e.db.CaseAudit(context.Background(), caseID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range events {
		if ev.Action == "report.issued" {
			var d map[string]any
			json.Unmarshal(ev.Data, &d)
			out = append(out, d)
		}
	}
	return out
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type verifyJSON struct {
	Genuine    bool   `json:"genuine"`
	CaseNumber string `json:"case_number"`
	PermitType struct {
		Code   string `json:"code"`
		NameZH string `json:"name_zh"`
	} `json:"permit_type"`
	Decision *struct {
		Outcome         string     `json:"outcome"`
		DecidedAt       time.Time  `json:"decided_at"`
		CountersignedAt *time.Time `json:"countersigned_at"`
		Final           bool       `json:"final"`
	} `json:"decision"`
	Report struct {
		Format string `json:"format"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"report"`
}

// TestVerifyReport: each report served is issued with its own code and
// its SHA-256 in the audit chain; /verify/{code} answers, without a login,
// with the case number, permit type, decision and the report's SHA-256,
// and nothing personal; forged codes are 404.
func TestVerifyReport(t *testing.T) {
	e := newEnv(t)
	e.withReports(nil)
	cs, _ := e.decidedCase()
	path := "/api/v1/cases/" + cs.ID

	pdf := e.req("zhouapp", "GET", path+"/report.pdf", nil, nil)
	if pdf.Code != http.StatusOK || !strings.HasPrefix(pdf.Body.String(), "%PDF-") {
		t.Fatalf("report.pdf: got %d %.40q, want 200 and a PDF", pdf.Code, pdf.Body.String())
	}
	js := e.req("zhouapp", "GET", path+"/report.json", nil, nil)
	if js.Code != http.StatusOK {
		t.Fatalf("report.json: got %d %s, want 200", js.Code, js.Body)
	}
	var rep struct {
		VerifyURL string `json:"verify_url"`
	}
	if err := json.Unmarshal(js.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	const prefix = "https://permits.example.gov/verify/"
	if !strings.HasPrefix(rep.VerifyURL, prefix) {
		t.Fatalf("report's verify_url: got %q, want it under %s", rep.VerifyURL, prefix)
	}
	jsonCode := strings.TrimPrefix(rep.VerifyURL, prefix)

	issued := e.issuedEvents(cs.ID)
	if len(issued) != 2 {
		t.Fatalf("report.issued events: got %d %v, want 2", len(issued), issued)
	}
	pdfSHA, jsonSHA := hexSHA(pdf.Body.Bytes()), hexSHA(js.Body.Bytes())
	if issued[0]["format"] != "pdf" || issued[0]["sha256"] != pdfSHA || issued[1]["format"] != "json" || issued[1]["sha256"] != jsonSHA || issued[1]["code"] != jsonCode {
		t.Fatalf("report.issued events: got %v, want the PDF's %s then the JSON's %s with code %s", issued, pdfSHA, jsonSHA, jsonCode)
	}
	pdfCode := issued[0]["code"].(string)
	if pdfCode == jsonCode || len(pdfCode) != 53 {
		t.Fatalf("codes: got %q and %q, want two different 53-character codes", pdfCode, jsonCode)
	}

	for _, tc := range []struct {
		code, sha string
		size      int
	}{{pdfCode, pdfSHA, pdf.Body.Len()}, {jsonCode, jsonSHA, js.Body.Len()}} {
		w := e.req("", "GET", "/verify/"+tc.code, nil, map[string]string{"Accept": "application/json"})
		if w.Code != http.StatusOK {
			t.Fatalf("verify %s: got %d %s, want 200", tc.code, w.Code, w.Body)
		}
		var v verifyJSON
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if !v.Genuine || v.CaseNumber != cs.Number || v.PermitType.Code != "hotel" || v.PermitType.NameZH == "" || v.Report.SHA256 != tc.sha || v.Report.Size != int64(tc.size) {
			t.Errorf("verify JSON: got %+v, want genuine case %s, hotel, sha256 %s, %d bytes", v, cs.Number, tc.sha, tc.size)
		}
		if v.Decision == nil || v.Decision.Outcome != "approve" || !v.Decision.Final || v.Decision.CountersignedAt == nil || v.Decision.DecidedAt.IsZero() {
			t.Errorf("verify decision: got %+v, want a final approval with its dates", v.Decision)
		}
		html := e.req("", "GET", "/verify/"+tc.code, nil, map[string]string{"Accept": "text/html"})
		body := html.Body.String()
		if html.Code != http.StatusOK || !strings.HasPrefix(html.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, cs.Number) || !strings.Contains(body, tc.sha) || !strings.Contains(body, "报告核验") || !strings.Contains(body, "Report verification") {
			t.Errorf("verify HTML: got %d %s %q, want 200 HTML in zh and en with the number and SHA-256", html.Code, html.Header().Get("Content-Type"), body)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "style=") || !strings.Contains(html.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("verify HTML: inline script or style, or no CSP (%q)", html.Header().Get("Content-Security-Policy"))
		}
		for _, b := range []string{w.Body.String(), body} {
			for _, p := range personal {
				if strings.Contains(b, p) {
					t.Errorf("verify answer shows %q: %s", p, b)
				}
			}
		}
	}

	// Forged codes: a fresh random tail, another case's id, malformed ones.
	other := e.newCase("appA")
	caseID, tail, _ := strings.Cut(pdfCode, "-")
	for _, code := range []string{caseID + "-" + domain.NewID(), other.ID + "-" + tail, tail + "-" + caseID, caseID, pdfCode + "a", strings.ToUpper(pdfCode)} {
		w := e.req("", "GET", "/verify/"+code, nil, map[string]string{"Accept": "application/json"})
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"not found"`) {
			t.Errorf("forged code %q: got %d %s, want 404 not found", code, w.Code, w.Body)
		}
		h := e.req("", "GET", "/verify/"+code, nil, nil)
		if h.Code != http.StatusNotFound || !strings.Contains(h.Body.String(), "Not found") || strings.Contains(h.Body.String(), cs.Number) {
			t.Errorf("forged code %q as HTML: got %d %s, want the 404 page", code, h.Code, h.Body)
		}
	}
}

// TestVerifyRateLimit: one address gets its burst, then 429 with
// Retry-After; another address is not held back.
func TestVerifyRateLimit(t *testing.T) {
	e := newEnv(t)
	get := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/verify/"+domain.NewID()+"-"+domain.NewID(), nil)
		r.RemoteAddr = addr + ":40000"
		r.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w
	}
	limited := 0
	for i := range 40 {
		w := get("203.0.113.7")
		switch w.Code {
		case http.StatusNotFound:
			if limited > 0 {
				t.Fatalf("request %d: got 404 after being limited, want 429 (1 token a second)", i)
			}
		case http.StatusTooManyRequests:
			limited++
			if w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "rate_limited") {
				t.Fatalf("429: got Retry-After %q body %s, want both", w.Header().Get("Retry-After"), w.Body)
			}
		default:
			t.Fatalf("request %d: got %d %s", i, w.Code, w.Body)
		}
	}
	if limited < 15 || limited > 20 {
		t.Fatalf("limited: got %d of 40, want about 20 (a burst of 20)", limited)
	}
	if w := get("203.0.113.8"); w.Code != http.StatusNotFound {
		t.Fatalf("another address: got %d, want 404 (not limited)", w.Code)
	}
}

// TestVerifyPublicURLChecked: a PublicURL that could not make a working
// verification link is refused at start.
func TestVerifyPublicURLChecked(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []string{"permits.example.gov", "ftp://permits.example.gov", "https://", "https://x.gov/?a=1", "https://x.gov/#f"} {
		_, err := server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", PublicURL: bad})
		if err == nil || !strings.Contains(err.Error(), "PublicURL") {
			t.Errorf("PublicURL %q: got %v, want it refused", bad, err)
		}
	}
	if _, err := server.New(server.Config{DB: e.db, Objects: e.objects, Uploads: e.ups, Office: "binhai", NumberPrefix: "BH", PublicURL: "https://permits.example.gov/office"}); err != nil {
		t.Errorf("a good PublicURL: got %v, want it accepted", err)
	}
}
